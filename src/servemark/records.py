"""The request record: one line per request, the raw material of every metric.

Times are seconds on the client's monotonic clock (``time.perf_counter_ns() / 1e9``), taken
relative to nothing in particular: only differences are meaningful. ``scheduled_at`` is when the
request *should* have started (open loop: its slot in the precomputed schedule; closed loop: the
moment a concurrency slot freed up), ``sent_at`` when the HTTP request actually went out. Latency
counts from ``scheduled_at`` so client-side queueing is never hidden (coordinated omission).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class RequestRecord:
    point_id: str
    request_id: int
    scheduled_at: float
    sent_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    done_at: float | None = None
    prompt_tokens: int | None = None
    """Prompt length as the server counted it (``usage.prompt_tokens``)."""
    output_tokens: int | None = None
    """Output length as the server counted it (``usage.completion_tokens``)."""
    client_prompt_tokens: int | None = None
    """Prompt length as the client's tokenizer built it; compared with ``prompt_tokens``."""
    client_output_tokens: int | None = None
    """Output length the client counted from the stream (chunks carrying text)."""
    max_tokens: int | None = None
    """The request's ``max_tokens``: usage above it is impossible (``bad_usage``)."""
    chunk_times: list[float] = field(default_factory=list)
    """Arrival time of every chunk that carried at least one token."""
    chunk_tokens: list[int] = field(default_factory=list)
    """Tokens carried by each chunk in ``chunk_times`` (1 unless the server batches tokens)."""
    error: str | None = None
    """``None`` on success, else the failure kind, e.g. ``http_500``, ``disconnect``, ``timeout``."""
    error_detail: str | None = None
    warmup: bool = False
    """Warmup requests are recorded but excluded from the benchmark window and every metric."""
    cached_tokens: int | None = None
    """Prompt tokens the server served from its prefix cache
    (``usage.prompt_tokens_details.cached_tokens``); None when it does not say."""
    session_id: int | None = None
    """Session workloads: the session (sub-agents have their own); None for single requests."""
    turn: int | None = None
    """Session workloads: the turn's index in its session (0 = first)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RequestRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
