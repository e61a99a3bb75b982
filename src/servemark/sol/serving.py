"""Steady-state serving curves: throughput per GPU against interactivity for ONE layout.

The per-step cost model of roofline.md D.2 and the serving model of D.6, vectorised over the
decode batch so a whole curve is a handful of numpy operations. Definitions are InferenceX's:
``tput_per_gpu`` counts input + output tokens per second per GPU (all GPUs of a disaggregated
deployment), interactivity is 1/TPOT in tok/s/user, and request lengths are uniform in
``[r*L, L]`` so their means are ``(1+r)/2 * L``.

Strict bound (``Efficiency()``): peak FLOP/s and HBM bandwidth, the leanest byte sizes of the
precision (:mod:`servemark.sol.precision`), weights and cache ideally sharded over the GPUs,
compute, memory traffic and prefill of the same step perfectly overlapped (step time = the max),
no communication time (any layout either communicates or replicates weights, and ideal sharding
already charges the smaller of the two), draft tokens always accepted (AL = k + 1), no TTFT in the
request cycle. Anything a real engine does can only be slower.

Calibrated estimate: the realistic bytes, the actual TP/EP/DP-attention split (MLA caches
replicate across TP ranks, DP-attention replicates attention weights), per-op-class rooflines that
add up, all-reduce / all-to-all time at fitted link efficiency, fixed per-layer and per-step costs,
and a fitted draft acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from servemark.sol.hardware import Accelerator
from servemark.sol.layout import STRICT, Efficiency, CandidateLayout
from servemark.modelspec.architecture import ModelArchitecture
from servemark.sol.precision import profile_for


@dataclass
class Curve:
    layout: CandidateLayout
    intvty: np.ndarray
    """tok/s/user (= AL / step time)."""
    tput_per_gpu: np.ndarray
    """input + output tok/s per GPU."""
    conc: np.ndarray
    """concurrent requests on the instance (decode instance when disaggregated)."""
    batch_per_gpu: np.ndarray
    times_s: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-step time each resource alone would take: compute, memory, comm, prefill, overhead."""
    feasible: bool = True
    note: str = ""

    def binding(self) -> list[str]:
        keys = [k for k in ("compute", "memory", "comm") if k in self.times_s]
        stack = np.vstack([self.times_s[k] for k in keys])
        return [keys[i] for i in stack.argmax(axis=0)]


def mean_lengths(isl: float, osl: float, range_ratio: float = 0.8) -> tuple[float, float]:
    f = (1.0 + range_ratio) / 2.0
    return isl * f, osl * f


def experts_touched(n_experts: int, top_k: int, tokens: np.ndarray) -> np.ndarray:
    """Expected distinct experts hit by ``tokens`` tokens routing top-k of E uniformly (coupon collector)."""
    if not n_experts:
        return np.zeros_like(tokens, dtype=float)
    return n_experts * (1.0 - (1.0 - top_k / n_experts) ** np.asarray(tokens, dtype=float))


def _link_time(hw: Accelerator, n: int, bytes_: np.ndarray, eta: float) -> np.ndarray:
    """Per-direction transfer time; the part of an ``n``-GPU group beyond the scale-up domain
    crosses the scale-out NIC."""
    if n <= 1:
        return np.zeros_like(bytes_)
    su = hw.scaleup_bytes_per_s_per_direction or hw.scaleout_bytes_per_s or 1.0
    so = hw.scaleout_bytes_per_s or su
    f_out = max(0.0, (n - hw.domain) / n) if n > hw.domain else 0.0
    return bytes_ * ((1 - f_out) / su + f_out / so) / eta


def _coll_latency(hw: Accelerator, n: int, eff: Efficiency) -> float:
    """One collective's latency: grows with log2 of the group (more hops / peers), times a
    multiplier once the group leaves the scale-up domain."""
    return eff.t_collective_s * np.log2(max(n, 2)) * (eff.internode_latency_x if n > hw.domain else 1.0)


