"""Run a rendered :class:`~servemark.engines.base.Launch` inside a container: docker, podman, enroot.

Rendering (:func:`container_commands`) is pure: the launch, the executor section of the recipe and
the model path in, argument lists out. The container uses the host network (the engine's port is
the host's port, so readiness polling is unchanged) and the host IPC namespace with a large
``/dev/shm`` (NCCL and PyTorch workers share memory through it). GPUs are passed explicitly:
the launch's ``CUDA_VISIBLE_DEVICES`` becomes ``--gpus "device=..."`` for docker, CDI devices
for podman; on AMD hosts (``hardware.name`` starting with ``mi``) ``/dev/kfd`` and ``/dev/dri``.
The model folder is mounted read-only at the same path, so argv needs no rewriting.

Starting (:class:`ContainerServer`) needs the runtime on PATH and says so when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from servemark.engines.base import Launch
from servemark.errors import ServemarkError
from servemark.executors.local import EngineStartError, LocalServer
from servemark.recipe.schema import ExecutorSpec

_NAME_OK = re.compile(r"[^a-zA-Z0-9_.-]")
INSTALL_HINT = {
    "docker": "install Docker Engine and the NVIDIA Container Toolkit (https://docs.docker.com/engine/install/)",
    "podman": "install podman and the NVIDIA Container Toolkit's CDI spec (nvidia-ctk cdi generate)",
    "enroot": "install enroot (https://github.com/NVIDIA/enroot) or run under Slurm with pyxis",
}


@dataclass
class ContainerCommands:
    """What to run, in order: ``prepare`` commands (enroot's import/create) then ``run``."""

    runtime: str
    name: str
    run: list[str]
    prepare: list[list[str]] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)


def container_name(launch: Launch, tag: str = "servemark") -> str:
    return _NAME_OK.sub("-", f"{tag}-{launch.name}-{launch.port}")


def _gpu_ids(launch: Launch, spec: ExecutorSpec) -> str | None:
    if spec.gpus:
        return spec.gpus
    return launch.env.get("CUDA_VISIBLE_DEVICES")


def _mounts(spec: ExecutorSpec, model_path: str | None, workdir: str | None) -> list[str]:
    out = list(spec.mounts)
    for path, mode in ((model_path, "ro"), (workdir, "rw")):
        if path and path.startswith("/"):
            host = str(Path(path).parent) if mode == "ro" and Path(path).suffix else path
            if not any(m.split(":")[0] == host for m in out):
                out.append(f"{host}:{host}:{mode}")
    return out


def container_commands(launch: Launch, spec: ExecutorSpec, model_path: str | None = None,
                       workdir: str | None = None, amd: bool = False, tag: str = "servemark") -> ContainerCommands:
    """The runtime's argument lists for one launch; no process is started."""
    if spec.kind == "local":
        raise ServemarkError("executor.kind is local: nothing to render for a container")
    if not spec.image:
        raise ServemarkError(f"executor.image: a {spec.kind} executor needs a pinned image")
    name = container_name(launch, tag)
    mounts = _mounts(spec, model_path, workdir)
    gpus = _gpu_ids(launch, spec)
    if spec.kind == "enroot":
        sqsh = f"{workdir or '.'}/{_NAME_OK.sub('_', spec.image)}.sqsh"
        prepare = [["enroot", "import", "--output", sqsh, f"docker://{spec.image}"],
                   ["enroot", "create", "--force", "--name", name, sqsh]]
        run = ["enroot", "start", "--rw"]
        for m in mounts:
            run += ["--mount", m.removesuffix(":rw")]
        env = dict(launch.env)
        if gpus:
            env["NVIDIA_VISIBLE_DEVICES"] = gpus
        for k, v in env.items():
            run += ["--env", f"{k}={v}"]
        run += [*spec.runtime_args, name, *launch.argv]
        return ContainerCommands("enroot", name, run, prepare, ["enroot", "remove", "--force", name])
    rt = spec.kind
    run = [rt, "run", "--rm", "--name", name, "--network", "host", "--ipc", "host", "--shm-size", spec.shm_size]
    if amd:
        run += ["--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
                "--security-opt", "seccomp=unconfined"]
    elif gpus:
        if rt == "docker":
            run += ["--gpus", "all" if gpus == "all" else f'"device={gpus}"']
        else:
            ids = ["all"] if gpus == "all" else gpus.split(",")
            for i in ids:
                run += ["--device", f"nvidia.com/gpu={i}"]
    for m in mounts:
        run += ["-v", m]
    for k, v in launch.env.items():
        run += ["-e", f"{k}={v}"]
    run += [*spec.runtime_args, spec.image, *launch.argv]
    return ContainerCommands(rt, name, run, [], [rt, "rm", "--force", name])


class ContainerServer:
    """Start a launch in a container; readiness, logs and stop as :class:`LocalServer`."""

    def __init__(self, launch: Launch, log_path: Path, spec: ExecutorSpec, model_path: str | None = None,
                 workdir: str | None = None, amd: bool = False):
        self.cmds = container_commands(launch, spec, model_path, workdir, amd)
        self.launch = launch
        # the runtime CLI gets the environment through -e flags; its own process needs none of it
        self._local = LocalServer(Launch(**{**launch.to_dict(), "argv": self.cmds.run, "env": {}}), log_path,
                                  on_orphan=self.cmds.stop or None)
        self.log_path = log_path

    def start(self) -> None:
        rt = self.cmds.runtime
        if shutil.which(rt) is None:
            raise EngineStartError(f"executor.kind is {rt} but `{rt}` is not on PATH: {INSTALL_HINT[rt]}, or use executor.kind: local")
        for path, text in self.launch.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        for argv in self.cmds.prepare:
            if argv[:2] == ["enroot", "import"] and Path(argv[3]).exists():
                continue  # the image's squashfs is shared by every process of the deployment
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise EngineStartError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        self._local.start()

    def wait_ready(self, timeout_s: float, tick=None) -> float:  # type: ignore[no-untyped-def]
        return self._local.wait_ready(timeout_s, tick)

    def alive(self) -> bool:
        return self._local.alive()

    def stop(self, grace_s: float = 15.0) -> None:
        self._local.stop(grace_s)
        if self.cmds.stop and shutil.which(self.cmds.runtime):
            subprocess.run(self.cmds.stop, stdin=subprocess.DEVNULL, capture_output=True, check=False, env=dict(os.environ))
