"""Model architecture from a Hugging Face ``config.json``, as per-layer blocks.

A flat parameter count cannot tell decode what it reads: a MoE step reads only the experts its
tokens touch, an MLA cache stores a 576-element latent instead of K and V, a sliding-window layer
stops growing its cache at the window. So the spec keeps, per layer, the attention kind and window,
the projection parameters, the dense FFN (or shared experts) and the routed experts.

Counts are *parameters* (not bytes); bytes come from :mod:`servemark.sol.precision` so the same
spec serves BF16, FP8 and FP4 runs. "GEMM-active" parameters are those multiplied for every token
(attention projections, dense FFN, shared + top-k routed experts, routers, lm_head); the input
embedding is a table lookup and is not GEMM-active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from servemark.errors import ServemarkError
from servemark.modelspec.catalogue import canonical_name, preset_config, preset_source, resolve_config
from servemark.modelspec.shape import read_shape, require, text_model


@dataclass(frozen=True)
class LayerSpec:
    """One transformer block. Parameter counts are per layer."""

    attention: str
    """``gqa`` (MHA/GQA/MQA) or ``mla``."""
    window: int | None
    """Sliding-window length in tokens, ``None`` for full attention."""
    attn_params: int
    """Attention projection weights and biases (GEMM operands)."""
    kv_elems_per_token: int
    """Cache elements stored per token: 2 * kv_heads * head_dim, or kv_lora_rank + rope dim (MLA)."""
    attn_macs_decode: int
    """Attention-core MACs per query token per cached token at decode (MLA absorbed)."""
    attn_macs_prefill: int
    """Attention-core MACs per (query, key) pair at prefill (MLA run as MHA)."""
    dense_ffn_params: int
    """Always-active FFN weights: a dense MLP, or the shared experts of a MoE layer."""
    n_experts: int = 0
    top_k: int = 0
    expert_params: int = 0
    """Weights of ONE routed expert."""
    router_params: int = 0
    norm_params: int = 0


@dataclass(frozen=True)
class ModelArchitecture:
    """A model's per-layer blocks, parsed once from its config (see the module docstring)."""

    name: str
    source: str
    d_model: int
    vocab_size: int
    n_heads: int
    layers: tuple[LayerSpec, ...]
    embed_params: int
    lm_head_params: int
    tied_embeddings: bool
    weight_format: str
    """The checkpoint's own weight format: ``bf16``, ``fp8_block``, ``mxfp4_experts``."""
    mtp_layers: int = 0
    mtp_params: int = 0
    """One MTP (next-n) module's own weights (block + projection), embedding/head shared."""
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # ---- counts ----------------------------------------------------------------------------
    @cached_property
    def n_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def is_moe(self) -> bool:
        return any(l.n_experts for l in self.layers)

    @cached_property
    def attn_params(self) -> int:
        return sum(l.attn_params for l in self.layers)

    @cached_property
    def dense_ffn_params(self) -> int:
        return sum(l.dense_ffn_params for l in self.layers)

    @cached_property
    def router_params(self) -> int:
        return sum(l.router_params for l in self.layers)

    @cached_property
    def expert_params_total(self) -> int:
        return sum(l.n_experts * l.expert_params for l in self.layers)

    @cached_property
    def expert_params_active(self) -> int:
        return sum(l.top_k * l.expert_params for l in self.layers)

    @cached_property
    def norm_params(self) -> int:
        return sum(l.norm_params for l in self.layers) + self.d_model

    @cached_property
    def total_params(self) -> int:
        """Main model, lm_head counted once when tied; the MTP module is not included."""
        head = 0 if self.tied_embeddings else self.lm_head_params
        return (self.attn_params + self.dense_ffn_params + self.router_params + self.expert_params_total
                + self.norm_params + self.embed_params + head)

    @cached_property
    def dense_gemm_params(self) -> int:
        """GEMM weights every token multiplies, except lm_head and routed experts."""
        return self.attn_params + self.dense_ffn_params + self.router_params

    @cached_property
    def active_params(self) -> int:
        """GEMM-active parameters per token (includes lm_head, excludes the input embedding)."""
        return self.dense_gemm_params + self.expert_params_active + self.lm_head_params

    @cached_property
    def active_params_with_embedding(self) -> int:
        return self.active_params + self.embed_params

    @cached_property
    def moe_layers(self) -> tuple[LayerSpec, ...]:
        return tuple(l for l in self.layers if l.n_experts)

    # ---- per-token cache and attention, vectorised over lengths ----------------------------
    @cached_property
    def _window_arr(self) -> np.ndarray:
        return np.array([l.window if l.window else 1e15 for l in self.layers], dtype=float)  # 1e15 = unbounded

    def _windows(self) -> np.ndarray:
        return self._window_arr

    @cached_property
    def _macs_decode(self) -> np.ndarray:
        return np.array([l.attn_macs_decode for l in self.layers], dtype=float)

    @cached_property
    def _macs_prefill(self) -> np.ndarray:
        return np.array([l.attn_macs_prefill for l in self.layers], dtype=float)

    def kv_elems_per_token(self) -> np.ndarray:
        return np.array([l.kv_elems_per_token for l in self.layers], dtype=float)

    def kv_bytes_for_context(self, kv_len: Any, bytes_per_token_layer: np.ndarray) -> Any:
        """Bytes of cache one sequence holds at ``kv_len`` tokens (windows cap their layers)."""
        L = np.asarray(kv_len, dtype=float)[..., None]
        return (np.minimum(L, self._windows()) * bytes_per_token_layer).sum(axis=-1)

    def attn_flops_decode(self, kv_len: Any) -> Any:
        """Attention-core FLOPs for ONE query token attending to ``kv_len`` cached tokens."""
        L = np.asarray(kv_len, dtype=float)[..., None]
        return (2.0 * np.minimum(L, self._windows()) * self._macs_decode).sum(axis=-1)

    def attn_flops_prefill(self, seq_len: Any) -> Any:
        """Causal attention-core FLOPs to prefill one sequence of ``seq_len`` tokens (s^2/2 pairs)."""
        s = np.asarray(seq_len, dtype=float)[..., None]
        w = self._windows()
        pairs = np.where(s <= w, s * s / 2.0, w * s - w * w / 2.0)
        return (2.0 * pairs * self._macs_prefill).sum(axis=-1)

    def gemm_flops_per_token(self) -> float:
        return 2.0 * self.active_params


