"""A phase (warmup or measured) as one event loop must run it, and how a point splits into them.

The warmup phase is always closed loop. With several workers, closed-loop concurrency is split
evenly and request numbers come from one shared counter; the open-loop schedule is dealt out
round-robin (worker k owns every k-th arrival), so each worker keeps the same absolute times.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from servemark.loadgen.schedule import open_schedule
from servemark.loadgen.spec import LoadSpec
from servemark.workload.session import Session


@dataclass
class Phase:
    """What one event loop must do: closed loop pulls ids from a counter, open loop follows offsets."""

    mode: str
    warmup: bool
    first_id: int
    count: int
    """Requests in the phase (0 = unlimited, closed loop with a deadline)."""
    concurrency: int
    t0_ns: int = 0
    stop_after_s: float | None = None
    offsets: list[tuple[int, float]] = field(default_factory=list)
    """Open loop: (request_id, offset s from t0) owned by this loop."""
    ramp_up_s: float = 0.0
    user_offset: int = 0
    """Index of this loop's first virtual user among all workers' users (closed-loop ramp-up)."""
    total_users: int = 1
    sessions: list[tuple[int, Session]] = field(default_factory=list)
    """Session mode: (session number, session) owned by this loop."""


def plan_phases(spec: LoadSpec, workers: int) -> list[list[Phase]]:
    """Per phase (warmup, measured), one Phase per worker."""
    out: list[list[Phase]] = []
    shares = [spec.concurrency // workers + (1 if w < spec.concurrency % workers else 0) for w in range(workers)]
    if spec.num_warmup:
        wconc = max(1, min(spec.concurrency, spec.num_warmup))
        wshares = [wconc // workers + (1 if w < wconc % workers else 0) for w in range(workers)]
        out.append([Phase("closed", True, 0, spec.num_warmup, wshares[w]) for w in range(workers)])
    first = spec.num_warmup
    if spec.mode == "sessions":
        assert spec.sessions
        out.append([Phase("sessions", False, first, spec.num_requests, shares[w] if spec.concurrency > 0 else 0,
                          sessions=[(i, s) for i, s in enumerate(spec.sessions) if i % workers == w], user_offset=w)
                    for w in range(workers)])
    elif spec.mode == "closed":
        starts = list(itertools.accumulate([0] + shares[:-1]))
        out.append([Phase("closed", False, first, spec.num_requests, shares[w], stop_after_s=spec.duration_s,
                          ramp_up_s=spec.ramp_up_s, user_offset=starts[w], total_users=spec.concurrency)
                    for w in range(workers)])
    else:
        if spec.offsets is not None:
            offs = list(spec.offsets)
        else:
            assert spec.request_rate
            offs = open_schedule(spec.num_requests, spec.request_rate, spec.arrival, spec.burstiness,
                                 spec.seed, spec.ramp_up_s, spec.duration_s)
        cap_shares = shares if spec.concurrency > 0 else [0] * workers
        out.append([Phase("open", False, first, len(offs), cap_shares[w], stop_after_s=spec.duration_s,
                          offsets=[(first + i, o) for i, o in enumerate(offs) if i % workers == w])
                    for w in range(workers)])
    return out


def total_requests(spec: LoadSpec, phases: list[list[Phase]]) -> int:
    measured = phases[-1][0].count
    return spec.num_warmup + measured if measured else 0


START_MARGIN_S = 0.05
"""Phases start this far in the future so every worker gets the go before t0."""
