"""Request traces: the Mooncake format and servemark's agentic-session format.

**Mooncake** (one JSON object per line, as published by kvcache-ai/Mooncake)::

    {"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, ...]}

``timestamp`` is in milliseconds from the trace start; ``hash_ids`` name the prompt's blocks of
``block_size`` (512) tokens: two requests whose ``hash_ids`` start alike share that prefix. The
prompt is built from token ids: block ``h`` is the same ``block_size`` vocabulary words wherever it
appears (drawn from a generator seeded with ``h`` and the point's salt), the last block cut to fit
``input_length``. Token ids go to the server as they are (completions API), so the server counts
exactly ``input_length`` tokens and equal ``hash_ids`` are token-identical prefixes.

**Agentic** (one session per line; times in seconds)::

    {"timestamp": 0.0, "context_id": "repo-a", "context_tokens": 1500,
     "turns": [{"input_tokens": 200, "output_tokens": 64},
               {"gap_s": 1.5, "input_tokens": 300, "output_tokens": 32,
                "subagents": [{"turns": [{"input_tokens": 120, "output_tokens": 16}]}]}]}

A session starts at ``timestamp``; its context (a system prompt, a repository) is identical text
for sessions with the same ``context_id``. Each turn waits ``gap_s`` after the previous reply
(a tool call's duration), then sends the whole history plus ``input_tokens`` of new text, so the
context grows turn by turn. ``subagents`` are sessions started in parallel when the turn's reply
is in (fan-out); the parent's next turn waits for all of them (fan-in).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from servemark.errors import ServemarkError
from servemark.workload.prompt import Prompt
from servemark.workload.session import Session, Turn


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServemarkError(f"{path}: cannot read trace ({exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ServemarkError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ServemarkError(f"{path}:{n}: a trace line is a JSON object")
        out.append((n, obj))
    if not out:
        raise ServemarkError(f"{path}: the trace is empty")
    return out


def _int(obj: dict[str, Any], key: str, where: str, minimum: int = 0) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ServemarkError(f"{where}: {key} must be an integer >= {minimum}, got {v!r}")
    return v


def _num(obj: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    v = obj.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
        raise ServemarkError(f"{where}: {key} must be a number >= 0, got {v!r}")
    return float(v)


@dataclass
class MooncakeRequest:
    timestamp_s: float
    input_length: int
    output_length: int
    hash_ids: list[int]


def read_mooncake(path: Path, block_size: int = 512, limit: int | None = None) -> list[MooncakeRequest]:
    out = []
    for n, obj in _lines(path)[:limit]:
        where = f"{path}:{n}"
        ids = obj.get("hash_ids")
        if not isinstance(ids, list) or not all(isinstance(h, int) for h in ids):
            raise ServemarkError(f"{where}: hash_ids must be a list of integers")
        req = MooncakeRequest(_num(obj, "timestamp", where) / 1e3, _int(obj, "input_length", where, 1),
                              _int(obj, "output_length", where, 1), ids)
        need = math.ceil(req.input_length / block_size)
        if len(ids) < need:
            raise ServemarkError(f"{where}: input_length {req.input_length} needs {need} hash_ids of "
                                 f"{block_size} tokens, got {len(ids)}")
        out.append(req)
    return out


def mooncake_prompts(reqs: list[MooncakeRequest], vocab: np.ndarray, block_size: int, salt: int,
                     speedup: float) -> tuple[list[Prompt], list[float]]:
    """Token-id prompts (equal hash_ids -> equal tokens) and send offsets (s from the first request)."""
    blocks: dict[int, list[int]] = {}

    def block(h: int) -> list[int]:
        if h not in blocks:
            rng = np.random.default_rng([salt & 0xFFFFFFFF, h & 0xFFFFFFFF, 0x6D6F6F6E])
            blocks[h] = [int(t) for t in rng.choice(vocab, size=block_size)]
        return blocks[h]

    t0 = min(r.timestamp_s for r in reqs)
    prompts, offsets = [], []
    for r in reqs:
        ids: list[int] = []
        for h in r.hash_ids:
            if len(ids) >= r.input_length:
                break
            ids += block(h)[: r.input_length - len(ids)]
        prompts.append(Prompt(token_ids=ids, client_tokens=len(ids), max_tokens=r.output_length))
        offsets.append((r.timestamp_s - t0) / speedup)
    return prompts, offsets


def stable_key(*parts: object) -> int:
    """A 63-bit key from parts, the same in every process (``hash()`` of a str is not)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big") >> 1


TextOf = Callable[[int, int], str]
"""``text_of(tokens, key)``: text of that many tokens, the same for the same key."""


def _agentic_session(obj: dict[str, Any], where: str, text_of: TextOf, counter: list[int],
                     speedup: float, top: bool) -> Session:
    turns_raw = obj.get("turns")
    if not isinstance(turns_raw, list) or not turns_raw:
        raise ServemarkError(f"{where}: turns must be a non-empty list")
    ctx_tokens = _int(obj, "context_tokens", where) if "context_tokens" in obj else 0
    ctx_id = obj.get("context_id")
    context = ""
    if ctx_tokens:
        key = stable_key("ctx", str(ctx_id)) if ctx_id is not None else stable_key("ctx-unique", where)
        context = text_of(ctx_tokens, key)
    turns = []
    for i, t in enumerate(turns_raw):
        tw = f"{where}: turns[{i}]"
        if not isinstance(t, dict):
            raise ServemarkError(f"{tw}: a turn is an object")
        n_in = _int(t, "input_tokens", tw, 1)
        counter[0] += 1
        subs = t.get("subagents") or []
        if not isinstance(subs, list):
            raise ServemarkError(f"{tw}: subagents must be a list of sessions")
        turns.append(Turn(user=text_of(n_in, counter[0]), max_tokens=_int(t, "output_tokens", tw, 1),
                          user_tokens=n_in, delay_s=_num(t, "gap_s", tw, 0.0) / speedup,
                          subagents=[_agentic_session(s, f"{tw}.subagents[{k}]", text_of, counter, speedup, False)
                                     for k, s in enumerate(subs)]))
    start = _num(obj, "timestamp", where) / speedup if top else None
    return Session(turns=turns, context=context, context_tokens=ctx_tokens, start_s=start)


def read_agentic(path: Path, text_of: TextOf, speedup: float = 1.0, limit: int | None = None) -> list[Session]:
    """Sessions of an agentic trace, start times relative to the earliest (s, sped up)."""
    counter = [0]
    sessions = [_agentic_session(obj, f"{path}:{n}", text_of, counter, speedup, True)
                for n, obj in _lines(path)[:limit]]
    t0 = min(s.start_s or 0.0 for s in sessions)
    for s in sessions:
        s.start_s = (s.start_s or 0.0) - t0
    return sessions
