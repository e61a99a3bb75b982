"""The four-resource breakdown of one phase: compute, memory capacity, memory bandwidth, communication.

For a model, a GPU, a precision and a TP/EP layout, each phase (prefill of ``isl`` tokens, or one
decode step at a batch and KV length) needs FLOPs, bytes read, bytes resident and bytes sent; each
takes a time on the GPU; the longest binds. The source article (sources.md section 4) adds four
rule-of-thumb checks: MFU < 60 % (compute not saturated), memory > 85 % (OOM risk),
memory-time / compute-time > 0.5 and comm-time / compute-time > 0.5 (that resource dominates).

Two modes:

* ``article`` reproduces the article's own DeepSeek-V3/R1 formulas and its unit habits:
  non-attention active params = 37B - 11.4B, prefill attention as MHA over s/2 keys, decode MLA
  absorbed, 576 B/token/layer FP8 cache, EP traffic ``2 d (k-1)`` BF16 per MoE layer with k = 9,
  TP traffic ``2 d (TP-1)/TP`` BF16 per layer, traffic in GiB divided by a *bidirectional*
  900 GB/s.
* ``corrected`` (default) fixes what roofline.md Part B found: attention-projection GEMM FLOPs
  counted, exact GEMM-active params, ring all-reduce ``2 (TP-1)/TP``, EP remote fraction
  ``(EP-1)/EP`` with FP8 dispatch + BF16 combine, FlashMLA's 656 B/token/layer cache, decimal
  units, per-direction link bandwidth, and decode memory traffic (weights + cache) modelled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from servemark.errors import ServemarkError
from servemark.sol.hardware import Accelerator, load_catalogue
from servemark.modelspec.catalogue import PUBLISHED
from servemark.modelspec.architecture import ModelArchitecture, load_architecture
from servemark.sol.precision import profile_for
from servemark.sol.serving import experts_touched

GIB = 1024 ** 3
THRESHOLDS = {"mfu_min": 0.60, "memory_max": 0.85, "mem_to_compute_max": 0.5, "comm_to_compute_max": 0.5}
ARTICLE_RESERVE_GB = 10.0


@dataclass
class Resource:
    name: str
    amount: float
    unit: str
    time_s: float | None
    note: str = ""


@dataclass
class PhaseBreakdown:
    phase: str
    mode: str
    model: str
    hardware: str
    precision: str
    n_gpu: int
    rows: list[Resource] = field(default_factory=list)
    memory_fraction: float = 0.0
    """Resident bytes per GPU / nominal memory."""
    binding: str = ""
    ratios: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def row(self, name: str) -> Resource:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        return asdict(self)


def _article_non_attn_active(spec: ModelArchitecture) -> float:
    pub = PUBLISHED.get(spec.name, {}).get("active")
    if pub is None:
        return float(spec.active_params_with_embedding - spec.attn_params)
    return (pub - round(spec.attn_params / 1e9, 1)) * 1e9


def breakdown(model: str | ModelArchitecture, hw: str | Accelerator, precision: str = "fp8", phase: str = "decode",
              isl: int = 1024, osl: int = 0, batch: int = 1, kv_len: int | None = None, tp: int = 1, ep: int = 1,
              mode: str = "corrected") -> PhaseBreakdown:
    """Per-GPU demand of one phase and the time each resource alone would take.

    prefill: ``batch`` prompts of ``isl`` tokens. decode: one step of ``batch`` sequences at
    ``kv_len`` cached tokens (default isl + osl). The deployment has max(tp, ep) GPUs."""
    spec = model if isinstance(model, ModelArchitecture) else load_architecture(model)
    acc = hw if isinstance(hw, Accelerator) else load_catalogue()[hw]
    if phase not in ("prefill", "decode"):
        raise ServemarkError(f"phase must be prefill or decode, not {phase!r}")
    if mode not in ("article", "corrected"):
        raise ServemarkError(f"mode must be article or corrected, not {mode!r}")
    n = max(tp, ep, 1)
    d = spec.d_model
    moe = spec.moe_layers
    n_moe = len(moe)
    k = moe[0].top_k if moe else 0
    L = kv_len if kv_len is not None else isl + osl
    peak = acc.peak_flops(precision)
    bw = acc.hbm_bytes_per_s
    out = PhaseBreakdown(phase, mode, spec.name, acc.key, precision, n)
    mla = spec.layers[0].attention == "mla"
    tokens = batch * (isl if phase == "prefill" else 1)

    if mode == "article":
        if not mla:
            raise ServemarkError("article mode reproduces the DeepSeek (MLA + MoE) formulas only")
        cfg = spec.config
        n_h, d_h, d_c, d_r = spec.n_heads, cfg["qk_nope_head_dim"], cfg["kv_lora_rank"], cfg["qk_rope_head_dim"]
        N = spec.n_layers
        na = 2 * _article_non_attn_active(spec) * tokens
        if phase == "prefill":
            attn = N * 2 * batch * (isl / 2) * n_h * (2 * d_h + d_r) * isl
        else:
            attn = N * 2 * batch * L * n_h * (2 * d_c + d_r)
        flops = na + attn
        kv_bytes = N * (d_c + d_r) * 1 * batch * (isl if phase == "prefill" else L)
        weights = spec.total_params * 1.0  # FP8, scales ignored
        k_art = k + int(cfg.get("n_shared_experts") or 0)  # the article's k = 9 counts the shared expert
        ep_bytes = n_moe * 2 * tokens * d * (k_art - 1) * 2
        tp_bytes = N * 2 * tokens * d * 2 * (tp - 1) / tp if tp > 1 else 0.0
        comm_bytes = ep_bytes if ep > 1 else tp_bytes
        bidir = 2 * acc.scaleup_gbps_per_direction * 1e9 if acc.scaleup_gbps_per_direction else 1.0
        comm_time = (comm_bytes / GIB) * 1e9 / bidir if comm_bytes else 0.0
        t_comp = flops / (peak * n)
        mem_read = 0.0  # the article does not model decode memory traffic
        out.rows = [
            Resource("compute", flops / 1e9, "GFLOP", t_comp, "2 x (37B - 11.4B) x tokens + MHA/MLA attention"),
            Resource("memory_capacity", (weights + kv_bytes) / 1e9 / n + ARTICLE_RESERVE_GB, "GB/GPU", None,
                     "FP8 weights + 576 B/token/layer cache + 10 GB reserve"),
            Resource("memory_bandwidth", mem_read, "GB", 0.0, "not modelled by the article"),
            Resource("communication", comm_bytes / GIB, "GiB", comm_time,
                     "EP 2d(k-1) BF16, k=9" if ep > 1 else "TP 2d(TP-1)/TP BF16"),
            Resource("kv_cache", kv_bytes / 1e9, "GB", None, "N x 576 B x b x s"),
            Resource("ep_traffic_per_token", n_moe * 2 * d * (k) * 2 / GIB, "GiB", None, "58 x 2 x d x (9-1) x 2 B"),
            Resource("tp_traffic_per_token", N * 2 * d * 2 / GIB, "GiB", None,
                     "N x 2 x d x 2 B, as tabulated; multiply by (TP-1)/TP"),
        ]
        t_mem = 0.0
        resident = (weights + kv_bytes) / n + ARTICLE_RESERVE_GB * 1e9
    else:
        prof = profile_for(spec, precision, "realistic")
        kvb = prof.kv_bytes_per_token_layer(spec)
        if phase == "prefill":
            flops = tokens * spec.gemm_flops_per_token() + batch * float(spec.attn_flops_prefill(isl))
            touched = float(experts_touched(moe[0].n_experts, k, tokens)) if moe else 0.0
            kv_bytes = batch * float(spec.kv_bytes_for_context(isl, kvb))
            mem_read = prof.weight_bytes_dense(spec) + n_moe * touched * prof.expert_bytes_each(spec) + kv_bytes
        else:
            flops = batch * (spec.gemm_flops_per_token() + float(spec.attn_flops_decode(L)))
            touched = float(experts_touched(moe[0].n_experts, k, batch)) if moe else 0.0
            kv_bytes = batch * float(spec.kv_bytes_for_context(L, kvb))
            mem_read = prof.weight_bytes_dense(spec) + n_moe * touched * prof.expert_bytes_each(spec) + kv_bytes
        weights = prof.weight_bytes_total(spec)
        tp_bytes = (spec.n_layers * 2 * 2 * (tp - 1) / tp * tokens * d * prof.combine_bytes) if tp > 1 else 0.0
        ep_bytes = (n_moe * (tokens / n) * k * (ep - 1) / ep * d * (prof.dispatch_bytes + prof.combine_bytes)
                    if ep > 1 and moe else 0.0)
        comm_bytes = tp_bytes + ep_bytes
        link = acc.scaleup_bytes_per_s_per_direction or acc.scaleout_bytes_per_s or 1.0
        comm_time = comm_bytes / link if comm_bytes else 0.0
        t_comp = flops / (peak * n)
        t_mem = mem_read / (bw * n)
        resident = (weights + kv_bytes) / n
        out.rows = [
            Resource("compute", flops / 1e9, "GFLOP", t_comp, "GEMM-active params incl. attention projections + attention core"),
            Resource("memory_capacity", resident / 1e9, "GB/GPU", None, "weights (realistic bytes) + cache"),
            Resource("memory_bandwidth", mem_read / 1e9, "GB", t_mem, "weights touched + cache read, once per step"),
            Resource("communication", comm_bytes / 1e9, "GB/GPU", comm_time,
                     "ring all-reduce 2(TP-1)/TP + EP (EP-1)/EP, FP8 dispatch + BF16 combine, per direction"),
            Resource("kv_cache", kv_bytes / 1e9, "GB", None, f"{float(kvb[0]):.0f} B/token/layer"),
        ]
    out.memory_fraction = resident / acc.memory_bytes
    times = {"compute": t_comp, "memory_bandwidth": t_mem, "communication": comm_time}
    out.binding = max(times, key=times.get)
    step = max(times.values()) or 1.0
    out.ratios = {
        "mfu_if_overlapped": t_comp / step,
        "memory_fraction": out.memory_fraction,
        "mem_time_to_compute_time": t_mem / t_comp if t_comp else 0.0,
        "comm_time_to_compute_time": comm_time / t_comp if t_comp else 0.0,
    }
    if out.ratios["mfu_if_overlapped"] < THRESHOLDS["mfu_min"]:
        out.flags.append("compute not saturated (MFU < 60%)")
    if out.memory_fraction > THRESHOLDS["memory_max"]:
        out.flags.append("memory > 85%: OOM risk")
    if out.ratios["mem_time_to_compute_time"] > THRESHOLDS["mem_to_compute_max"]:
        out.flags.append("memory traffic dominates (mem/compute > 0.5)")
    if out.ratios["comm_time_to_compute_time"] > THRESHOLDS["comm_to_compute_max"]:
        out.flags.append("communication dominates (comm/compute > 0.5)")
    return out
