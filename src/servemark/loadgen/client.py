"""One event loop's share of a load point: a pooled HTTP client that runs phases.

Everything on the timing path lives here: the per-request coroutine does nothing between reads
(the transport stamps them), finished responses wait unparsed until the phase is over, and the
garbage collector is kept from pausing the loop mid-phase.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
from collections import deque
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any, Callable, Iterator

import aiohttp

from servemark.loadgen import request as rq
from servemark.loadgen.http import HttpPool
from servemark.loadgen.monitor import LoopMonitor
from servemark.loadgen.phases import Phase
from servemark.loadgen.spec import LoadSpec
from servemark.records import RequestRecord
from servemark.redact import scrub

READ_BUFSIZE = 1 << 18
"""256 KiB per-response read buffer: long contexts must not throttle the client (vllm#39963)."""


class Counter:
    """Next request number: a plain int in one process, a shared Value across workers."""

    def __init__(self, shared: Any | None = None) -> None:
        self._shared = shared
        self._n = 0

    def reset(self) -> None:
        if self._shared is not None:
            with self._shared.get_lock():
                self._shared.value = 0
        self._n = 0

    def take(self) -> int:
        if self._shared is None:
            n = self._n
            self._n += 1
            return n
        with self._shared.get_lock():
            n = self._shared.value
            self._shared.value = n + 1
            return n


def raise_nofile() -> None:
    """Thousands of streams need thousands of sockets: lift the soft fd limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


DEFERRED_PARSE_BUDGET_BYTES = int(os.environ.get("SERVEMARK_PARSE_BUDGET_MB", "256")) << 20
"""Raw response bytes kept unparsed during a phase. Parsing a finished stream takes the event
loop for a while (~2 us per chunk); when many streams end together (closed-loop users move in
lockstep) that would delay the timestamps of every other stream. So parsing waits for the end of
the phase, unless this much raw data piles up; then the oldest responses are parsed at once."""

GC_MODE = os.environ.get("SERVEMARK_GC", "freeze")


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Keep the cyclic garbage collector from pausing the loop mid-phase.

    Everything alive at the start is frozen out of the collector's reach (``gc.freeze``), so a
    collection during the phase scans only what the phase made, and the young-generation
    threshold is raised so collections are rare. ``SERVEMARK_GC=off`` disables collection for the
    phase, ``default`` leaves it alone (for measuring the difference)."""
    if GC_MODE == "default":
        yield
        return
    old = gc.get_threshold()
    enabled = gc.isenabled()
    gc.freeze()  # O(1); the caller collected while nothing was being timed
    if GC_MODE == "off":
        gc.disable()
    else:
        gc.set_threshold(50_000, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if enabled:
            gc.enable()
        gc.unfreeze()


class LoopClient:
    """Everything one event loop needs: the spec, prepared bodies, a session."""

    def __init__(self, spec: LoadSpec, counter: Counter) -> None:
        self.spec = spec
        self.counter = counter
        self.url = rq.endpoint(spec)
        self.headers = rq.build_headers(spec)
        self.chat = spec.api == "chat"
        # bodies are encoded once per prompt: the hot path sends bytes
        self.bodies = [rq.encode_body(rq.build_body(spec, p)) for p in spec.prompts]
        self.raw = spec.transport == "auto" and spec.base_url.startswith("http://")
        self.prefixes = [rq.raw_request_prefix(spec, b) for b in self.bodies] if self.raw else []
        self.session: aiohttp.ClientSession | None = None
        self.pool: HttpPool | None = None
        self.deferred: deque[rq.Deferred] = deque()
        self.deferred_bytes = 0

    async def open(self) -> None:
        if self.raw:
            self.pool = HttpPool(self.spec.base_url)
            return
        conn = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, force_close=False)
        self.session = aiohttp.ClientSession(connector=conn, read_bufsize=READ_BUFSIZE,
                                             timeout=aiohttp.ClientTimeout(total=None),
                                             skip_auto_headers=("User-Agent",))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.pool is not None:
            self.pool.close()

    def _record(self, rid: int, warmup: bool) -> RequestRecord:
        p = self.spec.prompts[rid % len(self.spec.prompts)]
        return RequestRecord(point_id=self.spec.point_id, request_id=rid, scheduled_at=0.0,
                             client_prompt_tokens=p.client_tokens or None, warmup=warmup,
                             max_tokens=_max_tokens(self.spec.extra_body.get("max_tokens", p.max_tokens)))

    async def _one(self, rec: RequestRecord) -> None:
        i = rec.request_id % len(self.bodies)
        body = self.bodies[i]
        if self.pool is not None:
            d = await rq.send_raw(self.pool, self.prefixes[i], body, rec, self.chat, self.spec.timeout_s)
        else:
            assert self.session is not None
            d = await rq.send(self.session, self.url, self.headers, body, rec, self.chat, self.spec.timeout_s)
        if d is not None:
            self.deferred.append(d)
            self.deferred_bytes += d.nbytes
            if self.deferred_bytes > DEFERRED_PARSE_BUDGET_BYTES:
                self._parse_deferred(DEFERRED_PARSE_BUDGET_BYTES // 2)

    def _parse_deferred(self, keep_bytes: int = 0) -> None:
        """Parse finished responses, oldest first, until at most ``keep_bytes`` stay raw."""
        while self.deferred and self.deferred_bytes > keep_bytes:
            d = self.deferred.popleft()
            self.deferred_bytes -= d.nbytes
            d.finish()

    async def run_phase(self, ph: Phase, on_done: Callable[[], None]) -> tuple[list[RequestRecord], list[float], dict]:
        records: list[RequestRecord] = []
        dispatch_lags: list[float] = []
        mon = LoopMonitor(self.spec.monitor_interval_s)
        mon.start()
        stop_ns = ph.t0_ns + int(ph.stop_after_s * 1e9) if ph.stop_after_s else None
        now = perf_counter_ns()
        if ph.t0_ns > now:
            await asyncio.sleep((ph.t0_ns - now) / 1e9)
        with quiet_gc():
            if ph.mode == "closed":
                await self._closed(ph, records, stop_ns, on_done)
            else:
                await self._open(ph, records, dispatch_lags, stop_ns, on_done)
        stats = await mon.stop()
        self._parse_deferred()  # timing is over: now the SSE bytes may cost what they cost
        for rec in records:  # a server may echo the key it was sent: never store it
            if rec.error_detail:
                rec.error_detail = scrub(rec.error_detail, [self.spec.api_key])
        return records, dispatch_lags, stats

    async def _closed(self, ph: Phase, records: list, stop_ns: int | None, on_done) -> None:
        async def user(k: int) -> None:
            if ph.ramp_up_s > 0 and ph.total_users > 1:
                delay = ph.ramp_up_s * (ph.user_offset + k) / ph.total_users
                await asyncio.sleep(max(0.0, (ph.t0_ns + delay * 1e9 - perf_counter_ns()) / 1e9))
            while True:
                n = self.counter.take()
                if ph.count and n >= ph.count:
                    return
                t = perf_counter_ns()
                if stop_ns is not None and t >= stop_ns:
                    return
                rec = self._record(ph.first_id + n, ph.warmup)
                rec.scheduled_at = t / 1e9
                records.append(rec)
                await self._one(rec)
                on_done()

        await asyncio.gather(*(user(k) for k in range(ph.concurrency)))

    async def _open(self, ph: Phase, records: list, lags: list, stop_ns: int | None, on_done) -> None:
        sem = asyncio.Semaphore(ph.concurrency) if ph.concurrency > 0 else None
        tasks: set[asyncio.Task] = set()

        async def fire(rec: RequestRecord) -> None:
            if sem is None:
                await self._one(rec)
            else:
                async with sem:
                    await self._one(rec)
            on_done()

        loop = asyncio.get_running_loop()
        for rid, off in ph.offsets:
            deadline = ph.t0_ns + int(off * 1e9)
            if stop_ns is not None and deadline >= stop_ns:
                break
            now = perf_counter_ns()
            if deadline > now:
                await asyncio.sleep((deadline - now) / 1e9)
            fired = perf_counter_ns()
            lags.append(max(0, fired - deadline) / 1e9)
            rec = self._record(rid, ph.warmup)
            rec.scheduled_at = deadline / 1e9
            records.append(rec)
            t = loop.create_task(fire(rec))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: its C event loop halves the client's cost per network read."""
    try:
        import uvloop  # type: ignore

        return uvloop.new_event_loop
    except ImportError:
        return None


def _max_tokens(value: object) -> int | None:
    """The request's ``max_tokens`` when it is a plain integer (an ``extra_body`` may override it)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
