"""Run one load point: warmup phase, measured phase, records back.

``run_load`` runs both phases on one event loop in this process (closed loops), or on
``spec.workers`` worker processes (:mod:`servemark.loadgen.workers`; always for timed schedules,
see :func:`own_process`). Request failures never raise: they are records with
an ``error``.
"""

from __future__ import annotations

import asyncio
import gc
from time import perf_counter_ns
from typing import Any, Callable

from servemark.errors import ServemarkError
from servemark.loadgen.client import Counter, LoopClient, loop_factory, raise_nofile
from servemark.loadgen.monitor import merge_client_stats
from servemark.loadgen.phases import plan_phases, total_requests
from servemark.loadgen.spec import LoadResult, LoadSpec
from servemark.loadgen.workers import run_workers
from servemark.records import RequestRecord

Progress = Callable[[int, int], None]


async def _run_inprocess(spec: LoadSpec, progress: Progress | None) -> LoadResult:
    raise_nofile()
    counter = Counter()
    client = LoopClient(spec, counter)
    await client.open()
    phases = plan_phases(spec, 1)
    total = total_requests(spec, phases)
    done = 0

    def on_done() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    records: list[RequestRecord] = []
    client_stats: dict[str, Any] = {}
    try:
        for (ph,) in phases:
            counter.reset()
            gc.collect()  # now, before the clock starts, not in the middle of the phase
            ph.t0_ns = perf_counter_ns()
            recs, lags, stats = await client.run_phase(ph, on_done)
            records.extend(recs)
            if not ph.warmup:
                client_stats = merge_client_stats([stats], lags, ph.mode)
    finally:
        await client.close()
    return LoadResult(records=sorted(records, key=lambda r: r.request_id), client=client_stats, spec=spec.to_dict())


def own_process(spec: LoadSpec) -> bool:
    """Whether the load runs in worker processes: several workers, or a schedule to keep.

    An open-loop schedule or a trace has send times to keep to well under a millisecond, and a
    Python thread of the caller (a progress bar's refresh thread, a telemetry sampler) would hold
    the interpreter lock for up to its switch interval (5 ms) just when a request is due. A forked
    worker runs the event loop alone."""
    if spec.workers > 1 or spec.mode == "open":
        return True
    return spec.mode == "sessions" and bool(spec.sessions) and all(s.start_s is not None for s in spec.sessions)


def run_load(spec: LoadSpec, progress: Progress | None = None) -> LoadResult:
    """Run warmup then the measured phase against ``spec.base_url``; never raises on request
    failures (they are records with an ``error``), only on a bad spec or a dead worker."""
    spec.validate()
    if own_process(spec):
        return run_workers(spec, progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(_run_inprocess(spec, progress))
    raise ServemarkError("run_load is synchronous; from async code use `await run_load_async(spec)`")


async def run_load_async(spec: LoadSpec, progress: Progress | None = None) -> LoadResult:
    spec.validate()
    if own_process(spec):
        return await asyncio.get_running_loop().run_in_executor(None, run_workers, spec, progress)
    return await _run_inprocess(spec, progress)
