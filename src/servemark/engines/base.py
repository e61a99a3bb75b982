"""What every engine adapter provides, and the launch it renders.

Rendering is pure: recipe + layout + resolved paths in, an argument list and an environment
out. Nothing here starts a process, so every adapter is testable by comparing its rendering with
a reviewed expectation. Executors (``servemark.executors``) take a :class:`Launch` and run it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from servemark.recipe.schema import ArgValue, Layout, Recipe


@dataclass
class Launch:
    """One server process as an executor should start it."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    served_model: str = ""
    health_path: str = "/health"
    models_path: str = "/v1/models"
    metrics_path: str | None = "/metrics"
    name: str = "server"
    """Role in a multi-process deployment (``prefill-0``, ``decode-0``, ``router``); else ``server``."""
    node: int = 0
    """Host index in a multi-node deployment (0 on one machine); executors place the process there."""
    files: dict[str, str] = field(default_factory=dict)
    """Config files the process reads (path -> text), written by the executor before it starts."""

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RenderContext:
    recipe: Recipe
    layout: Layout
    model_path: str
    """Resolved model location (a folder, a file, or a hub id the engine resolves itself)."""
    python: str = "python3"
    """Interpreter of the engine's environment, for engines started as ``python -m``."""
    binary: str | None = None
    """Executable for engines that are a binary (``llama-server``)."""
    workdir: str = "."
    """Folder for the config files an engine reads (TensorRT-LLM's YAML); the run folder in a sweep."""
    nodes: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    """Host names or addresses of the nodes, in order; a multi-node layout beyond them uses ``node<N>``."""
    prefix_cache: bool = False
    """The scenario's ``prefix_cache: on``: render the engine's prefix caching on (off is every
    engine's rendering otherwise, as in InferenceX). An explicit flag in ``engine.args`` wins."""


class EngineAdapter(Protocol):
    name: str

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        """Raise ``ValueError`` with the reason when the engine cannot take this layout."""

    def render(self, ctx: RenderContext) -> list[Launch]:
        """The processes to start, in start order (the last one is what clients talk to)."""

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        """A command printing the engine's version, or ``None`` if the server reports it."""


def render_args(args: dict[str, ArgValue]) -> list[str]:
    """``{"max-model-len": 4096, "enforce-eager": True, "x": None}`` -> ``--max-model-len 4096 --enforce-eager``.

    Keys are written as given (with ``--`` added): engines disagree on dashes vs underscores.
    """
    out: list[str] = []
    for key, value in args.items():
        flag = key if key.startswith("-") else f"--{key}"
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        else:
            out += [flag, str(value)]
    return out


def served_name(recipe: Recipe) -> str:
    return recipe.model.served_name or recipe.model.name


def max_model_len(recipe: Recipe) -> int | None:
    """Longest sequence a point needs: ISL + OSL + 256, InferenceX's ``max-model-len``.

    A synthetic multi-turn session needs its whole history (every turn's user and assistant
    tokens). Dataset and trace lengths are known only once the data is read: with such a scenario
    the answer is None and the engine keeps the model's own context length."""
    need = []
    for s in recipe.scenarios:
        wl = s.workload
        if wl.kind == "random":
            need.append((s.isl or 0) + (s.osl or 0))
        elif wl.kind == "multi_turn" and wl.dataset is None:
            per = lambda v, i: v if isinstance(v, int) else v[min(i, len(v) - 1)]  # noqa: E731
            need.append(sum(per(wl.user_tokens, i) + per(wl.assistant_tokens, i) for i in range(wl.turns)))
        else:
            return None
    return max(need) + 256


def gpu_env(recipe: Recipe, layout: Layout, env: dict[str, str]) -> dict[str, str]:
    """Pin a single-server layout to GPUs 0..n-1 (unless the recipe's env says otherwise).

    Explicit, so a container runtime passes exactly those GPUs and a local process does not
    silently spread over every GPU of the host.
    """
    key = visible_devices_key(recipe)
    if recipe.hardware.name == "cpu" or key in env:
        return env
    return {**env, key: gpu_list(0, layout.gpus)}


def visible_devices_key(recipe: Recipe) -> str:
    """``HIP_VISIBLE_DEVICES`` on AMD Instinct (``mi...``), else ``CUDA_VISIBLE_DEVICES``."""
    return "HIP_VISIBLE_DEVICES" if recipe.hardware.name.lower().startswith("mi") else "CUDA_VISIBLE_DEVICES"


def gpu_list(first: int, count: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for ``count`` GPUs starting at ``first``."""
    return ",".join(str(i) for i in range(first, first + count))


def check_moe_group(g: Any, where: str, engine: str, ep_why: str, dp_why: str, dp_term: str) -> None:
    """The parallel rules SGLang and TensorRT-LLM share for one server (``g``: Layout or WorkerGroup).

    Expert parallelism lives inside the TP group (ep divides tp), DP attention spreads attention
    over the tp ranks (tp >= 2) and neither engine combines it with pipeline parallelism.
    ``where`` prefixes the key (``prefill.``); ``ep_why``/``dp_why`` give each engine's reason and
    ``dp_term`` its name for DP attention.
    """
    if g.tp % g.ep:
        raise ValueError(f"{where}ep: {ep_why}, so ep must divide tp ({g.tp}), got {g.ep}")
    if g.dp_attention and g.tp < 2:
        raise ValueError(f"{where}dp_attention: needs tp >= 2 ({dp_why})")
    if g.dp_attention and g.pp > 1:
        raise ValueError(f"{where}dp_attention: {engine} does not combine {dp_term} with pp > 1")