# ---- parsing ------------------------------------------------------------------------------------
def _weight_format(cfg: dict[str, Any]) -> str:
    q = cfg.get("quantization_config") or {}
    method = str(q.get("quant_method", "")).lower()
    if method == "fp8":
        return "fp8_block" if q.get("weight_block_size") else "fp8"
    if method == "mxfp4":
        return "mxfp4_experts"
    if method in ("modelopt", "nvfp4"):
        return "nvfp4_experts"
    return "bf16"


def from_config(cfg: dict[str, Any], name: str = "model", source: str = "") -> ModelArchitecture:
    """Parse an HF config dict. Unknown architectures fail with the missing key named."""
    where = source or name
    cfg = text_model(cfg)
    shape = read_shape(cfg, where)
    d, n_layers, n_h, vocab = shape.hidden, shape.layers, shape.heads, shape.vocab
    bias = bool(cfg.get("attention_bias", False))
    mla = cfg.get("kv_lora_rank") is not None

    # experts ------------------------------------------------------------------------------
    n_exp, top_k, d_exp = shape.experts, shape.experts_used, shape.expert_intermediate
    n_shared = int(cfg.get("n_shared_experts") or 0)
    shared_int = int(cfg.get("shared_expert_intermediate_size") or 0)
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(cfg.get("moe_layer_freq") or cfg.get("decoder_sparse_step") or 1)
    mlp_only = set(cfg.get("mlp_only_layers") or [])
    d_ff = shape.intermediate
    gpt_oss = cfg.get("model_type") == "gpt_oss"

    # attention ------------------------------------------------------------------------------
    if mla:
        q_rank = cfg.get("q_lora_rank")
        d_c = int(cfg["kv_lora_rank"])
        d_r = int(require(cfg, "qk_rope_head_dim", where))
        d_nope = int(require(cfg, "qk_nope_head_dim", where))
        d_v = int(require(cfg, "v_head_dim", where))
        d_qk = d_nope + d_r
        q_proj = (d * q_rank + q_rank * n_h * d_qk) if q_rank else d * n_h * d_qk
        attn = q_proj + d * (d_c + d_r) + d_c * n_h * (d_nope + d_v) + n_h * d_v * d
        norms = (q_rank or 0) + d_c
        kv_elems = d_c + d_r
        macs_dec = n_h * (2 * d_c + d_r)
        macs_pre = n_h * (d_qk + d_v)
    else:
        hd, n_kv = shape.head_dim, shape.kv_heads
        attn = d * n_h * hd + 2 * d * n_kv * hd + n_h * hd * d
        if bias:
            attn += n_h * hd + 2 * n_kv * hd + d
        norms = 0
        if cfg.get("model_type", "").startswith(("qwen3", "gemma3")):
            norms += 2 * hd  # q_norm, k_norm
        if gpt_oss:
            norms += n_h  # attention sinks
        kv_elems = 2 * n_kv * hd
        macs_dec = macs_pre = n_h * 2 * hd

    # windows --------------------------------------------------------------------------------
    types = cfg.get("layer_types")
    sw = cfg.get("sliding_window")
    if types and len(types) != n_layers:
        raise ServemarkError(f"{where}: layer_types has {len(types)} entries, num_hidden_layers is {n_layers}")

    def window(i: int) -> int | None:
        if types:
            return int(sw) if (types[i] == "sliding_attention" and sw) else None
        if sw and cfg.get("use_sliding_window", True) and cfg.get("model_type") not in ("qwen3_moe", "qwen3", "qwen2"):
            return int(sw)
        return None

    layers = []
    block_norms = 2 * d + (2 * d if cfg.get("model_type", "").startswith("gemma") else 0)
    for i in range(n_layers):
        is_moe = bool(n_exp) and i >= first_dense and (i % freq == 0 if freq > 1 else True) and i not in mlp_only
        if is_moe:
            if gpt_oss:  # fused gate_up with biases, down with bias
                e_params = d * 2 * d_exp + 2 * d_exp + d_exp * d + d
                router = d * n_exp + n_exp
            else:
                e_params = 3 * d * d_exp
                router = d * n_exp
            shared = n_shared * 3 * d * d_exp + (3 * d * shared_int + d if shared_int else 0)
            ffn = dict(dense_ffn_params=shared, n_experts=n_exp, top_k=top_k, expert_params=e_params,
                       router_params=router)
        else:
            if not d_ff:
                raise ServemarkError(f"{where}: missing key 'intermediate_size' in config.json")
            ffn = dict(dense_ffn_params=3 * d * d_ff)
        layers.append(LayerSpec(
            attention="mla" if mla else "gqa", window=window(i), attn_params=attn, kv_elems_per_token=kv_elems,
            attn_macs_decode=macs_dec, attn_macs_prefill=macs_pre, norm_params=norms + block_norms, **ffn,
        ))

    emb = vocab * d
    tied = shape.tie_embeddings
    n_mtp = int(cfg.get("num_nextn_predict_layers") or 0)
    mtp_params = 0
    if n_mtp:
        last = layers[-1]
        mtp_params = (2 * d * d + last.attn_params + last.dense_ffn_params + last.router_params
                      + last.n_experts * last.expert_params)
    return ModelArchitecture(
        name=name, source=source, d_model=d, vocab_size=vocab, n_heads=n_h, layers=tuple(layers),
        embed_params=emb, lm_head_params=emb, tied_embeddings=tied, weight_format=_weight_format(cfg),
        mtp_layers=n_mtp, mtp_params=mtp_params, config=cfg,
    )


@lru_cache(maxsize=32)
def _load_preset(name: str) -> ModelArchitecture:
    return from_config(preset_config(name), name=name, source=preset_source(name))


def load_architecture(name_or_path: str | Path) -> ModelArchitecture:
    """A preset by name (or alias, e.g. InferenceX's ``dsr1``), or a ``config.json`` path (a file,
    or a folder that holds one)."""
    canon = canonical_name(str(name_or_path))
    if canon:
        return _load_preset(canon)
    cfg, name, source = resolve_config(name_or_path)
    return from_config(cfg, name=name, source=source)
