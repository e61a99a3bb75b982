"""Waking at a scheduled nanosecond: one kernel timer per event loop instead of loop timers.

Why: an event loop's timers are millisecond-grained (libuv rounds to 1 ms; asyncio's epoll wait
rounds up to 1 ms), so a plain ``sleep`` wakes up to ~1 ms late. Sleeping short and then spinning
on ``sleep(0)`` through the last 2 ms fixes the rounding but keeps a core busy for 2 ms before
every send (40 % of a core at 200 requests/s), on a machine the server under test may share. A
Linux ``timerfd`` armed at an absolute time (``CLOCK_MONOTONIC``, the clock of
``perf_counter_ns``; 1 us timer slack) makes the kernel wake the loop when it is due. It is set
``EARLY_NS`` (0.3 ms) before the deadline and the loop yields for the rest, so the wake-up's own
latency (~0.1 ms on a busy machine) is not in the send time. Where there is no timerfd (not
Linux), waiting falls back to sleep-then-spin.
"""

from __future__ import annotations

import asyncio
import ctypes
import heapq
import itertools
import os
import sys
from time import perf_counter_ns

SPIN_NS = 2_000_000
"""Fallback (no timerfd): sleep until this close to the deadline, then yield in a loop until it passes."""
EARLY_NS = 300_000
"""The kernel timer fires this long before the deadline and the loop yields until it passes: a
wake-up from sleep takes ~0.1 ms on a busy machine, and 0.3 ms of yielding costs little CPU."""

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                         ctypes.POINTER(_Itimerspec)]
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        return libc
    except (OSError, AttributeError):
        return None


async def spin_until(deadline_ns: int) -> None:
    """The fallback: loop timer to ``SPIN_NS`` before the deadline, then ``sleep(0)`` until it passes."""
    left = deadline_ns - perf_counter_ns()
    if left > SPIN_NS:
        await asyncio.sleep((left - SPIN_NS) / 1e9)
    while perf_counter_ns() < deadline_ns:
        await asyncio.sleep(0)


class Waker:
    """``await waker.until(deadline_ns)`` for any number of coroutines of one event loop.

    Waiters sit in a heap; the timerfd is armed at the earliest deadline and, when it fires, every
    due waiter is woken and the timer re-armed at the next. Must be closed (it holds a fd)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._heap: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._armed = 0
        self._fd = -1
        self._slack = -1
        libc = _libc()
        if libc is not None:
            fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._libc, self._fd = libc, fd
                self._loop.add_reader(fd, self._fire)
                # the kernel may defer a timer by the thread's slack (50 us by default): 1 us here
                self._slack = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
                libc.prctl(_PR_SET_TIMERSLACK, 1000, 0, 0, 0)

    @property
    def precise(self) -> bool:
        """True when a kernel timer wakes the loop (Linux); False: the sleep-then-spin fallback."""
        return self._fd >= 0

    async def until(self, deadline_ns: int) -> None:
        """Return at ``deadline_ns`` (``perf_counter_ns`` clock), at once when it has passed."""
        if deadline_ns <= perf_counter_ns():
            return
        if self._fd < 0:
            await spin_until(deadline_ns)
            return
        wake = deadline_ns - EARLY_NS
        if wake > perf_counter_ns():
            fut = self._loop.create_future()
            heapq.heappush(self._heap, (wake, next(self._seq), fut))
            if self._heap[0][2] is fut:
                self._arm(wake)
            try:
                await fut
            except asyncio.CancelledError:
                fut.cancel()  # _fire drops it when it comes due
                raise
        while perf_counter_ns() < deadline_ns:
            await asyncio.sleep(0)

    def _arm(self, deadline_ns: int) -> None:
        if deadline_ns == self._armed:
            return
        spec = _Itimerspec()
        spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(deadline_ns, 1_000_000_000)
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")
        self._armed = deadline_ns

    def _fire(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass  # woken by a re-arm race: the heap decides what is due
        self._armed = 0
        now = perf_counter_ns()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, fut = heapq.heappop(heap)
            if not fut.done():
                fut.set_result(None)
        if heap:
            self._arm(heap[0][0])

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            if self._slack > 0:
                self._libc.prctl(_PR_SET_TIMERSLACK, self._slack, 0, 0, 0)
        for _, _, fut in self._heap:
            if not fut.done():
                fut.cancel()
        self._heap.clear()
