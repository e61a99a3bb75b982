"""The calibration server's plan: what it will do for every request, fixed in advance.

Per-token gaps are exact by construction: a chunk carrying n tokens is sent n x ``itl_ms`` after
the previous one, so the true per-token ITL is ``itl_ms`` whatever the chunking, while the true
inter-chunk gaps vary with the pattern. Faults are chosen by arrival order (0-based), so a test
knows exactly how many of each to expect.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("http_500", "drop", "malformed", "stall",
               # misbehaving-server mode: a server whose numbers or behaviour cannot be trusted
               "usage_inflated", "usage_garbage", "usage_huge", "usage_negative", "echo_key_401", "die")


@dataclass
class CalibrationPlan:
    ttft_ms: float = 20.0
    """Time from receiving the request to sending the first token-bearing chunk."""
    itl_ms: float = 5.0
    """Time per token between chunks (a chunk of n tokens follows the previous after n x this)."""
    tokens_per_chunk: list[int] = field(default_factory=lambda: [1])
    """Chunk sizes, cycled: ``[1, 3]`` sends 1, 3, 1, 3, ... tokens per chunk."""
    default_max_tokens: int = 16
    faults: dict[str, list[int]] = field(default_factory=dict)
    """Fault kind -> arrival indices: ``http_500`` (immediate 500), ``drop`` (connection closed
    mid-stream), ``malformed`` (a non-JSON data line mid-stream), ``stall`` (a pause of ``stall_s``
    mid-stream); misbehaving server: ``usage_inflated`` (usage says 3x the tokens streamed),
    ``usage_garbage`` (``"abc"``), ``usage_huge`` (10^18), ``usage_negative`` (-5), ``echo_key_401``
    (401 whose body echoes the Authorization header), ``die`` (the server process exits at once:
    an engine death)."""
    always: list[str] = field(default_factory=list)
    """Fault kinds applied to every request (a server that always misbehaves this way)."""
    die_marker: str | None = None
    """With ``die``: a file; the server dies only if it does not exist yet (and creates it), so a
    restarted server survives: one death, then a healthy engine."""
    child_processes: int = 0
    """Worker processes the server forks at start and that outlive it if nobody stops them (like
    vLLM's EngineCore): what an engine cleanup must also stop."""
    parent_watch: bool = True
    """Exit when the parent process changes. Off, the server behaves like a real engine, which does
    not notice that servemark died (what the engine watchdog is for)."""
    stall_s: float = 1.0
    max_concurrent: int | None = None
    """Serve at most this many requests at once; the rest wait their turn (FIFO) and their timings
    start when served. With it the server has a known capacity, ``max_concurrent`` divided by one
    request's service time, which SLO searches are checked against. None: no limit."""
    record_truth: bool = True
    """Keep per-chunk send times (turn off for pure capacity runs: saves memory)."""

    def __post_init__(self) -> None:
        bad = (set(self.faults) | set(self.always)) - set(FAULT_KINDS)
        if bad:
            raise ValueError(f"unknown fault kinds {sorted(bad)}; known: {FAULT_KINDS}")
        if not self.tokens_per_chunk or min(self.tokens_per_chunk) < 1:
            raise ValueError("tokens_per_chunk must be a non-empty list of integers >= 1")
        self._fault_at = {i: k for k, idx in self.faults.items() for i in idx}

    def fault_for(self, arrival: int) -> str | None:
        return self._fault_at.get(arrival) or (self.always[0] if self.always else None)

    def chunk_sizes(self, max_tokens: int) -> list[int]:
        sizes, left, i = [], max_tokens, 0
        while left > 0:
            n = min(self.tokens_per_chunk[i % len(self.tokens_per_chunk)], left)
            sizes.append(n)
            left -= n
            i += 1
        return sizes

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d)

    @classmethod
    def from_json(cls, s: str) -> "CalibrationPlan":
        d: dict[str, Any] = json.loads(s)
        return cls(**d)
