"""Engine adapters, one module per engine; looked up by the recipe's ``engine.name``."""

from __future__ import annotations

from servemark.engines.base import EngineAdapter, Launch, RenderContext
from servemark.engines.calibration import Calibration
from servemark.engines.disagg import Dynamo, SGLangPD
from servemark.engines.llama_cpp import LlamaCpp
from servemark.engines.sglang import SGLang
from servemark.engines.trtllm import TRTLLM
from servemark.engines.vllm import VLLM
from servemark.errors import ServemarkError

ADAPTERS: dict[str, EngineAdapter] = {
    "vllm": VLLM(),
    "sglang": SGLang(),
    "trtllm": TRTLLM(),
    "llama-cpp": LlamaCpp(),
    "sglang-pd": SGLangPD(),
    "dynamo": Dynamo(),
    "calibration": Calibration(),
}


def adapter_for(name: str) -> EngineAdapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ServemarkError(f"unknown engine {name!r}; known: {', '.join(sorted(ADAPTERS))}") from None


__all__ = ["ADAPTERS", "EngineAdapter", "Launch", "RenderContext", "adapter_for"]
