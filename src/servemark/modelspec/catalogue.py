"""The one preset catalogue: real checkpoints' ``config.json`` files shipped in ``data/``.

A preset lets a user name an architecture without downloading it (``llama-3.1-8b``), for
synthesis and for the speed-of-light model alike. Aliases map the names other tools use
(InferenceX's ``dsr1``, HF repo ids) onto a preset.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.modelspec.hf_config import config_path, read_config

PRESETS = (
    "deepseek-v3", "deepseek-r1", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b",
    "gpt-oss-120b", "qwen3-235b-a22b", "gemma-3-270m",
    "llama-3.2-1b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen3-8b", "qwen3-30b-a3b",
    "tiny-llama",  # a tiny Llama-3-shaped model for tests and smoke runs (real Llama 3 tokenizer)
)
ALIASES = {
    "dsr1": "deepseek-r1", "deepseek-r1-0528": "deepseek-r1", "deepseek-ai/deepseek-r1": "deepseek-r1",
    "deepseek-ai/deepseek-r1-0528": "deepseek-r1", "dsv3": "deepseek-v3", "deepseek-ai/deepseek-v3": "deepseek-v3",
    "llama-3.1-8b-instruct": "llama-3.1-8b", "meta-llama/llama-3.1-8b-instruct": "llama-3.1-8b",
    "meta-llama/llama-3.1-8b": "llama-3.1-8b", "llama-3.1-70b-instruct": "llama-3.1-70b",
    "meta-llama/llama-3.1-70b-instruct": "llama-3.1-70b", "llama-3.3-70b-instruct": "llama-3.3-70b",
    "meta-llama/llama-3.3-70b-instruct": "llama-3.3-70b", "llama70b": "llama-3.3-70b",
    "gptoss": "gpt-oss-120b", "openai/gpt-oss-120b": "gpt-oss-120b",
    "qwen3-235b": "qwen3-235b-a22b", "qwen/qwen3-235b-a22b": "qwen3-235b-a22b", "qwen/qwen3-30b-a3b": "qwen3-30b-a3b",
    "gemma3-270m": "gemma-3-270m", "google/gemma-3-270m": "gemma-3-270m", "gemma-3-270m-it": "gemma-3-270m",
}

# Published headline counts (1e9 params) the parser is tested against.
PUBLISHED = {
    "deepseek-v3": {"total": 671.0, "active": 37.0},
    "deepseek-r1": {"total": 671.0, "active": 37.0},
    "llama-3.1-8b": {"total": 8.03},
    "llama-3.1-70b": {"total": 70.6},
    "llama-3.3-70b": {"total": 70.6},
    "gpt-oss-120b": {"total": 116.8, "active": 5.13},
    "qwen3-235b-a22b": {"total": 235.0, "active": 22.0},
    "qwen3-30b-a3b": {"total": 30.5, "active": 3.3},
    "gemma-3-270m": {"total": 0.268},
}


def canonical_name(name: str) -> str | None:
    """The preset a name (or alias, case-insensitive) means, or ``None``."""
    n = name.strip().lower()
    if n in PRESETS:
        return n
    return ALIASES.get(n)


def preset_source(name: str) -> str:
    return f"servemark/modelspec/data/{name}.json"


@lru_cache(maxsize=32)
def _preset_text(name: str) -> str:
    return (resources.files("servemark.modelspec") / "data" / f"{name}.json").read_text()


def preset_config(name: str) -> dict[str, Any]:
    """A fresh copy of preset ``name``'s config dict (``name`` must be canonical)."""
    return json.loads(_preset_text(name))


def resolve_config(name_or_path: str | Path) -> tuple[dict[str, Any], str, str]:
    """``(config, name, source)`` for a preset name or alias, or a ``config.json`` path (a file, or a
    folder holding one). ``source`` names the file in error messages."""
    text = str(name_or_path)
    canon = canonical_name(text)
    if canon:
        return preset_config(canon), canon, preset_source(canon)
    p = config_path(text)
    if not p.is_file():
        raise ServemarkError(
            f"unknown model {text!r}: neither a preset ({', '.join(PRESETS)}) nor an HF config.json at {p}"
        )
    name = p.parent.name if p.name == "config.json" else p.stem
    return read_config(p), name or p.stem, str(p)
