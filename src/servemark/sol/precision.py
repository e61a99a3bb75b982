"""Bytes per parameter and per cache element for a run's precision, scale overhead included.

Two profiles:

* ``strict`` -- the fewest bytes any engine could read for that precision label: every GEMM
  weight in the label's format (FP4 = 4 bit + one E8M0 scale per 32, the leaner of MXFP4/NVFP4),
  FP8 KV cache with the bare MLA latent (576 B/token/layer for DeepSeek). It must never
  over-count, because the strict bound has to sit above every measurement.
* ``realistic`` -- what the published checkpoints and engines actually hold: DeepSeek FP8 is
  FP8 with 128x128 block scales and BF16 embeddings; "fp4" DeepSeek quantises only the routed
  experts (NVFP4: 4 bit + FP8 scale per 16), attention stays FP8; the FP8 MLA cache as FlashMLA
  stores it is 656 B/token/layer (512 FP8 + 16 scale + 128 BF16 rope).
"""

from __future__ import annotations

from dataclasses import dataclass

from servemark.sol.hardware import _norm_precision
from servemark.modelspec.architecture import ModelArchitecture

BYTES_PER_PARAM = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "fp8_block": 1.0 + 4.0 / (128 * 128),   # FP32 scale per 128x128 block
    "nvfp4": 0.5 + 1.0 / 16,                # FP8 scale per 16 elements
    "mxfp4": 0.5 + 1.0 / 32,                # E8M0 scale per 32 elements
    "int4_g128": 0.5 + 2.0 / 128,           # BF16 scale per group of 128
}


KNOWN_PRECISIONS = ("fp4", "fp8", "int8", "bf16", "fp16", "fp32")
"""Precision labels the SOL model knows (after aliases: nvfp4/mxfp4 -> fp4, e4m3 -> fp8, ...)."""


def check_precision(precision: str) -> str:
    """``precision`` if the SOL model knows it (aliases accepted), else an error listing the valid ones."""
    from servemark.errors import ServemarkError

    if _norm_precision(precision) not in KNOWN_PRECISIONS:
        raise ServemarkError(f"unknown precision {precision!r}; known: {', '.join(KNOWN_PRECISIONS)} "
                             "(aliases: nvfp4, mxfp4, e4m3, bfloat16, float16, ...)")
    return precision


@dataclass(frozen=True)
class PrecisionProfile:
    """Bytes per parameter for each tensor class, and per cached token per layer."""

    label: str
    profile: str
    attn_bytes: float
    dense_ffn_bytes: float
    expert_bytes: float
    lm_head_bytes: float
    kv_bytes_per_elem: float
    activation_bytes: float
    dispatch_bytes: float
    """Bytes per element sent to experts (EP dispatch)."""
    combine_bytes: float
    """Bytes per element sent back (EP combine) and in TP all-reduce."""
    mla_kv_layout_bytes: float | None = None
    """Whole-token-per-layer MLA cache size when the layout is not elems x bytes (656 B)."""

    def weight_bytes_dense(self, spec: ModelArchitecture) -> float:
        """Bytes of the always-read weights (attention, dense FFN/shared experts, routers, lm_head)."""
        return (spec.attn_params * self.attn_bytes + spec.dense_ffn_params * self.dense_ffn_bytes
                + spec.router_params * self.attn_bytes + spec.lm_head_params * self.lm_head_bytes)

    def weight_bytes_total(self, spec: ModelArchitecture) -> float:
        return self.weight_bytes_dense(spec) + spec.expert_params_total * self.expert_bytes

    def expert_bytes_each(self, spec: ModelArchitecture) -> float:
        """Bytes of one routed expert summed over all MoE layers / number of MoE layers (mean)."""
        moe = spec.moe_layers
        return (sum(l.expert_params for l in moe) / len(moe)) * self.expert_bytes if moe else 0.0

    def kv_bytes_per_token_layer(self, spec: ModelArchitecture):
        import numpy as np

        elems = spec.kv_elems_per_token()
        if self.mla_kv_layout_bytes and spec.layers and spec.layers[0].attention == "mla":
            return np.full_like(elems, self.mla_kv_layout_bytes)
        return elems * self.kv_bytes_per_elem


def profile_for(spec: ModelArchitecture, precision: str, profile: str = "strict") -> PrecisionProfile:
    """The byte sizes a run labelled ``precision`` (``bf16``, ``fp8``, ``fp4``) reads."""
    p = _norm_precision(precision)
    if profile == "strict":
        w = {"fp4": BYTES_PER_PARAM["mxfp4"], "fp8": 1.0, "int8": 1.0}.get(p, 2.0)
        return PrecisionProfile(label=p, profile="strict", attn_bytes=w, dense_ffn_bytes=w, expert_bytes=w,
                                lm_head_bytes=w, kv_bytes_per_elem=1.0, activation_bytes=1.0,
                                dispatch_bytes=0.5 if p == "fp4" else 1.0, combine_bytes=1.0)
    if profile != "realistic":
        raise ValueError(f"unknown precision profile {profile!r}")
    mla656 = 656.0 if spec.layers and spec.layers[0].attention == "mla" else None
    if p == "fp4":
        dense = BYTES_PER_PARAM["fp8_block"] if spec.weight_format.startswith("fp8") else 2.0
        if spec.weight_format == "mxfp4_experts":
            dense = 2.0
        return PrecisionProfile(label=p, profile="realistic", attn_bytes=dense, dense_ffn_bytes=dense,
                                expert_bytes=BYTES_PER_PARAM["nvfp4"], lm_head_bytes=2.0, kv_bytes_per_elem=1.0,
                                activation_bytes=2.0, dispatch_bytes=1.0, combine_bytes=2.0,
                                mla_kv_layout_bytes=mla656)
    if p in ("fp8", "int8"):
        w = BYTES_PER_PARAM["fp8_block"]
        return PrecisionProfile(label=p, profile="realistic", attn_bytes=w, dense_ffn_bytes=w, expert_bytes=w,
                                lm_head_bytes=2.0, kv_bytes_per_elem=1.0, activation_bytes=2.0,
                                dispatch_bytes=1.0, combine_bytes=2.0, mla_kv_layout_bytes=mla656)
    return PrecisionProfile(label=p, profile="realistic", attn_bytes=2.0, dense_ffn_bytes=2.0, expert_bytes=2.0,
                            lm_head_bytes=2.0, kv_bytes_per_elem=2.0, activation_bytes=2.0,
                            dispatch_bytes=2.0, combine_bytes=2.0)
