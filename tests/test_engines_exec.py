"""Launch execution: argv never goes through a shell; container commands; config files; missing runtimes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from servemark.engines import ADAPTERS, RenderContext
from servemark.engines.base import Launch
from servemark.errors import ServemarkError
from servemark.executors.container import ContainerServer, container_commands
from servemark.executors.local import EngineStartError, LocalServer
from servemark.recipe.schema import ExecutorSpec, Recipe

META = "x; touch PWNED && $(touch PWNED2) | cat `touch PWNED3` > out 'q' \"dq\" * ~ \\n {a,b} $HOME"

# Prints the argv and the launch's environment it received, as JSON, to the file named first.
DUMP = "import json, os, sys; json.dump({'argv': sys.argv[2:], 'env': dict(os.environ)}, open(sys.argv[1], 'w'))"


def meta_recipe(engine: str) -> dict:
    lay: dict = {"tp": 2, "spec_method": "draft_model", "spec_model": META, "kv_cache_dtype": META}
    if engine in ("sglang-pd", "dynamo"):
        lay = {"prefill": {"tp": 2, "args": {"m": META}}, "decode": {"tp": 2, "args": {"m": META}},
               "spec_method": "draft_model", "spec_model": META, "kv_cache_dtype": META}
    return {
        "name": "meta", "description": META,  # the name itself is path-safe by schema (SAFE_NAME)
        "model": {"name": META, "path": META, "tokenizer": META, "served_name": META},
        "engine": {"name": engine, "build": "cuda", "args": {"a": META, META.replace(" ", "_"): True}, "env": {"E": META},
                   "host": META, "backend": "sglang", "kv_transfer": "nixl", "router_args": {"r": META}},
        "executor": {"kind": "docker", "image": "img:1", "mounts": [f"/data:{META}"], "runtime_args": [META]},
        "hardware": {"name": "h100", "gpus": 8},
        "layouts": [lay],
        "scenarios": [{"isl": 8, "osl": 8, "name": META}],
        "concurrency": [1],
    }


@pytest.mark.parametrize("engine", sorted(ADAPTERS))
def test_shell_metacharacters_reach_the_process_verbatim(engine: str, tmp_path: Path) -> None:
    r = Recipe.model_validate(meta_recipe(engine))  # schema only: adapters' validation would reject META as a kv dtype
    ctx = RenderContext(recipe=r, layout=r.layouts[0], model_path=META, python=META, binary=META, workdir=str(tmp_path / "w"))
    launches = ADAPTERS[engine].render(ctx)
    for i, lg in enumerate(launches):
        assert all(isinstance(a, str) for a in lg.argv)
        assert not any(a in ("sh", "bash", "-c") for a in lg.argv[:2]), lg.argv[:3]
        out = tmp_path / f"argv-{i}.json"
        probe = Launch(argv=[sys.executable, "-c", DUMP, str(out), *lg.argv], env=lg.env, port=1, files=lg.files)
        srv = LocalServer(probe, tmp_path / f"log-{i}.txt")
        srv.start()
        assert srv.proc is not None and srv.proc.wait(timeout=60) == 0, (tmp_path / f"log-{i}.txt").read_text()
        got = json.loads(out.read_text())
        assert got["argv"] == lg.argv
        assert {k: got["env"][k] for k in lg.env} == lg.env
        for path, text in lg.files.items():
            assert Path(path).read_text() == text
    assert any(META in a for lg in launches for a in lg.argv), "the test must put META on a command line"
    for name in ("PWNED", "PWNED2", "PWNED3"):
        assert not (tmp_path / name).exists() and not Path(name).exists()


def test_container_command_keeps_values_as_single_arguments() -> None:
    lg = Launch(argv=["python3", "-m", "x", "--a", META], env={"E": META, "CUDA_VISIBLE_DEVICES": "0,1"}, port=8000)
    spec = ExecutorSpec(kind="docker", image="img:1", runtime_args=[META])
    run = container_commands(lg, spec).run
    assert run[-5:] == lg.argv
    assert f"E={META}" in run and META in run


def test_docker_golden() -> None:
    lg = Launch(argv=["vllm", "serve"], env={"CUDA_VISIBLE_DEVICES": "0,1", "HF_HOME": "/hf"}, port=8000, name="server")
    spec = ExecutorSpec(kind="docker", image="vllm/vllm-openai:v0.18.0", shm_size="32g", mounts=["/hf:/hf"])
    c = container_commands(lg, spec, model_path="/models/llama", workdir="/runs/r1")
    assert c.run == [
        "docker", "run", "--rm", "--name", "servemark-server-8000", "--network", "host", "--ipc", "host", "--shm-size", "32g",
        "--gpus", '"device=0,1"',
        "-v", "/hf:/hf", "-v", "/models/llama:/models/llama:ro", "-v", "/runs/r1:/runs/r1:rw",
        "-e", "CUDA_VISIBLE_DEVICES=0,1", "-e", "HF_HOME=/hf",
        "vllm/vllm-openai:v0.18.0", "vllm", "serve",
    ]
    assert c.prepare == [] and c.stop == ["docker", "rm", "--force", "servemark-server-8000"]


def test_podman_uses_cdi_devices_and_amd_uses_kfd() -> None:
    lg = Launch(argv=["x"], env={"CUDA_VISIBLE_DEVICES": "2,3"}, port=9000)
    run = container_commands(lg, ExecutorSpec(kind="podman", image="img:2")).run
    assert run[run.index("--device"):run.index("--device") + 4] == ["--device", "nvidia.com/gpu=2", "--device", "nvidia.com/gpu=3"]
    amd = container_commands(Launch(argv=["x"], env={"HIP_VISIBLE_DEVICES": "0"}), ExecutorSpec(kind="docker", image="img:3"), amd=True).run
    assert ["--device", "/dev/kfd", "--device", "/dev/dri"] == amd[amd.index("--device"):amd.index("--device") + 4]
    assert "--gpus" not in amd and "HIP_VISIBLE_DEVICES=0" in amd


def test_enroot_golden() -> None:
    lg = Launch(argv=["trtllm-serve", "/m"], env={"CUDA_VISIBLE_DEVICES": "0"}, port=8000, name="server")
    c = container_commands(lg, ExecutorSpec(kind="enroot", image="nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc14"),
                           model_path="/m", workdir="/runs/r")
    sqsh = "/runs/r/nvcr.io_nvidia_tensorrt-llm_release_1.3.0rc14.sqsh"
    assert c.prepare == [["enroot", "import", "--output", sqsh, "docker://nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc14"],
                         ["enroot", "create", "--force", "--name", "servemark-server-8000", sqsh]]
    assert c.run == ["enroot", "start", "--rw", "--mount", "/m:/m:ro", "--mount", "/runs/r:/runs/r",
                     "--env", "CUDA_VISIBLE_DEVICES=0", "--env", "NVIDIA_VISIBLE_DEVICES=0",
                     "servemark-server-8000", "trtllm-serve", "/m"]


def test_container_needs_an_image() -> None:
    with pytest.raises(ServemarkError, match="executor.image: a docker executor needs a pinned image"):
        container_commands(Launch(argv=["x"]), ExecutorSpec(kind="docker"))


@pytest.mark.parametrize("kind", ["docker", "podman", "enroot"])
def test_missing_runtime_says_so(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no runtime on PATH
    srv = ContainerServer(Launch(argv=["x"], port=1), tmp_path / "log", ExecutorSpec(kind=kind, image="img:1"))
    with pytest.raises(EngineStartError, match=f"executor.kind is {kind} but `{kind}` is not on PATH: install"):
        srv.start()


def test_local_server_reports_missing_executable(tmp_path: Path) -> None:
    srv = LocalServer(Launch(argv=[str(tmp_path / "nope" / "llama-server")], port=1), tmp_path / "log")
    with pytest.raises(EngineStartError, match="engine executable not found"):
        srv.start()
    assert os.path.exists(tmp_path / "log") is False


def test_make_server_picks_the_executor(tmp_path: Path) -> None:
    from servemark.executors import make_server

    base = {"name": "t", "model": {"name": "m", "path": "org/m"}, "engine": {"name": "sglang"},
            "hardware": {"name": "h200", "gpus": 8}, "scenarios": [{"isl": 8, "osl": 8}], "concurrency": [1]}
    lg = Launch(argv=["x"], env={"CUDA_VISIBLE_DEVICES": "0"}, port=8000)
    assert isinstance(make_server(lg, tmp_path / "l", Recipe.model_validate(base)), LocalServer)
    srv = make_server(lg, tmp_path / "l", Recipe.model_validate({**base, "executor": {"kind": "podman", "image": "i:1"}}))
    assert isinstance(srv, ContainerServer) and srv.cmds.run[:2] == ["podman", "run"]
