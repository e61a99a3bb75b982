"""One event loop's share of a load point: a pooled HTTP client that runs phases.

Everything on the timing path lives here: the per-request coroutine does nothing between reads
(the transport stamps them), finished responses wait unparsed until the phase is over, and the
garbage collector is kept from pausing the loop mid-phase.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import resource
from collections import deque
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any, Callable, Iterator

import aiohttp

from servemark.loadgen import request as rq
from servemark.loadgen.http import Conn, HttpPool
from servemark.loadgen.monitor import LoopMonitor
from servemark.loadgen.phases import Phase
from servemark.loadgen.spec import LoadSpec
from servemark.loadgen.timer import Waker
from servemark.workload import Prompt
from servemark.records import RequestRecord
from servemark.redact import scrub
from servemark.workload.session import Session

LEAD_NS = 5_000_000
"""Open loop: a request's task is made this long before it is due, so its record and HTTP bytes
are built and its connection is taken (or opened) ahead; when the kernel timer fires, sending it
is one write."""


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
def quiet_gc(keep_frozen: bool = False) -> Iterator[None]:
    """Keep the cyclic garbage collector from pausing the loop mid-phase.

    Everything alive at the start is frozen out of the collector's reach (``gc.freeze``), so a
    collection during the phase scans only what the phase made, and the young-generation
    threshold is raised so collections are rare. ``SERVEMARK_GC=off`` disables collection for the
    phase, ``default`` leaves it alone (for measuring the difference). ``keep_frozen``: the caller
    froze objects of its own (a forked worker, its inherited heap) that must stay frozen, and so
    stays what the phase left. (Asking ``gc.get_freeze_count()`` instead walks every frozen
    object: 6 ms at the phase's start.)"""
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
        if not keep_frozen:
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
        self.first_id = 0
        self.waker: Waker | None = None
        self.keep_frozen = False
        """Set by a forked worker that froze its inherited heap (see :func:`quiet_gc`)."""

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

    def _prepare(self, rec: RequestRecord, body: bytes, prefix: bytes | None) -> bytes:
        """What is sent for ``rec``: the whole HTTP request (own client) or the body (aiohttp)."""
        return rq.raw_payload(prefix, body, rec) if prefix is not None else body

    async def _send(self, rec: RequestRecord, data: bytes, conn: Conn | None = None) -> rq.Deferred | None:
        """Send ``data`` from :meth:`_prepare` (on ``conn`` when one was acquired ahead)."""
        if self.pool is not None:
            return await rq.send_raw(self.pool, data, rec, self.chat, self.spec.timeout_s, conn)
        assert self.session is not None
        return await rq.send(self.session, self.url, self.headers, data, rec, self.chat, self.spec.timeout_s)

    def _data(self, rec: RequestRecord) -> bytes:
        i = rec.request_id % len(self.bodies)
        return self._prepare(rec, self.bodies[i], self.prefixes[i] if self.raw else None)

    async def _one(self, rec: RequestRecord, data: bytes | None = None, conn: Conn | None = None) -> None:
        d = await self._send(rec, self._data(rec) if data is None else data, conn)
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
        self.waker = Waker()
        mon = LoopMonitor(self.spec.monitor_interval_s, self.waker)
        mon.start()
        stop_ns = ph.t0_ns + int(ph.stop_after_s * 1e9) if ph.stop_after_s else None
        try:
            await self.waker.until(ph.t0_ns)
            with quiet_gc(self.keep_frozen):
                if ph.mode == "closed":
                    await self._closed(ph, records, stop_ns, on_done)
                elif ph.mode == "sessions":
                    await self._sessions(ph, records, dispatch_lags, on_done)
                else:
                    await self._open(ph, records, dispatch_lags, stop_ns, on_done)
            stats = await mon.stop()
        finally:
            self.waker.close()
            self.waker = None
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
        """Follow the schedule: each request's task starts ``LEAD_NS`` early, builds its bytes,
        takes a connection (without a concurrency cap), waits on the kernel timer and writes."""
        sem = asyncio.Semaphore(ph.concurrency) if ph.concurrency > 0 else None
        tasks: set[asyncio.Task] = set()
        waker = self.waker
        assert waker is not None
        pool = self.pool

        async def fire(rec: RequestRecord, deadline: int) -> None:
            data = self._data(rec)
            conn = await pool.acquire() if pool is not None and sem is None else None
            try:
                await waker.until(deadline)
            except asyncio.CancelledError:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                raise
            lags.append(max(0, perf_counter_ns() - deadline) / 1e9)
            if sem is None:
                await self._one(rec, data, conn)
            else:
                async with sem:  # waiting for a slot is waiting on the server: it stays in the latency
                    await self._one(rec, data)
            on_done()

        loop = asyncio.get_running_loop()
        for rid, off in ph.offsets:
            deadline = ph.t0_ns + int(off * 1e9)
            if stop_ns is not None and deadline >= stop_ns:
                break
            await waker.until(deadline - LEAD_NS)
            rec = self._record(rid, ph.warmup)
            rec.scheduled_at = deadline / 1e9
            records.append(rec)
            t = loop.create_task(fire(rec, deadline))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _turn(self, sid: int, k: int, history: list[tuple[str, str]], turn_user: str, max_tokens: int,
                    due_ns: int, timed: bool, warmup: bool, records: list, lags: list) -> str | None:
        """Send one turn (history + new user text) at ``due_ns``; its reply text, parsed at once
        (the next turn needs it), or None when it failed.

        The body (the whole history as JSON) is built first; a ``timed`` turn then waits for its
        due time on the kernel timer and records how late it woke in ``lags``."""
        spec = self.spec
        history.append(("user", turn_user))
        if self.chat:
            prompt = Prompt(messages=[{"role": r, "content": t} for r, t in history], max_tokens=max_tokens)
        else:
            prompt = Prompt(text="".join(t for _, t in history), max_tokens=max_tokens)
        body = rq.encode_body(rq.build_body(spec, prompt))
        rec = RequestRecord(point_id=spec.point_id, request_id=self.first_id + self.counter.take(), scheduled_at=due_ns / 1e9, warmup=warmup,
                            session_id=sid, turn=k)
        data = self._prepare(rec, body, rq.raw_request_prefix(spec, body) if self.raw else None)
        if timed:
            assert self.waker is not None
            await self.waker.until(due_ns)
            lags.append(max(0, perf_counter_ns() - due_ns) / 1e9)
        records.append(rec)
        d = await self._send(rec, data)
        text = d.finish(keep_text=True) if d is not None else None
        return text if rec.ok else None

    async def _session(self, sid: int, s: Session, start_ns: int, ph: Phase, records: list, lags: list,
                       ids: "itertools.count[int]", on_done, timed_start: bool = False) -> None:
        """Run one session's turns in order; sub-agents fan out after a turn and are awaited.

        A turn is due ``delay_s`` after the previous reply (and its sub-agents) came back; the
        first turn at ``start_ns`` (waited for here when ``timed_start``). Latency counts from the
        due time."""
        history: list[tuple[str, str]] = [("system", s.context)] if s.context else []
        due = start_ns
        for k, t in enumerate(s.turns):
            timed = timed_start if k == 0 else bool(t.delay_s)
            if k:
                due = perf_counter_ns() + int(t.delay_s * 1e9)
            user = "\n" + t.user if history and not self.chat else t.user
            reply = await self._turn(sid, k, history, user, t.max_tokens, due, timed, ph.warmup, records, lags)
            on_done()
            if reply is None:
                return  # the history is broken: the rest of the session cannot be sent as recorded
            history.append(("assistant", reply))
            if t.subagents:
                now = perf_counter_ns()
                await asyncio.gather(*(self._session(next(ids), sub, now, ph, records, lags, ids, on_done)
                                       for sub in t.subagents))

    async def _sessions(self, ph: Phase, records: list, lags: list, on_done) -> None:
        self.first_id = ph.first_id
        ids = itertools.count(1_000_000 * (ph.user_offset + 1))  # sub-agent session numbers, apart per worker
        timed = all(s.start_s is not None for _, s in ph.sessions)
        if timed:
            sem = asyncio.Semaphore(ph.concurrency) if ph.concurrency > 0 else None

            async def at(sid: int, s: Session) -> None:
                assert s.start_s is not None and self.waker is not None
                due = ph.t0_ns + int(s.start_s * 1e9)
                if sem is None:  # the first turn's body is built ahead and sent on the timer
                    await self._session(sid, s, due, ph, records, lags, ids, on_done, timed_start=True)
                    return
                await self.waker.until(due)  # no slot is held while waiting for the start time
                lags.append(max(0, perf_counter_ns() - due) / 1e9)
                async with sem:
                    await self._session(sid, s, due, ph, records, lags, ids, on_done)

            await asyncio.gather(*(at(sid, s) for sid, s in ph.sessions))
            return
        queue = deque(ph.sessions)

        async def user() -> None:
            while queue:
                sid, s = queue.popleft()
                await self._session(sid, s, perf_counter_ns(), ph, records, lags, ids, on_done)

        await asyncio.gather(*(user() for _ in range(max(1, ph.concurrency))))


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
