"""Worker processes: one event loop each, coordinated by the main process over pipes.

The main process forks the workers (spawn would re-import the caller's ``__main__``, which breaks
plain scripts; the parent has no running event loop here since ``run_load`` is synchronous), hands
each phase to all of them with a common start time ``t0`` on the system-wide monotonic clock
(``perf_counter`` is ``CLOCK_MONOTONIC`` on Linux: one clock for every process), forwards their
progress and merges their records.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import time
from multiprocessing.connection import Connection, wait
from time import perf_counter_ns
from typing import Any, Callable

from servemark.errors import ServemarkError
from servemark.loadgen.client import Counter, LoopClient, loop_factory, raise_nofile
from servemark.loadgen.monitor import merge_client_stats
from servemark.loadgen.phases import Phase, START_MARGIN_S, plan_phases, total_requests
from servemark.loadgen.spec import LoadResult, LoadSpec
from servemark.records import RequestRecord

Progress = Callable[[int, int], None]


def worker_main(conn: Connection, spec: LoadSpec, shared: Any) -> None:
    """Worker process: one event loop, one session, phases on command until told to exit."""
    raise_nofile()
    counter = Counter(shared)
    client = LoopClient(spec, counter)
    factory = loop_factory()
    loop = factory() if factory else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(client.open())
    # the caller's heap came frozen (run_workers) and stays so: it is never this process's garbage
    # (a test runner's heap of millions of objects took seconds to scan, and copied every page)
    gc.freeze()
    client.keep_frozen = True
    gc.collect()
    conn.send(("ready",))
    pending = 0
    last = time.perf_counter()

    def on_done() -> None:
        nonlocal pending, last
        pending += 1
        t = time.perf_counter()
        if t - last > 0.2:
            conn.send(("progress", pending))
            pending, last = 0, t

    try:
        while True:
            msg = conn.recv()
            if msg[0] == "exit":
                break
            ph: Phase = msg[1]
            recs, lags, stats = loop.run_until_complete(client.run_phase(ph, on_done))
            if pending:
                conn.send(("progress", pending))
                pending = 0
            # collect before "done": the main process sets the next phase's t0 (START_MARGIN_S
            # ahead) when it reads "done", and a collection still running then made the first
            # requests of the measured phase late
            gc.collect()
            conn.send(("done", recs, lags, stats))
    finally:
        loop.run_until_complete(client.close())
        loop.close()
        conn.close()


def run_workers(spec: LoadSpec, progress: Progress | None) -> LoadResult:
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks plain scripts; the
    # parent has no running event loop here (run_load is synchronous), so a forked child starts clean
    ctx = mp.get_context("fork")
    gc.freeze()  # why: _run_forked
    try:
        return _run_forked(ctx, spec, progress)
    finally:
        gc.unfreeze()


def _run_forked(ctx: Any, spec: LoadSpec, progress: Progress | None) -> LoadResult:
    """Fork the workers and run the phases, with the caller's heap frozen (``gc.freeze``) all along.

    Frozen before the fork, the heap is out of every collector's reach: the workers' collections
    never scan (nor copy-on-write) the pages they inherited, and this process's own collections
    during the load scan only what the load made; a full collection of a big heap (a test runner's
    at the end of a long suite) would take a core of a 2-core machine away from the worker and
    the server just while requests are due."""
    shared = ctx.Value("q", 0)
    procs, conns = [], []
    for _ in range(spec.workers):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(child, spec, shared), daemon=True)
        p.start()
        child.close()
        procs.append(p)
        conns.append(parent)
    phases = plan_phases(spec, spec.workers)
    total = total_requests(spec, phases)
    done = 0
    records: list[RequestRecord] = []
    client_stats: dict[str, Any] = {}
    try:
        for c, p in zip(conns, procs):
            if not c.poll(120):
                raise ServemarkError(f"load worker {p.pid} did not start within 120 s")
            try:
                first = c.recv()
            except EOFError:
                raise ServemarkError(f"load worker {p.pid} died at start (exit code {p.exitcode})") from None
            if first[0] != "ready":
                raise ServemarkError(f"load worker {p.pid} sent an unexpected first message")
        for ph_list in phases:
            with shared.get_lock():
                shared.value = 0
            t0 = perf_counter_ns() + int(START_MARGIN_S * 1e9)
            for c, ph in zip(conns, ph_list):
                ph.t0_ns = t0
                c.send(("phase", ph))
            waiting = set(range(len(conns)))
            stats_all, lags_all = [], []
            while waiting:
                ready = wait([conns[i] for i in waiting], timeout=1.0)
                for c in ready:
                    i = conns.index(c)
                    try:
                        msg = c.recv()
                    except EOFError:
                        raise ServemarkError(
                            f"load worker {procs[i].pid} died (exit code {procs[i].exitcode}); "
                            f"{len(records)} records of earlier phases kept") from None
                    if msg[0] == "progress":
                        done += msg[1]
                        if progress is not None:
                            progress(done, total)
                    elif msg[0] == "done":
                        records.extend(msg[1])
                        lags_all.extend(msg[2])
                        stats_all.append(msg[3])
                        waiting.discard(i)
            if not ph_list[0].warmup:
                client_stats = merge_client_stats(stats_all, lags_all, ph_list[0].mode)
    finally:
        for c in conns:
            try:
                c.send(("exit",))
            except (OSError, BrokenPipeError):
                pass
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return LoadResult(records=sorted(records, key=lambda r: r.request_id), client=client_stats, spec=spec.to_dict())
