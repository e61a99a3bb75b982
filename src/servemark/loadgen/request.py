"""One streamed request: build the body, send it, stamp every read, fill a RequestRecord.

Two transports with one contract: :func:`send_raw` on servemark's own protocol-level HTTP client
(plain http, the default: a read costs one callback) and :func:`send` on aiohttp (https, or when
asked for).

Timing rule: the only work between two reads is ``perf_counter_ns()`` and a list append; parsing
happens after the last byte (see :mod:`servemark.loadgen.sse`). Parsing is deferred (:class:`Deferred`) so the
caller can run it when no stream is waiting for a timestamp. Failures never raise out of here:
they become ``record.error`` with a kind (``http_<status>``, ``disconnect``, ``timeout``,
``malformed_sse``, ``incomplete_stream``, ``stream_error``, ``connect``, ``client_<Exception>``,
``bad_usage``: a ``usage`` count that cannot be true, see :func:`check_usage`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from urllib.parse import urlsplit

import aiohttp

from servemark.loadgen.http import Conn, HttpError, HttpPool, decode_chunked
from servemark.loadgen.spec import LoadSpec
from servemark.loadgen.sse import ImpossibleUsage, MalformedStream, parse_stream
from servemark.records import RequestRecord
from servemark.workload import Prompt

NS = 1e9


def endpoint(spec: LoadSpec) -> str:
    base = spec.base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return base + ("/v1/chat/completions" if spec.api == "chat" else "/v1/completions")


def build_headers(spec: LoadSpec) -> dict[str, str]:
    h = {"Content-Type": "application/json"}
    h.update(spec.headers)
    if spec.api_key:
        h["Authorization"] = f"Bearer {spec.api_key}"
    return h


def build_body(spec: LoadSpec, prompt: Prompt) -> dict[str, Any]:
    stream_options: dict[str, Any] = {"include_usage": True}
    if spec.continuous_usage:
        stream_options["continuous_usage_stats"] = True
    body: dict[str, Any] = {"model": spec.model, "max_tokens": prompt.max_tokens, "stream": True,
                            "stream_options": stream_options}
    if spec.api == "chat":
        body["messages"] = prompt.messages if prompt.messages is not None else [
            {"role": "user", "content": prompt.text}]
        if spec.chat_template is not None:
            body["chat_template"] = spec.chat_template
    else:
        body["prompt"] = prompt.token_ids if prompt.token_ids is not None else prompt.text
    if spec.ignore_eos:
        body["ignore_eos"] = True
    body.update(spec.extra_body)
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def raw_request_prefix(spec: LoadSpec, body: bytes) -> bytes:
    """The HTTP/1.1 request up to the value of ``X-Request-Id`` (added per request)."""
    u = urlsplit(endpoint(spec))
    lines = [f"POST {u.path} HTTP/1.1", f"Host: {u.netloc}", f"Content-Length: {len(body)}",
             "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in build_headers(spec).items()]
    return ("\r\n".join(lines) + "\r\nX-Request-Id: ").encode("latin-1")


@dataclass
class Deferred:
    """A finished response whose bytes are not parsed yet: parsing waits until timing is over."""

    rec: RequestRecord
    reads: list[tuple[int, bytes]]
    chunked: bool
    chat: bool
    nbytes: int

    def finish(self, keep_text: bool = False) -> str | None:
        """Parse the response into the record; with ``keep_text`` return the generated text."""
        reads = self.reads
        if self.chunked:
            try:
                reads = decode_chunked(reads)
            except ValueError as exc:
                self.rec.error, self.rec.error_detail = "bad_framing", str(exc)
                return None
        text = _finish(self.rec, reads, self.chat, keep_text)
        self.reads = []
        return text


def raw_payload(prefix: bytes, body: bytes, rec: RequestRecord) -> bytes:
    """The whole HTTP request of ``rec`` (``prefix`` from :func:`raw_request_prefix`): built
    before a timed request is due, so sending it is one write."""
    return prefix + f"{rec.point_id}-{rec.request_id}\r\n\r\n".encode() + body


async def send_raw(pool: HttpPool, payload: bytes, rec: RequestRecord, chat: bool,
                   timeout_s: float, conn: Conn | None = None) -> Deferred | None:
    """Send one request (``payload`` from :func:`raw_payload`) on servemark's own HTTP client
    (see :mod:`servemark.loadgen.http`), on ``conn`` when one was acquired ahead.

    ``rec.sent_at`` is stamped just before the request's bytes are written. A successful response
    comes back as a :class:`Deferred` (``rec.done_at`` set, the rest after ``finish()``); a
    failure is recorded at once and gives None."""

    def sent() -> None:
        rec.sent_at = perf_counter_ns() / NS

    try:
        status, _, reads, chunked = await pool.request(payload, timeout_s, on_sent=sent, conn=conn)
    except HttpError as exc:
        rec.error, rec.error_detail = exc.kind, str(exc)[:300]
    except asyncio.CancelledError:
        rec.error, rec.error_detail = "cancelled", "run stopped"
        raise
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the run
        rec.error, rec.error_detail = f"client_{type(exc).__name__}", str(exc)[:300]
    else:
        rec.done_at = (reads[-1][0] if reads else perf_counter_ns()) / NS
        if status == 200:
            return Deferred(rec, reads, chunked, chat, sum(len(d) for _, d in reads))
        try:
            text = b"".join(d for _, d in (decode_chunked(reads) if chunked else reads))
        except ValueError:
            text = b"".join(d for _, d in reads)
        rec.error, rec.error_detail = f"http_{status}", text[:300].decode("utf-8", "replace")
        return None
    finally:
        if rec.sent_at is None:
            rec.sent_at = perf_counter_ns() / NS
    _finish(rec, [], chat)
    return None


async def send(session: aiohttp.ClientSession, url: str, headers: dict[str, str], data: bytes,
               rec: RequestRecord, chat: bool, timeout_s: float) -> Deferred | None:
    """The same contract on aiohttp (https, or ``transport="aiohttp"``)."""
    reads: list[tuple[int, bytes]] = []
    append = reads.append
    hdrs = dict(headers)
    hdrs["X-Request-Id"] = f"{rec.point_id}-{rec.request_id}"
    rec.sent_at = perf_counter_ns() / NS
    try:
        async with _post(session, url, data, hdrs, timeout_s) as resp:
            if resp.status != 200:
                text = await resp.text(errors="replace")
                rec.done_at = perf_counter_ns() / NS
                rec.error, rec.error_detail = f"http_{resp.status}", text[:300]
                return None
            content = resp.content
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                append((perf_counter_ns(), chunk))
    except asyncio.TimeoutError:
        rec.error, rec.error_detail = "timeout", f"no complete response within {timeout_s} s"
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        rec.error, rec.error_detail = "disconnect", str(exc)[:300]
    except aiohttp.ClientConnectorError as exc:
        rec.error, rec.error_detail = "connect", str(exc)[:300]
    except aiohttp.ClientError as exc:
        rec.error, rec.error_detail = "disconnect", f"{type(exc).__name__}: {exc}"[:300]
    except asyncio.CancelledError:
        rec.error, rec.error_detail = "cancelled", "run stopped"
        _finish(rec, reads, chat)
        raise
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the run
        rec.error, rec.error_detail = f"client_{type(exc).__name__}", str(exc)[:300]
    if rec.error is None and reads:
        rec.done_at = reads[-1][0] / NS
        return Deferred(rec, reads, False, chat, sum(len(d) for _, d in reads))
    _finish(rec, reads, chat)
    return None


@asynccontextmanager
async def _post(session: aiohttp.ClientSession, url: str, data: bytes, hdrs: dict[str, str],
                timeout_s: float) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST; when the pooled keep-alive connection turns out closed before the request, resend once
    on a fresh connection.

    Some servers (llama.cpp's ``llama-server``) close the connection after a streamed response while
    announcing keep-alive; the next request on that pooled connection fails while being written
    ("Can not write request body") without reaching the server, and at concurrency > 1 the pool may
    hold several such connections, so the resend uses a connection of its own. The time lost stays
    in the request's latency (``sent_at`` is the first attempt).
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        resp = await session.post(url, data=data, headers=hdrs, timeout=timeout)
    except aiohttp.ClientConnectorError:
        raise  # nothing listening: not a stale connection
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        resp = None
    if resp is not None:
        async with resp:
            yield resp
        return
    fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                  skip_auto_headers=("User-Agent",))
    async with fresh, fresh.post(url, data=data, headers=hdrs, timeout=timeout) as resp2:
        yield resp2


def _finish(rec: RequestRecord, reads: list[tuple[int, bytes]], chat: bool, keep_text: bool = False) -> str | None:
    if rec.done_at is None:
        rec.done_at = (reads[-1][0] if reads else perf_counter_ns()) / NS
    if rec.error and rec.error.startswith("http_"):
        return None
    try:
        ps = parse_stream(reads, chat, keep_text) if reads else None
    except ImpossibleUsage as exc:
        if rec.error is None:
            rec.error, rec.error_detail = "bad_usage", str(exc)
        return None
    except MalformedStream as exc:
        if rec.error is None:
            rec.error, rec.error_detail = "malformed_sse", str(exc)
        return None
    if ps is None:
        if rec.error is None:
            rec.error, rec.error_detail = "incomplete_stream", "empty response body"
        return None
    rec.cached_tokens = ps.cached_tokens
    rec.chunk_times = [t / NS for t in ps.chunk_times_ns]
    rec.chunk_tokens = ps.chunk_tokens
    if rec.chunk_times:
        rec.first_token_at = rec.chunk_times[0]
        rec.last_token_at = rec.chunk_times[-1]
    rec.prompt_tokens = ps.prompt_tokens
    rec.output_tokens = ps.completion_tokens
    rec.client_output_tokens = ps.text_chunks
    if rec.error is None:
        if ps.error_message is not None:
            rec.error, rec.error_detail = "stream_error", ps.error_message
        elif not ps.done:
            rec.error, rec.error_detail = "incomplete_stream", "stream ended without [DONE]"
        elif not rec.chunk_times:
            rec.error, rec.error_detail = "no_tokens", "stream carried no generated token"
        elif (why := check_usage(rec)) is not None:
            rec.error, rec.error_detail = "bad_usage", why
        elif not ps.per_chunk_usage and ps.completion_tokens is not None:
            # one token per chunk was assumed; if the server's total disagrees, spread the
            # difference evenly so ITL stays per token (the ICL keeps the raw chunk gaps)
            total = ps.completion_tokens
            n = len(rec.chunk_tokens)
            if total > n and n > 0:
                base, rem = divmod(total, n)
                rec.chunk_tokens = [base + (1 if i < rem else 0) for i in range(n)]
    return "".join(ps.text) if ps.text is not None else None


def check_usage(rec: RequestRecord) -> str | None:
    """Why the server's ``usage`` cannot describe this request, or ``None`` when it can.

    Impossible, not merely different: a stream that carried text while usage says zero completion
    tokens, fewer completion tokens than text-carrying chunks (each holds at least one token), more
    than the request allowed (``max_tokens``), or a zero prompt. Plausible disagreements are
    measured per point instead (``output_token_deviation``, flag ``usage_mismatch``).
    """
    out, streamed = rec.output_tokens, rec.client_output_tokens
    if rec.prompt_tokens is not None and rec.prompt_tokens == 0 and (rec.client_prompt_tokens or 0) > 0:
        return f"usage.prompt_tokens is 0 for a prompt of {rec.client_prompt_tokens} tokens"
    if out is None:
        return None
    if streamed and out < streamed:
        return f"usage.completion_tokens {out} < {streamed} text chunks streamed"
    if rec.max_tokens is not None and out > rec.max_tokens:
        return f"usage.completion_tokens {out} > max_tokens {rec.max_tokens} of the request"
    return None
