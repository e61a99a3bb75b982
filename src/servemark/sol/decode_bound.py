"""The simplest speed-of-light: one decode step must at least read the weights it uses.

``decode_step_floor_s`` = (weights read per step + cache read) / (HBM bandwidth x GPUs). For a
dense model at batch 1 that is the whole model once per token, so interactivity can never beat
``hbm_bw / weight_bytes``; for a MoE model only the experts the step's tokens touch are read.
Everything else (compute, communication, overheads) only makes a step slower.
"""

from __future__ import annotations

from servemark.sol.hardware import Accelerator, load_catalogue
from servemark.modelspec.architecture import ModelArchitecture, load_architecture
from servemark.sol.precision import profile_for
from servemark.sol.serving import experts_touched


def weight_bytes_read_per_step(spec: ModelArchitecture, precision: str = "bf16", tokens: int = 1,
                               profile: str = "strict") -> float:
    """Bytes of weights one decode step over ``tokens`` tokens reads (all GPUs together)."""
    prof = profile_for(spec, precision, profile)
    dense = prof.weight_bytes_dense(spec)
    moe = spec.moe_layers
    if not moe:
        return dense
    touched = float(experts_touched(moe[0].n_experts, moe[0].top_k, tokens))
    return dense + len(moe) * touched * prof.expert_bytes_each(spec)


def decode_step_floor_s(model: str | ModelArchitecture, hw: str | Accelerator, precision: str = "bf16",
                        batch: int = 1, kv_len: int = 0, n_gpu: int = 1) -> float:
    """Seconds per decode step at the HBM-bandwidth floor (weights + cache read once)."""
    spec = model if isinstance(model, ModelArchitecture) else load_architecture(model)
    acc = hw if isinstance(hw, Accelerator) else load_catalogue()[hw]
    prof = profile_for(spec, precision, "strict")
    kv = float(spec.kv_bytes_for_context(kv_len, prof.kv_bytes_per_token_layer(spec))) * batch if kv_len else 0.0
    return (weight_bytes_read_per_step(spec, precision, batch) + kv) / (acc.hbm_bytes_per_s * n_gpu)


def max_decode_intvty(model: str | ModelArchitecture, hw: str | Accelerator, precision: str = "bf16",
                      kv_len: int = 0, n_gpu: int = 1) -> float:
    """Upper bound on tok/s/user without speculative decoding (batch 1)."""
    return 1.0 / decode_step_floor_s(model, hw, precision, 1, kv_len, n_gpu)
