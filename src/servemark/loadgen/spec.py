"""What a load run asks for (LoadSpec) and what it gives back (LoadResult).

Both are plain dataclasses so a point can be described, written and replayed without the code
that ran it. The API key is the one field that must never leave memory: it is excluded from
``repr`` and from ``to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from servemark.errors import ServemarkError
from servemark.records import RequestRecord
from servemark.workload import Prompt
from servemark.workload.session import Session

Api = Literal["completions", "chat"]
Mode = Literal["closed", "open", "sessions"]
Arrival = Literal["constant", "poisson", "gamma"]


@dataclass
class LoadSpec:
    base_url: str
    model: str
    prompts: list[Prompt]
    api: Api = "completions"
    concurrency: int = 1
    """Closed loop: virtual users, each sending its next request as soon as the last one ends.
    Open loop: cap on requests in flight (0 = no cap); time spent waiting for a slot counts in
    latency because latency starts at the scheduled time."""
    num_requests: int = 10
    """Measured requests (0 = unlimited, then ``duration_s`` must stop the run)."""
    num_warmup: int = 0
    """Requests sent first, closed loop at ``concurrency``, marked ``warmup`` and never measured."""
    mode: Mode = "closed"
    request_rate: float | None = None
    """Open loop: mean arrivals per second."""
    arrival: Arrival = "poisson"
    burstiness: float = 1.0
    """Gamma shape of inter-arrival times (1 = Poisson, < 1 burstier, > 1 more regular)."""
    ramp_up_s: float = 0.0
    """Closed loop: users start evenly spread over this time. Open loop: the rate rises linearly
    from 0 to ``request_rate`` over this time."""
    duration_s: float | None = None
    """Stop scheduling new measured requests after this many seconds (in-flight ones finish)."""
    timeout_s: float = 600.0
    """Whole-request timeout (connect to last byte)."""
    ignore_eos: bool = True
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    """Client processes, one event loop each; 1 runs in the calling process."""
    point_id: str = "p"
    seed: int = 0
    chat_template: str | None = None
    """Chat API only: a Jinja chat template sent as ``chat_template`` (vLLM); None = server's."""
    continuous_usage: bool = False
    """Ask for usage in every chunk (``stream_options.continuous_usage_stats``) so multi-token
    chunks are counted exactly. Off by default because it costs the server: on vLLM CPU it
    raised median TPOT by 2-7% (measured here). Off, a chunk with text counts one token and, when
    the server's final total is larger, the surplus is spread evenly over the chunks."""
    monitor_interval_s: float = 0.01
    """Event-loop lag probe period."""
    offsets: list[float] | None = None
    """Trace replay (open loop): the measured requests' send times, s from the phase start, in
    place of a drawn schedule; ``prompts[num_warmup + i]`` is sent at ``offsets[i]``."""
    sessions: list[Session] | None = None
    """Session workloads (``mode="sessions"``): run after warmup; ``concurrency`` sessions at once
    when they have no start times, else each at its ``start_s`` (``concurrency`` 0 = no cap)."""
    transport: str = "auto"
    """``auto``: servemark's protocol-level HTTP client for http:// (lowest overhead), aiohttp for
    https://; ``aiohttp``: always aiohttp."""

    def validate(self) -> None:
        where = f"load spec (point {self.point_id})"
        if not self.prompts and not (self.sessions and not self.num_warmup):
            raise ServemarkError(f"{where}: prompts is empty")
        if self.mode == "sessions" and not self.sessions:
            raise ServemarkError(f"{where}: mode 'sessions' needs sessions")
        if self.offsets is not None and len(self.prompts) < self.num_warmup + len(self.offsets):
            raise ServemarkError(f"{where}: {len(self.offsets)} offsets need {self.num_warmup + len(self.offsets)} prompts")
        if self.api not in ("completions", "chat"):
            raise ServemarkError(f"{where}: api must be 'completions' or 'chat', got {self.api!r}")
        if self.mode not in ("closed", "open", "sessions"):
            raise ServemarkError(f"{where}: mode must be 'closed', 'open' or 'sessions', got {self.mode!r}")
        if self.arrival not in ("constant", "poisson", "gamma"):
            raise ServemarkError(f"{where}: arrival must be constant|poisson|gamma, got {self.arrival!r}")
        if self.mode == "closed" and self.concurrency < 1:
            raise ServemarkError(f"{where}: concurrency must be >= 1 in closed loop")
        if self.mode == "open" and self.offsets is None and not (self.request_rate and self.request_rate > 0):
            raise ServemarkError(f"{where}: open loop needs request_rate > 0")
        if self.burstiness <= 0:
            raise ServemarkError(f"{where}: burstiness must be > 0")
        if self.num_requests < 0 or self.num_warmup < 0:
            raise ServemarkError(f"{where}: num_requests and num_warmup must be >= 0")
        if self.num_requests == 0 and not self.duration_s and self.mode == "closed":
            raise ServemarkError(f"{where}: num_requests 0 needs duration_s")
        if self.transport not in ("auto", "aiohttp"):
            raise ServemarkError(f"{where}: transport must be 'auto' or 'aiohttp', got {self.transport!r}")
        if not self.base_url.startswith(("http://", "https://")):
            raise ServemarkError(f"{where}: base_url must start with http:// or https://, got {self.base_url!r}")
        for k, v in list(self.headers.items()) + [("api_key", self.api_key or "")]:
            if any(c in str(k) + str(v) for c in "\r\n"):
                raise ServemarkError(f"{where}: header {k!r} contains a line break")
        if self.workers < 1:
            raise ServemarkError(f"{where}: workers must be >= 1")
        if self.api == "chat":
            for i, p in enumerate(self.prompts):
                if p.messages is None and p.text is None:
                    raise ServemarkError(f"{where}: prompt {i} has neither text nor messages (chat API)")
        else:
            for i, p in enumerate(self.prompts):
                if p.text is None and p.token_ids is None:
                    raise ServemarkError(f"{where}: prompt {i} has neither text nor token_ids")

    def to_dict(self) -> dict[str, Any]:
        """Serialisable description; the API key is left out on purpose, prompts summarised."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("api_key", "prompts", "sessions", "offsets"):
                continue
            out[f.name] = getattr(self, f.name)
        out["num_prompts"] = len(self.prompts)
        out["num_sessions"] = len(self.sessions) if self.sessions else 0
        out["num_offsets"] = len(self.offsets) if self.offsets is not None else 0
        out["headers"] = {k: ("***" if k.lower() in ("authorization", "api-key", "x-api-key") else v)
                          for k, v in self.headers.items()}
        return out


@dataclass
class LoadResult:
    records: list[RequestRecord]
    client: dict[str, Any] = field(default_factory=dict)
    """Client self-diagnostics: event-loop lag, CPU, schedule lag, ``saturated``."""
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> list[RequestRecord]:
        return [r for r in self.records if not r.warmup]
