"""Model architectures servemark can synthesise, read from an HF ``config.json``.

An :class:`ArchSpec` is the handful of numbers that decide a transformer's tensor shapes (and so
its bytes and its speed): layers, widths, heads, experts, vocabulary, plus what a GGUF or HF
writer needs (RoPE base, norm epsilon). The counts come from the one config reader,
:func:`servemark.modelspec.shape.read_shape`, and presets from the one catalogue,
:mod:`servemark.modelspec.catalogue` (real checkpoints' configs, shared with the SOL model), so a
user can synthesise an architecture they cannot download.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from servemark.errors import ServemarkError
from servemark.modelspec.catalogue import resolve_config
from servemark.modelspec.shape import read_shape, require

# HF model_type -> GGUF architecture (llama.cpp names)
SUPPORTED: dict[str, str] = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
}

@dataclass
class ArchSpec:
    """The shape of a decoder-only transformer; every count is per model (not per GPU)."""

    name: str
    model_type: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    context: int
    rope_theta: float
    rms_eps: float
    tie_embeddings: bool
    experts: int = 0
    experts_used: int = 0
    expert_intermediate: int = 0
    qkv_bias: bool = False
    qk_norm: bool = False
    hf_config: dict[str, Any] | None = None

    @property
    def gguf_arch(self) -> str:
        return SUPPORTED[self.model_type]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("hf_config", None)
        return d


def spec_from_config(cfg: dict[str, Any], name: str, where: str) -> ArchSpec:
    """Read an HF config dict; ``where`` names the file (or preset) in error messages."""
    mt = cfg.get("model_type")
    if mt not in SUPPORTED:
        raise ServemarkError(
            f"{where}: model_type '{mt}' is not one servemark can synthesise "
            f"(supported: {', '.join(sorted(SUPPORTED))})"
        )
    shape = read_shape(cfg, where)
    spec = ArchSpec(
        name=name,
        model_type=mt,
        hidden=shape.hidden,
        intermediate=int(require(cfg, "intermediate_size", where)),
        layers=shape.layers,
        heads=shape.heads,
        kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        vocab=shape.vocab,
        context=int(cfg.get("max_position_embeddings") or 4096),
        rope_theta=float(cfg.get("rope_theta") or 10000.0),
        rms_eps=float(cfg.get("rms_norm_eps") or 1e-6),
        tie_embeddings=shape.tie_embeddings,
        experts=shape.experts,
        experts_used=shape.experts_used,
        expert_intermediate=shape.expert_intermediate,
        qkv_bias=mt == "qwen2",
        qk_norm=mt in ("qwen3", "qwen3_moe"),
        hf_config=dict(cfg),
    )
    for key, val in (("hidden_size", spec.hidden), ("num_hidden_layers", spec.layers),
                     ("num_attention_heads", spec.heads), ("vocab_size", spec.vocab)):
        if val <= 0:
            raise ServemarkError(f"{where}: '{key}' must be positive, got {val}")
    if spec.heads % spec.kv_heads:
        raise ServemarkError(f"{where}: num_attention_heads {spec.heads} is not a multiple of num_key_value_heads {spec.kv_heads}")
    if spec.experts and not spec.experts_used:
        raise ServemarkError(f"{where}: an MoE config needs 'num_experts_per_tok'")
    return spec


def load_spec(config: str) -> ArchSpec:
    """``config`` is a preset name (or alias), an HF ``config.json`` path, or a folder holding one."""
    cfg, name, source = resolve_config(config)
    if "text_config" in cfg and "model_type" not in cfg.get("text_config", {}):
        raise ServemarkError(f"{source}: multimodal configs are not supported; pass the text model's config")
    where = f"preset {name}" if source.startswith("servemark/") else source
    return spec_from_config(cfg, name, where)
