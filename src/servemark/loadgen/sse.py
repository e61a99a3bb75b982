"""Turn the raw bytes of a streamed response into token-bearing chunk times.

The hot path only appends ``(perf_counter_ns, bytes)`` for every read; everything here runs after
the stream ended, so JSON decoding never delays the timestamp of the next chunk. An event's time
is the time of the read that completed it (the read holding its last byte).

A chunk *carries tokens* when the server's running usage count grew (``continuous_usage_stats``)
or, without per-chunk usage, when it holds generated text of any channel (content, reasoning,
tool-call arguments). Role-only and empty deltas never count: they would fake a fast TTFT.

Speed matters here too (it is the client's main CPU cost per token): the body is joined once,
events are found by index, and each JSON object is decoded with orjson when installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

try:  # orjson decodes a chunk ~2x faster than json; the client's CPU per token is what it buys
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency, json is the fallback
    _raw_decode = json.JSONDecoder().raw_decode

    def _loads(b: bytes) -> Any:
        return _raw_decode(b.decode("utf-8"))[0]
_SEP_CRLF = re.compile(rb"\r?\n\r?\n")


class MalformedStream(Exception):
    """A data line that is not JSON."""


@dataclass
class ParsedStream:
    chunk_times_ns: list[int] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    text_chunks: int = 0
    """Chunks holding generated text: the client's own output count, independent of usage."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    per_chunk_usage: bool = False
    done: bool = False
    error_message: str | None = None
    """An ``{"error": ...}`` object sent inside the stream (vLLM does this on engine errors)."""
    cached_tokens: int | None = None
    """``usage.prompt_tokens_details.cached_tokens`` when the server reports it."""
    text: list[str] | None = None
    """Generated text pieces, kept only when asked (session workloads send them back as history)."""


def iter_events(reads: list[tuple[int, bytes]]):
    """Yield ``(time_ns, event_bytes)`` for every SSE event (separated by a blank line)."""
    if not reads:
        return
    whole = b"".join(d for _, d in reads)
    ends, n = [], 0
    for _, d in reads:
        n += len(d)
        ends.append(n)
    r = 0
    pos = 0
    if b"\r" not in whole:
        while True:
            i = whole.find(b"\n\n", pos)
            if i < 0:
                break
            last = i + 1  # offset of the event's final byte (the first separator newline)
            while ends[r] <= last:
                r += 1
            yield reads[r][0], whole[pos:i]
            pos = i + 2
    else:
        for m in _SEP_CRLF.finditer(whole):
            last = m.start()
            while ends[r] <= last:
                r += 1
            yield reads[r][0], whole[pos:m.start()].replace(b"\r\n", b"\n")
            pos = m.end()
    rest = whole[pos:]
    if rest.strip():
        yield reads[-1][0], rest


def _data_payloads(ev: bytes):
    if ev.startswith(b"data:") and b"\n" not in ev:
        yield ev[5:].strip()
        return
    for line in ev.split(b"\n"):
        if line.startswith(b"data:"):
            yield line[5:].strip()  # comments (": ping"), event: and id: lines are skipped


def _chunk_text(obj: dict[str, Any], chat: bool) -> bool:
    choices = obj.get("choices")
    if not choices:
        return False
    c = choices[0]
    if not chat:
        return bool(c.get("text"))
    d = c.get("delta")
    if not d:
        return False
    if d.get("content") or d.get("reasoning_content") or d.get("reasoning"):
        return True
    for tc in d.get("tool_calls") or ():
        if (tc.get("function") or {}).get("arguments"):
            return True
    return False


MAX_TOKEN_COUNT = 10**9
"""No request has a billion tokens: a larger usage count is a server bug, not a measurement."""


class ImpossibleUsage(MalformedStream):
    """``usage`` holds a count that cannot be: not an integer, negative, or absurdly large."""


def usage_count(usage: dict[str, Any], key: str) -> int | None:
    """``usage[key]`` as a validated token count, ``None`` when absent; :class:`ImpossibleUsage` otherwise."""
    v = usage.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
        raise ImpossibleUsage(f"usage.{key} is not a number: {str(v)[:40]!r}")
    if int(v) != v:
        raise ImpossibleUsage(f"usage.{key} is not a whole number: {v!r}")
    if not 0 <= v <= MAX_TOKEN_COUNT:
        raise ImpossibleUsage(f"usage.{key} out of range: {v!r}")
    return int(v)


def _piece(obj: dict[str, Any], chat: bool) -> str:
    c = (obj.get("choices") or [{}])[0]
    if not chat:
        return c.get("text") or ""
    return (c.get("delta") or {}).get("content") or ""


def parse_stream(reads: list[tuple[int, bytes]], chat: bool, keep_text: bool = False) -> ParsedStream:
    out = ParsedStream(text=[] if keep_text else None)
    prev_usage = 0
    times, toks = out.chunk_times_ns, out.chunk_tokens
    for t, ev in iter_events(reads):
        for payload in _data_payloads(ev):
            if payload == b"[DONE]":
                out.done = True
                continue
            try:
                obj = _loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise MalformedStream(f"not JSON: {payload[:80]!r}") from exc
            if not isinstance(obj, dict):
                raise MalformedStream(f"not an object: {payload[:80]!r}")
            if "error" in obj and not obj.get("choices"):
                err = obj["error"]
                out.error_message = str(err.get("message") if isinstance(err, dict) else err)[:300]
                continue
            has_text = _chunk_text(obj, chat)
            usage = obj.get("usage")
            n = 0
            if usage:
                if not isinstance(usage, dict):
                    raise ImpossibleUsage(f"usage is not an object: {str(usage)[:40]!r}")
                completion = usage_count(usage, "completion_tokens")
                prompt = usage_count(usage, "prompt_tokens")
                if obj.get("choices"):
                    out.per_chunk_usage = True
                    cum = completion or 0
                    n = max(cum - prev_usage, 0)
                    prev_usage = max(cum, prev_usage)
                if prompt is not None:
                    out.prompt_tokens = prompt
                if completion is not None:
                    out.completion_tokens = completion
                details = usage.get("prompt_tokens_details")
                if isinstance(details, dict):
                    cached = usage_count(details, "cached_tokens")
                    if cached is not None:
                        out.cached_tokens = cached
            elif has_text:
                n = 1
            if has_text:
                out.text_chunks += 1
                if out.text is not None:
                    out.text.append(_piece(obj, chat))
            if n > 0:
                times.append(t)
                toks.append(n)
    return out
