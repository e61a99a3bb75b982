"""Where processes run inside a Slurm allocation: one ``srun`` step per launch, on its node.

A Slurm job runs the ordinary sweep runner on the allocation's first node (the batch host,
which also runs the load generator). Each rendered :class:`~servemark.engines.base.Launch`
carries a node index (the adapters place multi-node layouts); here that index becomes the
allocation's node of that rank, and the process starts as
``srun --overlap --nodes=1 --ntasks=1 --nodelist=NODE ... argv`` so Slurm tracks it, streams its
output into the run folder and kills it when the job ends or is cancelled. Which node ran which
role goes into every point's ``extra["placement"]``.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

from servemark.engines.base import Launch
from servemark.errors import ServemarkError
from servemark.executors.local import LocalServer

IN_JOB_ENV = "SERVEMARK_IN_SLURM_JOB"
"""Set by the batch script servemark writes: the runner is inside its allocation (run, don't submit)."""


@dataclass(frozen=True)
class Node:
    name: str
    """Slurm's node name (what ``--nodelist`` takes)."""
    address: str
    """Where other processes reach it (``NodeAddr``)."""


def in_slurm_job() -> bool:
    return os.environ.get(IN_JOB_ENV) == "1" and bool(os.environ.get("SLURM_JOB_ID"))


def _scontrol(*args: str) -> str:
    done = subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise ServemarkError(f"scontrol {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def job_nodes() -> list[Node]:
    """The allocation's nodes in order, with the address each is reached at."""
    names = _scontrol("show", "hostnames", os.environ.get("SLURM_JOB_NODELIST", "")).split()
    out = []
    for name in names:
        fields = dict(kv.split("=", 1) for kv in _scontrol("show", "node", name, "-o").split() if "=" in kv)
        out.append(Node(name, fields.get("NodeAddr") or name))
    return out


def srun_argv(launch: Launch, node: Node, image: str | None = None, mounts: list[str] | None = None) -> list[str]:
    """The step command for one launch on one node (pyxis flags when the recipe names an image)."""
    argv = ["srun", "--overlap", "--nodes=1", "--ntasks=1", f"--nodelist={node.name}", "--kill-on-bad-exit=1",
            f"--job-name=servemark-{launch.name}"]
    if image:
        argv.append(f"--container-image={image}")
        if mounts:
            argv.append("--container-mounts=" + ",".join(mounts))
    return [*argv, *launch.argv]


class SrunServer(LocalServer):
    """A launch started as a Slurm step on its node; readiness, logs and stop as :class:`LocalServer`.

    Stopping signals ``srun``, which forwards the signal to the step's tasks on the node.
    """

    def __init__(self, launch: Launch, log_path: Any, nodes: list[Node], image: str | None = None,
                 mounts: list[str] | None = None):
        if launch.node >= len(nodes):
            raise ServemarkError(
                f"{launch.name} is placed on node {launch.node + 1} but the job has {len(nodes)} node(s); "
                "raise executor.slurm.nodes or hardware.gpus_per_node"
            )
        self.node = nodes[launch.node]
        step = Launch(**{**launch.to_dict(), "argv": srun_argv(launch, self.node, image, mounts)})
        super().__init__(step, log_path)


def placement(servers: list[Any]) -> dict[str, Any]:
    """Provenance for a point: the node of each role and of the client, and the Slurm job."""
    if not in_slurm_job():
        return {}
    where = {srv.launch.name: srv.node.name for srv in servers if isinstance(srv, SrunServer)}
    where["client"] = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID", "")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return {"placement": where, "slurm_job": job + (f"_{task}" if task else ""),
            "slurm_restarts": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)}
