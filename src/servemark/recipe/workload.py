"""The ``workload:`` block of a scenario, the request-rate load and the SLO (recipe schema).

A scenario's workload says *what* traffic is sent; ``random`` (InferenceX's method: random tokens
of ISL/OSL) is the default and needs no block. The other kinds replay real text or real timing:

- ``dataset``: single requests from a JSONL file (``prompt``, ``messages`` or ShareGPT
  ``conversations`` rows), or ``gsm8k`` for the slice shipped in the package;
- ``multi_turn``: sessions whose every turn carries the whole history, so the prefix is reused;
- ``trace``: a request trace replayed at its timestamps (Mooncake or servemark's agentic format).

How each kind becomes requests is in :mod:`servemark.sweep.workload_build`; docs/workloads.md has one
runnable example per kind.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)


class RandomWorkload(_Strict):
    kind: Literal["random"] = "random"


class DatasetWorkload(_Strict):
    kind: Literal["dataset"]
    path: str = Field(min_length=1)
    """A JSONL file (relative to the recipe's folder or absolute), or ``gsm8k``: the GSM8K slice
    shipped with servemark (MIT licence, see ``servemark/data/workloads``)."""
    format: Literal["auto", "prompt", "messages", "sharegpt"] = "auto"
    """Row format; ``auto`` decides per row by its keys."""
    output_len: int | None = Field(default=None, ge=1)
    """Output tokens for every request; null: the row's ``output_len``/``max_tokens``, else the
    length of its reference answer (``completion`` or the first assistant reply), else the
    scenario's ``osl``."""
    min_input_tokens: int | None = Field(default=None, ge=1)
    max_input_tokens: int | None = Field(default=None, ge=1)
    """Length filters on the prompt (by the model's tokenizer); rows outside are skipped."""


class MultiTurnWorkload(_Strict):
    kind: Literal["multi_turn"]
    sessions: int = Field(default=16, ge=1)
    """Sessions per point; the point's concurrency is the number of sessions in flight."""
    turns: int = Field(default=4, ge=1)
    user_tokens: int | list[int] = 128
    """New user tokens per turn; a list gives them per turn (the last value repeats)."""
    assistant_tokens: int | list[int] = 32
    """Output tokens per turn (exact: ``ignore_eos``); a list per turn like ``user_tokens``."""
    think_time_s: float = Field(default=0.0, ge=0)
    """Pause between a reply and the user's next turn."""
    dataset: str | None = None
    """Take the sessions from a JSONL file of ``messages``/``conversations`` rows instead (user
    turns as written, assistant lengths from the reference replies); ``user_tokens`` and
    ``assistant_tokens`` are then ignored."""

    @field_validator("user_tokens", "assistant_tokens")
    @classmethod
    def _positive(cls, v: int | list[int]) -> int | list[int]:
        vals = v if isinstance(v, list) else [v]
        if not vals or min(vals) < 1:
            raise ValueError("token counts must be >= 1 (a non-empty list when a list)")
        return v


class TraceWorkload(_Strict):
    kind: Literal["trace"]
    path: str = Field(min_length=1)
    """The trace file (JSONL)."""
    format: Literal["mooncake", "agentic"] = "mooncake"
    speedup: float = Field(default=1.0, gt=0)
    """Replay this many times faster than recorded (timestamps divided by it)."""
    block_size: int = Field(default=512, ge=1)
    """Mooncake: tokens per ``hash_ids`` block (512 in the published traces)."""
    max_requests: int | None = Field(default=None, ge=1)
    """Replay only the first N requests (Mooncake) or sessions (agentic)."""


Workload = Annotated[Union[RandomWorkload, DatasetWorkload, MultiTurnWorkload, TraceWorkload],
                     Field(discriminator="kind")]


def workload_key(workload: BaseModel, prefix_cache: bool) -> str:
    """The workload part of a point's identity: kind plus a short hash of every parameter.

    ``random`` without prefix caching is ``random`` (the default, so points measured before
    workloads existed keep their key); everything else is ``kind:hash`` so two workloads never
    share a frontier.
    """
    d = workload.model_dump(mode="json")
    d["prefix_cache"] = prefix_cache
    if d == {"kind": "random", "prefix_cache": False}:
        return "random"
    blob = json.dumps(d, sort_keys=True).encode()
    return f"{d['kind']}:{hashlib.sha256(blob).hexdigest()[:10]}"


def on_off(v: object) -> object:
    """YAML 1.1 reads ``on``/``off`` as booleans: accept both spellings."""
    if v is True:
        return "on"
    if v is False:
        return "off"
    return v


class Slo(_Strict):
    """A service-level objective: each given metric at ``percentile`` must be at most its bound.

    A request is *good* when it meets every bound (goodput counts those); a point *meets the SLO*
    when the ``percentile``-th value of each metric over its requests does."""

    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    e2el_ms: float | None = Field(default=None, gt=0)
    percentile: float = Field(default=99.0, gt=0, le=100)
    min_good_fraction: float | None = Field(default=None, ge=0, le=1)
    """Optionally also require this share of good requests (failures count as not good)."""

    @model_validator(mode="after")
    def _one_bound(self) -> "Slo":
        if self.ttft_ms is None and self.tpot_ms is None and self.e2el_ms is None:
            raise ValueError("give at least one of ttft_ms, tpot_ms, e2el_ms")
        return self

    def bounds_s(self) -> dict[str, float]:
        """Bounds in seconds keyed by metric name (``ttft``, ``tpot``, ``e2el``)."""
        out = {"ttft": self.ttft_ms, "tpot": self.tpot_ms, "e2el": self.e2el_ms}
        return {k: v / 1e3 for k, v in out.items() if v is not None}


class SloSearch(_Strict):
    """Find the highest request rate (or concurrency) whose point meets ``slo`` by bisection."""

    over: Literal["rate", "concurrency"] = "rate"
    low: float = Field(gt=0)
    """A load expected to meet the SLO (probed first; if it fails, the search reports none)."""
    high: float = Field(gt=0)
    """A load expected to miss it (probed second; if it passes, it is the answer)."""
    tolerance: float = Field(default=0.05, gt=0, lt=1)
    """Stop when (fail - pass) / pass is below this (concurrency: when they are adjacent)."""
    max_probes: int = Field(default=12, ge=2)

    @model_validator(mode="after")
    def _order(self) -> "SloSearch":
        if self.high <= self.low:
            raise ValueError("high must be above low")
        if self.over == "concurrency" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("a concurrency search takes whole numbers for low and high")
        return self


PrefixCache = Literal["off", "on"]
