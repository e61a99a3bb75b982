"""The client watching itself: event-loop lag and CPU, so a saturated client is flagged.

Event-loop lag is how late a wake-up ``interval`` ahead comes (on the loop's kernel timer, so
the loop timers' 1 ms grain is not counted): when the loop is busy parsing or scheduling, or the
machine's other processes hold the CPU, every timestamp it takes is late by about that much. CPU
is this process's user+system time over the measured phase, in percent of one core (one event
loop cannot use more).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import numpy as np

LAG_P99_SATURATED_MS = 50.0
"""Event-loop lag p99 above which timestamps are late enough to distort ITL: flag the point."""
CPU_SATURATED_PCT = 90.0
"""Client CPU (percent of one core) above which the loop has no headroom left."""
SCHEDULE_LAG_P99_SATURATED_MS = 50.0
"""Open loop: p99 of (fired - scheduled) above which the client could not keep its schedule."""
MIN_WALL_S = 1.0
"""Phases shorter than this are not judged for saturation (too few samples)."""


class LoopMonitor:
    def __init__(self, interval_s: float = 0.01, waker: Any = None) -> None:
        """``waker``: a :class:`servemark.loadgen.timer.Waker`; with it the probe wakes on the
        kernel timer, so the lag is what the machine imposed and not the loop timers' 1 ms grain."""
        self.interval_s = interval_s
        self.waker = waker
        self.lags_ms: list[float] = []
        self._task: asyncio.Task | None = None
        self._cpu0 = 0.0
        self._wall0 = 0.0
        self.cpu_pct = 0.0
        self.wall_s = 0.0

    async def _probe(self) -> None:
        iv = self.interval_s
        iv_ns = int(iv * 1e9)
        while True:
            if self.waker is not None:
                due = time.perf_counter_ns() + iv_ns
                await self.waker.until(due)
                self.lags_ms.append(max(0, time.perf_counter_ns() - due) / 1e6)
                continue
            t = time.perf_counter()
            await asyncio.sleep(iv)
            self.lags_ms.append(max(0.0, (time.perf_counter() - t - iv) * 1e3))

    def start(self) -> None:
        t = os.times()
        self._cpu0 = t.user + t.system
        self._wall0 = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        t = os.times()
        self.wall_s = time.perf_counter() - self._wall0
        self.cpu_pct = 100.0 * (t.user + t.system - self._cpu0) / self.wall_s if self.wall_s > 0 else 0.0
        return self.stats()

    def stats(self) -> dict[str, Any]:
        lags = np.asarray(self.lags_ms) if self.lags_ms else np.zeros(1)
        return {
            "loop_lag_p50_ms": float(np.percentile(lags, 50)),
            "loop_lag_p99_ms": float(np.percentile(lags, 99)),
            "loop_lag_max_ms": float(lags.max()),
            "loop_lag_samples": len(self.lags_ms),
            "cpu_pct": self.cpu_pct,
            "wall_s": self.wall_s,
        }


def merge_client_stats(per_worker: list[dict[str, Any]], dispatch_lags_s: list[float], mode: str) -> dict[str, Any]:
    """One client verdict from all workers: the worst worker decides ``saturated``.

    ``dispatch_lags_s`` (open loop) are (time the scheduler fired - scheduled time): how late
    the client itself was, not counting waits for a concurrency slot.
    """
    out: dict[str, Any] = {"workers": len(per_worker)}
    if per_worker:
        out["loop_lag_p50_ms"] = max(w["loop_lag_p50_ms"] for w in per_worker)
        out["loop_lag_p99_ms"] = max(w["loop_lag_p99_ms"] for w in per_worker)
        out["loop_lag_max_ms"] = max(w["loop_lag_max_ms"] for w in per_worker)
        out["cpu_pct_max"] = max(w["cpu_pct"] for w in per_worker)
        out["cpu_pct_total"] = sum(w["cpu_pct"] for w in per_worker)
    lags_ms = np.asarray(dispatch_lags_s) * 1e3 if dispatch_lags_s else None
    if lags_ms is not None:
        out["schedule_lag_p50_ms"] = float(np.percentile(lags_ms, 50))
        out["schedule_lag_p99_ms"] = float(np.percentile(lags_ms, 99))
        out["schedule_lag_max_ms"] = float(lags_ms.max())
        out["late_requests"] = int((lags_ms > 1.0).sum())
        out["late_threshold_ms"] = 1.0
    reasons = []
    # too short a phase says nothing: CPU time has a 10 ms tick, the lag probe needs samples
    enough = bool(per_worker) and min(w["wall_s"] for w in per_worker) >= MIN_WALL_S and \
        min(w["loop_lag_samples"] for w in per_worker) >= 20
    out["judged"] = enough
    if enough and out.get("loop_lag_p99_ms", 0.0) > LAG_P99_SATURATED_MS:
        why = ("the client was busy" if out.get("cpu_pct_max", 0.0) > CPU_SATURATED_PCT / 2 else
               f"the host's CPU is contended: the client itself used only {out.get('cpu_pct_max', 0.0):.0f}% of a core")
        reasons.append(f"event-loop lag p99 {out['loop_lag_p99_ms']:.1f} ms > {LAG_P99_SATURATED_MS:g} ms ({why})")
    if enough and out.get("cpu_pct_max", 0.0) > CPU_SATURATED_PCT:
        reasons.append(f"client CPU {out['cpu_pct_max']:.0f}% > {CPU_SATURATED_PCT:g}% of a core")
    if mode == "open" and out.get("schedule_lag_p99_ms", 0.0) > SCHEDULE_LAG_P99_SATURATED_MS:
        reasons.append(f"schedule lag p99 {out['schedule_lag_p99_ms']:.1f} ms > {SCHEDULE_LAG_P99_SATURATED_MS:g} ms")
    out["saturated"] = bool(reasons)
    out["saturation_reasons"] = reasons
    return out
