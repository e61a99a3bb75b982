"""A minimal HTTP/1.1 client on an asyncio Protocol: the timing path is one callback.

Why not aiohttp here: with aiohttp every network read wakes a coroutine through a stream reader
(~10 us of Python per token event). A :class:`asyncio.Protocol` gets ``data_received`` straight
from the event loop's selector; it stamps ``perf_counter_ns()``, appends the bytes, does an O(1)
end-of-response check and returns. Nothing is parsed until the response is complete, and only
one future per request wakes a coroutine. This is what lets one event loop carry thousands of
streams with sub-millisecond timestamps.

Scope, on purpose: plain ``http://`` (TLS endpoints use the aiohttp path), requests with a body
and ``Content-Length``, responses framed by ``Transfer-Encoding: chunked``, ``Content-Length`` or
connection close. Keep-alive connections are pooled per event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from time import perf_counter_ns
from typing import Callable
from urllib.parse import urlsplit

Reads = list[tuple[int, bytes]]


class HttpError(Exception):
    """Transport-level failure with a kind: ``connect``, ``disconnect``, ``timeout``, ``bad_response``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class Conn(asyncio.Protocol):
    """One keep-alive connection: the protocol object the event loop calls on every read."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.fut: asyncio.Future | None = None
        self.reads: Reads = []
        self._head = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_start = 0  # offset of the body inside the first read that holds it
        self._mode = ""  # chunked | length | close
        self._left = 0
        self._tail = b""
        self.used = False  # has carried a request: the server may have closed it since (keep-alive)

    # -- asyncio callbacks (the hot path) -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        t = perf_counter_ns()
        self.reads.append((t, data))
        if not self._mode:
            self._head += data
            i = self._head.find(b"\r\n\r\n")
            if i < 0:
                return
            self._parse_head(self._head[:i])
            body = self._head[i + 4 :]
            self._head = b""
            self.reads = [(t, body)] if body else []
            data = body
            if self.fut is None or self.fut.done():
                return  # the head already completed the response (Content-Length: 0)
        if self._mode == "chunked":
            tail = data[-7:] if len(data) >= 7 else (self._tail + data)[-7:]
            self._tail = tail
            if tail.endswith(b"0\r\n\r\n") and (tail == b"\r\n0\r\n\r\n" or self._only_terminal()):
                self._complete()
        elif self._mode == "length":
            self._left -= len(data)
            if self._left <= 0:
                self._complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.fut is not None and not self.fut.done():
            if self._mode == "close":
                self.fut.set_result(True)
            else:
                self.fut.set_exception(HttpError("disconnect", f"connection closed mid-response ({exc or 'EOF'})"))

    # -- helpers ----------------------------------------------------------------------------
    def _only_terminal(self) -> bool:
        body = b"".join(d for _, d in self.reads)
        return body == b"0\r\n\r\n"

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        try:
            self.status = int(parts[1])
        except (IndexError, ValueError):
            self.status = 0
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._mode = "chunked"
        elif "content-length" in self.headers:
            self._mode = "length"
            self._left = int(self.headers["content-length"])
            if self._left == 0:
                self._complete()
        else:
            self._mode = "close"

    def _complete(self) -> None:
        # The chunked end marker is trusted here and the framing verified later, off the timing
        # path (decode_chunked): an SSE chunk ends with a blank line, so its bytes cannot end
        # in "\r\n0\r\n\r\n"; a server that breaks framing makes the request fail as bad_framing.
        if self.fut is not None and not self.fut.done():
            self.fut.set_result(True)

    def start(self, payload: bytes, fut: asyncio.Future) -> None:
        self.fut = fut
        self.reads = []
        self._head = b""
        self.status = 0
        self.headers = {}
        self._mode = ""
        self._tail = b""
        self.used = True
        assert self.transport is not None
        self.transport.write(payload)

    @property
    def reusable(self) -> bool:
        return (not self.closed and self._mode in ("chunked", "length")
                and self.headers.get("connection", "").lower() != "close")


def decode_chunked(reads: Reads) -> Reads:
    """Chunked framing -> payload pieces, each keeping the time of the read it arrived in.

    Works on one joined buffer by index (no re-slicing), so a response whose thousands of chunks
    arrived in a few reads decodes in linear time. Raises ValueError when the terminal chunk has
    not arrived or the framing is broken."""
    whole = b"".join(d for _, d in reads)
    ends = []  # cumulative end offset of each read
    n = 0
    for _, d in reads:
        n += len(d)
        ends.append(n)
    out: Reads = []
    pos, r = 0, 0
    size_of = int
    while True:
        i = whole.find(b"\r\n", pos)
        if i < 0:
            raise ValueError("incomplete chunked body")
        line = whole[pos:i]
        semi = line.find(b";")
        try:
            need = size_of(line if semi < 0 else line[:semi], 16)
        except ValueError:
            raise ValueError(f"bad chunk size {line[:20]!r}") from None
        if need == 0:
            return out
        a = i + 2
        b = a + need
        if b + 2 > len(whole):
            raise ValueError("incomplete chunked body")
        # attribute [a, b) to the reads it spans (usually one)
        while ends[r] <= a:
            r += 1
        while a < b:
            e = min(b, ends[r])
            out.append((reads[r][0], whole[a:e]))
            a = e
            if a < b:
                r += 1
        pos = b + 2


class HttpPool:
    """Keep-alive connections to one ``host:port`` for one event loop."""

    def __init__(self, base_url: str) -> None:
        u = urlsplit(base_url)
        if u.scheme != "http":
            raise ValueError("HttpPool handles http:// only")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.idle: deque[Conn] = deque()

    async def _connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(Conn, self.host, self.port)
        except OSError as exc:
            raise HttpError("connect", f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return proto  # type: ignore[return-value]

    async def acquire(self) -> Conn:
        """A connection for one request, taken out of the pool: an idle one, else a new one.

        A timed sender acquires before its send time, so connecting is not part of the send."""
        while self.idle:
            c = self.idle.pop()
            if not c.closed:
                return c
        return await self._connect()

    async def request(self, payload: bytes, timeout_s: float, on_sent: Callable[[], None] | None = None,
                      conn: Conn | None = None) -> tuple[int, dict[str, str], Reads, bool]:
        """Send ``payload`` (a whole HTTP request) on ``conn`` (from :meth:`acquire`; by default
        one is acquired now) and wait for the whole response.

        Returns (status, headers, body reads with their times, chunked). With ``chunked`` the
        reads still hold the chunk framing: :func:`decode_chunked` them when timing no longer
        matters. A reused connection the server closed meanwhile is retried once on a fresh one
        (only when nothing was received)."""
        loop = asyncio.get_running_loop()
        for attempt in (0, 1):
            # the retry takes a fresh connection: other pooled ones may be stale too (llama-server
            # closes every connection after a streamed response while announcing keep-alive)
            if attempt:
                conn = await self._connect()
            elif conn is None or conn.closed:
                conn = await self.acquire()
            reused = conn.used
            fut = loop.create_future()
            if on_sent is not None:
                on_sent()
            conn.start(payload, fut)
            try:
                await asyncio.wait_for(fut, timeout_s)
            except asyncio.TimeoutError:
                if conn.transport is not None:
                    conn.transport.abort()
                raise HttpError("timeout", f"no complete response within {timeout_s} s") from None
            except HttpError:
                if reused and attempt == 0 and not conn.reads and not conn.status:
                    continue  # stale keep-alive connection: retry once
                if conn.transport is not None:
                    conn.transport.abort()
                raise
            except asyncio.CancelledError:
                if conn.transport is not None:
                    conn.transport.abort()
                raise
            status, headers, reads, chunked = conn.status, conn.headers, conn.reads, conn._mode == "chunked"
            if conn.reusable:
                self.idle.append(conn)
            elif conn.transport is not None:
                conn.transport.close()
            return status, headers, reads, chunked
        raise HttpError("disconnect", "connection closed before a response")

    def close(self) -> None:
        while self.idle:
            c = self.idle.pop()
            if c.transport is not None:
                c.transport.close()
