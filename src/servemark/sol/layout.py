"""A parallel layout and the efficiency factors that turn a strict bound into an estimate.

Both are plain dataclasses so a frontier point can say which layout attains it, and a fitted set
of efficiencies can be written to JSON and read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class CandidateLayout:
    """How one serving instance is laid out.

    ``n_gpu`` is the GPUs of one aggregated instance, or of one *decode* instance when
    ``disagg``; ``prefill_per_decode_gpu`` is the prefill:decode GPU ratio of a disaggregated
    deployment (``None`` lets the strict bound pick the best ratio).
    """

    n_gpu: int = 1
    tp: int | None = None
    ep: int = 1
    dp_attention: bool = False
    disagg: bool = False
    mtp_k: int = 0
    prefill_per_decode_gpu: float | None = None

    @property
    def tp_eff(self) -> int:
        return self.tp or self.n_gpu

    def label(self) -> str:
        parts = ["disagg" if self.disagg else "agg", f"{self.n_gpu}gpu"]
        if self.tp and self.tp != self.n_gpu or self.ep > 1 or self.dp_attention:
            parts.append(f"tp{self.tp_eff}")
        if self.ep > 1:
            parts.append(f"ep{self.ep}")
        if self.dp_attention:
            parts.append("dpa")
        if self.mtp_k:
            parts.append(f"mtp{self.mtp_k}")
        if self.disagg and self.prefill_per_decode_gpu is not None:
            parts.append(f"p:d={self.prefill_per_decode_gpu:.2f}")
        return "-".join(parts)

    def with_(self, **kw) -> "CandidateLayout":
        return replace(self, **kw)


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions of peak and fixed costs. ``Efficiency()`` is the strict bound.

    Kept apart from the hardware peaks on purpose (roofline.md D.3): a fitted 0.7 of HBM
    bandwidth is a property of today's kernels, not of the GPU.
    """

    eta_flops: float = 1.0
    """Fraction of dense peak FLOP/s reached by decode GEMMs and attention."""
    eta_prefill: float = 1.0
    """Fraction of dense peak FLOP/s reached by prefill."""
    eta_hbm: float = 1.0
    eta_link: float = 1.0
    t_layer_s: float = 0.0
    """Fixed cost per layer per step (kernel launches, collective latency), seconds."""
    t_step_s: float = 0.0
    """Fixed cost per step (scheduler, sampling), seconds."""
    t_collective_s: float = 0.0
    """Latency of one collective (all-reduce, EP dispatch or combine) per log2(group size), inside
    the scale-up domain, seconds."""
    internode_latency_x: float = 1.0
    """Collective latency multiplier when the group spans more than one scale-up domain."""
    amd_scale: float = 1.0
    """Multiplier on every efficiency for AMD parts (software-stack maturity, fitted on AMD rows)."""
    mtp_accept: float = 1.0
    """Conditional acceptance of each draft position; AL(k) = sum_{i=0..k} a^i."""
    moe_imbalance: float = 1.0
    """Max/mean tokens per expert GPU."""
    mem_util: float = 1.0
    """Fraction of nominal memory usable for weights + cache."""
    framework_scale: tuple[tuple[str, float], ...] = ()
    """(engine, multiplier on every efficiency) pairs: one engine's kernels and scheduler against
    the fitted average. Engines not listed get 1."""
    overlap: bool = True
    """True: step time = max(compute, memory, comm) (strict). False: per-op-class rooflines add up."""

    @property
    def strict(self) -> bool:
        return self == Efficiency()

    def for_framework(self, framework: str) -> "Efficiency":
        """These efficiencies with the engine's multiplier folded in (capped at 1)."""
        f = dict(self.framework_scale).get(framework, 1.0)
        if f == 1.0 and not self.framework_scale:
            return self
        return replace(self, eta_flops=min(1.0, self.eta_flops * f), eta_prefill=min(1.0, self.eta_prefill * f),
                       eta_hbm=min(1.0, self.eta_hbm * f), framework_scale=())

    def acceptance_length(self, k: int) -> float:
        return float(sum(self.mtp_accept ** i for i in range(k + 1)))

    def to_dict(self) -> dict:
        return asdict(self)


STRICT = Efficiency()

# Starting point for calibration (roofline.md D.3 ranges); `calibrate.fit` refines it.
DEFAULT_CALIBRATED = Efficiency(eta_flops=0.5, eta_prefill=0.6, eta_hbm=0.7, eta_link=0.7, t_layer_s=30e-6,
                                t_step_s=1e-3, t_collective_s=10e-6, internode_latency_x=3.0, amd_scale=1.0,
                                mtp_accept=0.7, moe_imbalance=1.2, mem_util=0.85, overlap=False)
