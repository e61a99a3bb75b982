"""The kernel-timer waker of the load generator: every waiter wakes, never before its deadline, on
asyncio's loop and on uvloop; a cancelled waiter leaves the others alone. (Two waiters due within
one scheduling stall of each other may wake in either order: no order is asserted.)"""

from __future__ import annotations

import asyncio
import random
import sys
from time import perf_counter_ns

import pytest

from servemark.loadgen.client import loop_factory
from servemark.loadgen.timer import Waker


async def _wake_all(n: int) -> tuple[list[tuple[int, int]], bool]:
    w = Waker()
    rng = random.Random(7)
    t0 = perf_counter_ns() + 200_000_000
    deadlines = [t0 + rng.randrange(0, 40_000_000) for _ in range(n)]
    woke: list[tuple[int, int]] = []

    async def one(d: int) -> None:
        waits = d > perf_counter_ns()  # a stalled machine may start a task after its deadline
        await w.until(d)
        if waits:
            woke.append((d, perf_counter_ns()))

    victim = asyncio.ensure_future(w.until(t0 + 10_000_000))  # cancelled while waiting
    tasks = [asyncio.ensure_future(one(d)) for d in deadlines]
    await asyncio.sleep(0.02)
    victim.cancel()
    await asyncio.gather(*tasks)
    await w.until(perf_counter_ns() - 1)  # a deadline in the past returns at once
    precise = w.precise
    w.close()
    return woke, precise


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_waiters_wake_after_their_deadline(loop: str) -> None:
    factory = loop_factory() if loop == "uvloop" else asyncio.new_event_loop
    if factory is None:
        pytest.skip("uvloop is not installed")
    with asyncio.Runner(loop_factory=factory) as r:
        woke, precise = r.run(_wake_all(200))  # every task ends (gather), so every waiter woke
    assert 0 < len(woke) <= 200
    assert all(t >= d for d, t in woke), "no waiter wakes before its deadline"
    assert precise == sys.platform.startswith("linux")
