"""A scenario's workload -> what the load generator sends (prompts, a schedule, or sessions).

It lives in ``sweep`` (not ``workload``) because it reads the recipe's types: ``workload`` stays
below ``recipe`` in the import graph (loadgen and calibration import it).

One function per kind, one entry point (:func:`build_workload`). Everything is seeded: the same
recipe seed and salt give the same text. The *salt* keeps points apart when the engine caches
prefixes: with prefix caching on, each point gets its own salt so its synthetic text shares no
prefix with another point's (which would otherwise hit the cache and read as a faster engine),
while inside a point equal keys (a Mooncake ``hash_id``, an agentic ``context_id``, a session's
history) still give equal text. Warmup requests of session and trace workloads are short random
prompts, so they never warm the cache for the measured requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from servemark.errors import ServemarkError
from servemark.recipe.schema import Scenario
from servemark.recipe.workload import DatasetWorkload, MultiTurnWorkload, TraceWorkload
from servemark.workload.dataset import Row, read_rows, resolve_path
from servemark.workload.prompt import Prompt
from servemark.workload.random_tokens import RandomPromptBuilder
from servemark.workload.session import Session, Turn
from servemark.workload.trace import mooncake_prompts, read_agentic, read_mooncake, stable_key

WARMUP_ISL, WARMUP_OSL = 64, 8
"""Warmup requests of session and trace workloads: short random prompts (never a measured prefix)."""


@dataclass
class BuiltWorkload:
    prompts: list[Prompt]
    """Warmup prompts first (``num_warmup``), then one per measured request (single-request kinds)."""
    num_warmup: int
    num_requests: int
    offsets: list[float] | None = None
    """Trace replay: each measured request's send time (s from the phase start)."""
    sessions: list[Session] | None = None
    """Session kinds: the sessions to run after warmup."""

    def nominal_lengths(self) -> tuple[int, int]:
        """Mean (input, output) tokens per measured request, for the point's isl/osl columns."""
        if self.sessions is not None:
            ins = [t.user_tokens for s in _all_sessions(self.sessions) for t in s.turns]
            outs = [t.max_tokens for s in _all_sessions(self.sessions) for t in s.turns]
        else:
            meas = self.prompts[self.num_warmup:]
            ins, outs = [p.client_tokens for p in meas], [p.max_tokens for p in meas]
        return (round(float(np.mean(ins))) if ins else 0, round(float(np.mean(outs))) if outs else 0)


def _all_sessions(sessions: list[Session]) -> list[Session]:
    out = []
    for s in sessions:
        out.append(s)
        for t in s.turns:
            out += _all_sessions(t.subagents)
    return out


def _per_turn(v: int | list[int], i: int) -> int:
    return v if isinstance(v, int) else v[min(i, len(v) - 1)]


class _Texts:
    """Synthetic text of exact token counts, the same for the same key (and salt)."""

    def __init__(self, builder: RandomPromptBuilder, salt: int) -> None:
        self.b, self.salt = builder, salt

    def __call__(self, tokens: int, key: int) -> str:
        rng = np.random.default_rng([self.salt & 0xFFFFFFFF, key & 0xFFFFFFFFFFFF])
        return self.b.prompt_of_length(tokens + self.b.n_special, rng)


def _warmup(builder: RandomPromptBuilder, n: int, salt: int) -> list[Prompt]:
    texts = _Texts(builder, salt ^ 0x5A5A)
    return [Prompt(text=texts(WARMUP_ISL, stable_key("warmup", i)), client_tokens=WARMUP_ISL + builder.n_special,
                   max_tokens=WARMUP_OSL) for i in range(n)]


def _pick(n: int, rows: list[Any], seed: int) -> list[Any]:
    """``n`` rows in a seeded order, without repeats until the rows run out."""
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    while len(out) < n:
        out += [rows[i] for i in rng.permutation(len(rows))]
    return out[:n]


