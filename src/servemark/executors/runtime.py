"""What an engine needs from this machine before it can be rendered: interpreter, binary, model.

Kept apart from the adapters so rendering stays pure: this module looks at the disk (installed
environments, built models); the adapters only turn those paths into argument lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from servemark.errors import ServemarkError
from servemark.models import demo
from servemark.recipe.schema import Recipe
from servemark.workload.tokenizer import SERVER, is_hub_id


@dataclass
class Runtime:
    python: str = "python3"
    binary: str | None = None
    engine_version: str = ""
    model_path: str = ""
    tokenizer_path: str = ""


def resolve_runtime(recipe: Recipe, start_engine: bool = True) -> Runtime:
    """Paths the engine and the prompt builder need; with ``start_engine=False`` only the tokenizer."""
    eng = recipe.engine
    rt = Runtime()
    if not start_engine:
        pass
    elif eng.name == "vllm" and eng.build == "cpu":
        from servemark.engine_envs import vllm_cpu

        rt.python = str(vllm_cpu.python())
        rt.engine_version = vllm_cpu.engine_version()
    elif eng.name == "calibration":  # the instrument runs on servemark's own interpreter
        import sys

        rt.python = sys.executable
    elif eng.name == "llama-cpp":
        try:
            from servemark.engine_envs import llama_cpp
        except ImportError as exc:  # pragma: no cover - the engines stage ships it
            raise ServemarkError(f"the llama.cpp engine is not available in this servemark: {exc}") from None
        rt.binary = str(llama_cpp.server_binary())
        rt.engine_version = getattr(llama_cpp, "engine_version", lambda: "")()
    model = recipe.model
    fmt = "gguf" if eng.name == "llama-cpp" else "hf"
    rt.model_path = str(demo.resolve(model.name, model.path, fmt=fmt)) if start_engine else model.path
    tok = model.tokenizer or ("auto" if model.path == "auto" else model.path)
    if tok == SERVER or (is_hub_id(tok) and not Path(tok).expanduser().exists()):
        rt.tokenizer_path = tok  # resolved by workload.tokenizer.open_tokenizer (HF cache or the server)
        return rt
    rt.tokenizer_path = str(demo.resolve(model.name, tok, fmt="hf"))
    if not (Path(rt.tokenizer_path) / "tokenizer.json").is_file() and not Path(rt.tokenizer_path).is_file():
        raise ServemarkError(
            f"no tokenizer.json for {model.name} at {rt.tokenizer_path}; set model.tokenizer in the recipe to a "
            "folder holding one, a hub id (org/name) or 'server' (the server's /tokenize)"
        )
    return rt