def curve(spec: ModelArchitecture, hw: Accelerator, precision: str, isl: float, osl: float, layout: CandidateLayout,
          eff: Efficiency = STRICT, range_ratio: float = 0.8, n_points: int = 64,
          batch_per_gpu: np.ndarray | None = None) -> Curve:
    strict = eff.strict
    if not strict and hw.vendor == "amd" and eff.amd_scale != 1.0:
        a = eff.amd_scale
        eff = replace(eff, eta_flops=min(1.0, eff.eta_flops * a), eta_prefill=min(1.0, eff.eta_prefill * a),
                      eta_hbm=min(1.0, eff.eta_hbm * a), amd_scale=1.0)
    prof = profile_for(spec, precision, "strict" if strict else "realistic")
    peak = hw.peak_flops(precision)
    bw = hw.hbm_bytes_per_s
    isl_m, osl_m = mean_lengths(isl, osl, range_ratio)
    L_mean = isl_m + osl_m / 2.0
    k = int(layout.mtp_k)
    q = k + 1
    AL = float(q) if strict else eff.acceptance_length(k)
    n = int(layout.n_gpu)
    tp = layout.tp_eff
    moe = spec.moe_layers
    n_moe = len(moe)
    E = moe[0].n_experts if moe else 0
    topk = moe[0].top_k if moe else 0
    exp_each = prof.expert_bytes_each(spec)  # bytes of one expert in one layer

    # weights resident and read per step (per GPU) --------------------------------------------
    w_attn = (spec.attn_params + spec.router_params) * prof.attn_bytes
    w_ffn = spec.dense_ffn_params * prof.dense_ffn_bytes
    w_head = spec.lm_head_params * prof.lm_head_bytes
    w_exp_total = spec.expert_params_total * prof.expert_bytes
    mtp_w = spec.mtp_params * prof.expert_bytes if k and spec.mtp_layers else 0.0
    mtp_dense_w = (mtp_w - (E * exp_each if E else 0.0)) if mtp_w else 0.0
    if strict:
        dense_read = (w_attn + w_ffn + w_head) / n
    elif layout.dp_attention:
        dense_read = w_attn + w_ffn + w_head / n
    else:
        dense_read = (w_attn + w_ffn + w_head) / tp
    resident = dense_read + w_exp_total / n + mtp_w / n

    # cache --------------------------------------------------------------------------------
    kvb = prof.kv_bytes_per_token_layer(spec)
    rep = 1.0
    if not strict and not layout.dp_attention and tp > 1:
        if spec.layers[0].attention == "mla":
            rep = float(tp)
        else:
            n_kv = int(spec.config.get("num_key_value_heads") or spec.n_heads)
            rep = tp / min(tp, n_kv)
    kv_seq_mean = float(spec.kv_bytes_for_context(L_mean, kvb))
    kv_seq_alloc = kv_seq_mean if strict else float(spec.kv_bytes_for_context(isl_m + osl_m, kvb))
    mem = hw.memory_bytes * (1.0 if strict else eff.mem_util)
    b_min = 1.0 / n
    b_max = (mem - resident) / (rep * kv_seq_alloc) if kv_seq_alloc > 0 else 1e6
    empty = np.zeros(0)
    if b_max < b_min and (batch_per_gpu is None or resident > hw.memory_bytes):
        return Curve(layout, empty, empty, empty, empty, feasible=False,
                     note=f"weights need {resident / 1e9:.1f} GB per GPU; memory {mem / 1e9:.1f} GB")
    if batch_per_gpu is None:
        b = np.geomspace(b_min, b_max, n_points)
    else:
        # more users than the cache holds: the engine runs what fits, the rest queue for memory
        b = np.asarray(batch_per_gpu, dtype=float)
        if not strict and b_max >= b_min:
            b = np.minimum(b, b_max)
    B_inst = b * n

    # FLOPs per GPU per step ---------------------------------------------------------------
    f_dense = 2.0 * (spec.dense_gemm_params + spec.lm_head_params) * b * q
    f_exp = 2.0 * spec.expert_params_active * b * q * (1.0 if strict else eff.moe_imbalance)
    f_attn = b * q * float(spec.attn_flops_decode(L_mean))
    f_draft = np.zeros_like(b)
    if k and spec.mtp_layers:
        per_layer_attn = float(spec.attn_flops_decode(L_mean)) / spec.n_layers
        e_p = moe[0].expert_params if moe else 0
        mtp_active = spec.mtp_params - E * e_p + topk * e_p  # the MTP block's own GEMM-active weights
        f_draft = k * b * (2.0 * (mtp_active + spec.lm_head_params) + per_layer_attn)

    # bytes per GPU per step ----------------------------------------------------------------
    touched = experts_touched(E, topk, B_inst * q)
    by_exp = n_moe * touched * exp_each / n
    by_dense = np.full_like(b, dense_read)
    by_kv = b * rep * kv_seq_mean
    by_draft = np.zeros_like(b)
    if mtp_w:
        by_draft = k * (mtp_dense_w / n + experts_touched(E, topk, B_inst) * exp_each / n + w_head / n)

    # prefill work (per request) -----------------------------------------------------------
    f_pre_req = isl_m * spec.gemm_flops_per_token() + float(spec.attn_flops_prefill(isl_m))
    pre_per_step = b * AL / osl_m  # new requests per GPU per decode step in steady state

    # communication per GPU per step (calibrated only) -------------------------------------
    comm = np.zeros_like(b)
    if not strict:
        d = spec.d_model
        if tp > 1 and not layout.dp_attention:
            # one all-reduce after attention and one after the FFN; a MoE layer under EP replaces
            # the second with the dispatch/combine pair below
            n_ar = 2 * spec.n_layers - (n_moe if layout.ep > 1 else 0)
            ar_bytes = n_ar * 2 * (tp - 1) / tp * B_inst * q * d * prof.combine_bytes
            lat = n_ar * _coll_latency(hw, tp, eff)
            comm = comm + _link_time(hw, tp, ar_bytes, eff.eta_link) + lat
        if layout.ep > 1 and n_moe:
            a2a = n_moe * b * q * topk * (layout.ep - 1) / layout.ep * d * (prof.dispatch_bytes + prof.combine_bytes)
            lat = 2 * n_moe * _coll_latency(hw, layout.ep, eff)
            comm = comm + _link_time(hw, layout.ep, a2a, eff.eta_link) + lat

    times: dict[str, np.ndarray] = {}
    f_total = f_dense + f_exp + f_attn + f_draft
    by_total = by_dense + by_exp + by_kv + by_draft
    if strict or eff.overlap:
        f_all = f_total + (0.0 if layout.disagg else pre_per_step * f_pre_req)
        t_comp = f_all / (peak * eff.eta_flops)
        t_mem = by_total / (bw * eff.eta_hbm)
        T = np.maximum(np.maximum(t_comp, t_mem), comm)
        t_pre = np.zeros_like(b)
        t_over = np.zeros_like(b)
    else:
        # each op class at the peak of the precision it really runs in: experts at the run's
        # precision, the other GEMMs at their weights' precision, the attention core in BF16
        pf_exp = peak * eff.eta_flops
        pf_dense = hw.peak_flops("fp8" if prof.attn_bytes <= 1.01 else "bf16") * eff.eta_flops
        pf_attn = hw.peak_flops("bf16") * eff.eta_flops
        pb = bw * eff.eta_hbm
        T = (np.maximum(f_dense / pf_dense, by_dense / pb) + np.maximum(f_exp / pf_exp, by_exp / pb)
             + np.maximum(f_attn / pf_attn, by_kv / pb) + np.maximum(f_draft / pf_dense, by_draft / pb))
        t_comp = f_dense / pf_dense + f_exp / pf_exp + f_attn / pf_attn + f_draft / pf_dense
        t_mem = by_total / pb
        t_over = np.full_like(b, spec.n_layers * (1 + k * 0.1) * eff.t_layer_s + eff.t_step_s)
        peak_p = hw.peak_flops("fp8" if prof.attn_bytes <= 1.01 else "bf16")
        t_pre = np.zeros_like(b) if layout.disagg else pre_per_step * f_pre_req / (peak_p * eff.eta_prefill)
        T = T + comm + t_over + t_pre
    times.update(compute=t_comp, memory=t_mem, comm=comm, prefill=t_pre, overhead=t_over, step=T)

    intvty = AL / T
    tok_per_req = isl_m + osl_m
    peak_pre = peak if strict else hw.peak_flops("fp8" if prof.attn_bytes <= 1.01 else "bf16")
    s_p = f_pre_req / (peak_pre * (eff.eta_prefill if not strict else 1.0))  # GPU-seconds per prompt
    if not layout.disagg:
        if strict:
            tput = b * AL / T * tok_per_req / osl_m
        else:
            ttft = s_p / n + T
            tput = b * tok_per_req / (ttft + osl_m * T / AL)
    else:
        if strict or layout.prefill_per_decode_gpu is None:
            r = b * AL / (T * osl_m) if strict else b / (s_p / n + osl_m * T / AL)
            tput = r * tok_per_req / (1.0 + r * s_p)
        else:
            rho = float(layout.prefill_per_decode_gpu)
            r_dec = b / (s_p / max(1.0, rho * n) + osl_m * T / AL)
            r = np.minimum(r_dec, rho / s_p)
            tput = r * tok_per_req / (1.0 + rho)
    return Curve(layout, intvty, tput, B_inst, b, times)