def _dataset(sc: Scenario, wl: DatasetWorkload, builder: RandomPromptBuilder, n_total: int, seed: int,
             base_dir: Path | None) -> list[Prompt]:
    path = resolve_path(wl.path, base_dir)
    rows = read_rows(path, wl.format)
    kept: list[tuple[Row, int]] = []
    for row in rows:
        n_in = builder.count(row.first_user)
        if (wl.min_input_tokens and n_in < wl.min_input_tokens) or (wl.max_input_tokens and n_in > wl.max_input_tokens):
            continue
        kept.append((row, n_in))
    if not kept:
        raise ServemarkError(f"{path}: no row has between {wl.min_input_tokens} and {wl.max_input_tokens} prompt tokens")
    out = []
    for row, n_in in _pick(n_total, kept, seed):
        ref = row.first_reply
        n_out = wl.output_len or row.output_len or (builder.count(ref) - builder.n_special if ref else None) or sc.osl
        if not n_out:
            raise ServemarkError(f"{path}:{row.line}: no output length: set workload.output_len or scenario osl")
        system = [{"role": "system", "content": t} for r, t in row.turns[:1] if r == "system"]
        out.append(Prompt(text=row.first_user, client_tokens=n_in, max_tokens=max(1, n_out),
                          messages=system + [{"role": "user", "content": row.first_user}]))
    return out


def _multi_turn(wl: MultiTurnWorkload, builder: RandomPromptBuilder, salt: int, osl: int | None,
                base_dir: Path | None) -> list[Session]:
    texts = _Texts(builder, salt)
    sessions: list[Session] = []
    if wl.dataset is not None:
        path = resolve_path(wl.dataset, base_dir)
        rows = [r for r in read_rows(path) if sum(1 for role, _ in r.turns if role == "user") >= 1]
        for row in _pick(wl.sessions, rows, salt):
            system = "".join(t for r, t in row.turns if r == "system")
            turns, pending = [], None
            for role, text in row.turns:
                if role == "user":
                    if pending is not None:
                        turns.append(pending)
                    pending = Turn(user=text, max_tokens=row.output_len or osl or 128, user_tokens=builder.count(text) - builder.n_special,
                                   delay_s=wl.think_time_s if turns else 0.0)
                elif role == "assistant" and pending is not None:
                    pending.max_tokens = max(1, builder.count(text) - builder.n_special)
                    turns.append(pending)
                    pending = None
            if pending is not None:
                turns.append(pending)
            sessions.append(Session(turns=turns[: wl.turns], context=system,
                                    context_tokens=builder.count(system) - builder.n_special if system else 0))
        return sessions
    for s in range(wl.sessions):
        turns = []
        for t in range(wl.turns):
            n_user = _per_turn(wl.user_tokens, t)
            turns.append(Turn(user=texts(n_user, stable_key("mt", s, t)), max_tokens=_per_turn(wl.assistant_tokens, t),
                              user_tokens=n_user, delay_s=wl.think_time_s if t else 0.0))
        sessions.append(Session(turns=turns))
    return sessions


def build_workload(sc: Scenario, builder: RandomPromptBuilder, num_requests: int, num_warmup: int, seed: int,
                   salt: int, api: str = "completions", base_dir: Path | None = None) -> BuiltWorkload:
    """The requests of one point. ``num_requests`` applies to random and dataset workloads; the
    others take their size from the workload (sessions x turns, the trace's length)."""
    wl = sc.workload
    if wl.kind == "random":
        assert sc.isl and sc.osl
        if salt != seed:  # prefix caching on: this point's prompts must share nothing with another's
            builder = RandomPromptBuilder(builder.tok, seed=salt)
        prompts = builder.build(num_requests + num_warmup, sc.isl, sc.osl, sc.random_range_ratio)
        return BuiltWorkload(prompts, num_warmup, num_requests)
    if wl.kind == "dataset":
        prompts = _dataset(sc, wl, builder, num_requests + num_warmup, seed, base_dir)
        return BuiltWorkload(prompts, num_warmup, num_requests)
    warm = _warmup(builder, num_warmup, salt)
    if wl.kind == "multi_turn":
        sessions = _multi_turn(wl, builder, salt, sc.osl, base_dir)
        return BuiltWorkload(warm, num_warmup, sum(s.requests() for s in sessions), sessions=sessions)
    assert isinstance(wl, TraceWorkload)
    path = resolve_path(wl.path, base_dir)
    if wl.format == "mooncake":
        if api != "completions":
            raise ServemarkError(f"{path}: Mooncake traces are sent as token ids, which needs api: completions")
        reqs = read_mooncake(path, wl.block_size, wl.max_requests)
        prompts, offsets = mooncake_prompts(reqs, builder.words, wl.block_size, salt, wl.speedup)
        return BuiltWorkload(warm + prompts, num_warmup, len(prompts), offsets=offsets)
    sessions = read_agentic(path, _Texts(builder, salt), wl.speedup, wl.max_requests)
    return BuiltWorkload(warm, num_warmup, sum(s.requests() for s in sessions), sessions=sessions)
