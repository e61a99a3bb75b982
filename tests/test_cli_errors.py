"""Bad input through the real CLI: a clear one-line message, a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from servemark.engine_envs import vllm_cpu
from servemark.models import demo

RECIPE = {
    "name": "err",
    "model": {"name": "gemma-3-270m", "path": "auto"},
    "engine": {"name": "vllm", "build": "cpu", "args": {"max-model-len": 512, "gpu-memory-utilization": 0.1},
               "startup_timeout_s": 300.0},
    "scenarios": [{"isl": 16, "osl": 4}],
    "concurrency": [1],
    "requests_per_point": {"per_conc": 1, "min": 2},
}


def servemark(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env_args = ["--db", str(tmp_path / "s.duckdb"), "--runs-dir", str(tmp_path / "runs")] if args and args[0] == "run" else []
    return subprocess.run([sys.executable, "-m", "servemark", *args, *env_args], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)


def recipe_file(tmp_path: Path, **over: object) -> Path:
    data = yaml.safe_load(yaml.safe_dump(RECIPE))
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def assert_clean_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    assert needle in res.stderr, res.stderr


def needs_engine() -> None:
    if not vllm_cpu.installed() or not demo.is_built("gemma-3-270m"):
        pytest.skip("vLLM CPU environment / demo model not installed")


def test_version_and_help(tmp_path: Path) -> None:
    assert servemark(tmp_path, "--version").stdout.startswith("servemark ")
    assert "demo" in servemark(tmp_path, "--help").stdout


def test_bad_recipe(tmp_path: Path) -> None:
    p = recipe_file(tmp_path, scenarios=[{"isl": 16, "osl": 0}])
    assert_clean_error(servemark(tmp_path, "run", str(p)), "scenarios.0.osl")


def test_missing_model(tmp_path: Path) -> None:
    p = recipe_file(tmp_path, model={"name": "x", "path": str(tmp_path / "no-such-model")})
    assert_clean_error(servemark(tmp_path, "run", str(p)), "model path not found")


def test_unknown_engine(tmp_path: Path) -> None:
    p = recipe_file(tmp_path, engine={"name": "warp-drive"})
    assert_clean_error(servemark(tmp_path, "run", str(p)), "unknown engine")


def test_unreachable_server(tmp_path: Path) -> None:
    needs_engine()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        res = servemark(tmp_path, "run", str(recipe_file(tmp_path)), "--endpoint", f"http://127.0.0.1:{port}")
    assert_clean_error(res, "unreachable")


def test_port_in_use(tmp_path: Path) -> None:
    needs_engine()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = servemark(tmp_path, "run", str(recipe_file(tmp_path, engine__port=port)))
    assert_clean_error(res, "already in use")


@pytest.mark.engine
def test_engine_dies_at_start(tmp_path: Path) -> None:
    needs_engine()
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{\"model_type\": \"no-such-architecture\"}")
    (broken / "tokenizer.json").write_text((demo.model_dir("gemma-3-270m") / "tokenizer.json").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = recipe_file(tmp_path, model={"name": "broken", "path": str(broken)}, engine__port=port)
    res = servemark(tmp_path, "run", str(p))
    assert_clean_error(res, "exited with code")
    assert "last lines" in res.stderr
    # the failed start is on record: one run folder with the recipe, the launch and the engine's log,
    # and the run row marked failed with no points
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "recipe.json").is_file() and (run_dir / "launch-L0.json").is_file()
    assert list(run_dir.glob("engine-L0-*.log"))
    from servemark.store import Store

    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        (row,) = store.query("SELECT run_id, status FROM runs")
        assert row["run_id"] == run_dir.name and row["status"] == "failed"
        assert store.points("run_id = ?", [run_dir.name]) == []


@pytest.mark.engine
def test_ctrl_c_during_start_leaves_no_engine(tmp_path: Path) -> None:
    import os
    import signal
    import time

    import psutil

    needs_engine()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = recipe_file(tmp_path, engine__port=port)
    proc = subprocess.Popen([sys.executable, "-m", "servemark", "run", str(p), "--db", str(tmp_path / "s.duckdb"),
                             "--runs-dir", str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def engine_procs() -> list[psutil.Process]:
        found = []
        for pr in psutil.process_iter(["cmdline"]):
            cmd = pr.info["cmdline"] or []
            if "vllm.entrypoints.openai.api_server" in cmd and str(port) in cmd:
                found.append(pr)
        return found

    deadline = time.monotonic() + 120
    while not engine_procs() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert engine_procs(), "the engine never started"
    time.sleep(3)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    time.sleep(1)
    assert engine_procs() == []
    from servemark.store import Store

    with Store(tmp_path / "s.duckdb", read_only=True) as st:
        (run,) = st.runs()
    assert run["status"] == "interrupted"
