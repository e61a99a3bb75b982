"""Where an engine runs: a local process (default) or a container runtime."""

from __future__ import annotations

from pathlib import Path

from servemark.engines.base import Launch
from servemark.executors.container import ContainerServer
from servemark.executors.local import LocalServer
from servemark.executors.placement import Node, SrunServer
from servemark.recipe.schema import Recipe


def make_server(launch: Launch, log_path: Path, recipe: Recipe, model_path: str | None = None,
                workdir: str | None = None, nodes: list[Node] | None = None) -> LocalServer | ContainerServer:
    """The server object for ``recipe.executor.kind``; all have start / wait_ready / alive / stop.

    ``nodes``: inside a Slurm allocation, each launch becomes an ``srun`` step on its node.
    """
    if nodes:
        return SrunServer(launch, log_path, nodes, recipe.executor.image, recipe.executor.mounts)
    if recipe.executor.kind in ("local", "slurm"):
        return LocalServer(launch, log_path)
    return ContainerServer(launch, log_path, recipe.executor, model_path, workdir,
                           amd=recipe.hardware.name.lower().startswith("mi"))


__all__ = ["ContainerServer", "LocalServer", "make_server"]
