"""The one reading of an HF ``config.json``: the counts that size a decoder-only transformer.

Every consumer (synthesis's :class:`~servemark.models.arch.ArchSpec`, the speed-of-light
:class:`~servemark.modelspec.architecture.ModelArchitecture`) starts from :func:`read_shape`, so a
key's spelling, its fallbacks (``num_key_value_heads`` defaults to the head count, ``head_dim`` to
``hidden_size / heads``, the three spellings of the expert count) and the error for a missing
key exist once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servemark.errors import ServemarkError


def require(cfg: dict[str, Any], key: str, where: str) -> Any:
    """``cfg[key]``, or an error naming the file (``where``) and the key."""
    if key not in cfg or cfg[key] is None:
        raise ServemarkError(f"{where}: missing key {key!r} in config.json")
    return cfg[key]


def text_model(cfg: dict[str, Any]) -> dict[str, Any]:
    """A multimodal config's text model folded in (its keys win), a text config unchanged."""
    if "text_config" in cfg and "hidden_size" not in cfg:
        return {**cfg, **cfg["text_config"]}
    return cfg


@dataclass(frozen=True)
class Shape:
    """Per-model counts (not per GPU) read from a config; 0 where a config has no such part."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    intermediate: int
    """Dense FFN width (``intermediate_size``), 0 when the config has none."""
    experts: int
    """Routed experts per MoE layer (0: dense model)."""
    experts_used: int
    """Routed experts each token uses (``num_experts_per_tok``); 0 for a dense model."""
    expert_intermediate: int
    """Width of one routed expert; 0 for a dense model."""
    tie_embeddings: bool


def read_shape(cfg: dict[str, Any], where: str) -> Shape:
    """The counts of ``cfg`` (already :func:`text_model`-folded); ``where`` names it in errors."""
    hidden = int(require(cfg, "hidden_size", where))
    layers = int(require(cfg, "num_hidden_layers", where))
    heads = int(require(cfg, "num_attention_heads", where))
    vocab = int(require(cfg, "vocab_size", where))
    experts = int(cfg.get("n_routed_experts") or cfg.get("num_experts") or cfg.get("num_local_experts") or 0)
    return Shape(
        model_type=str(cfg.get("model_type") or ""),
        hidden=hidden, layers=layers, heads=heads,
        kv_heads=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or (hidden // heads if heads > 0 else 0)),
        vocab=vocab,
        intermediate=int(cfg.get("intermediate_size") or 0),
        experts=experts,
        experts_used=int(cfg.get("num_experts_per_tok") or cfg.get("experts_per_token") or 0) if experts else 0,
        expert_intermediate=int(cfg.get("moe_intermediate_size") or cfg.get("intermediate_size") or 0) if experts else 0,
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )
