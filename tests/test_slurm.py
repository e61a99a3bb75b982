"""Sweeps on a real Slurm cluster: the two-node cluster scripts/slurm_cluster.sh starts on this host.

The engine is the calibration server (known timings, starts in a second) run as an engine:
servemark renders it, submits the batch script, the job runs the sweep runner on n1 and each
server as an ``srun`` step on its node, and the points come back as bundles. One test runs
llama.cpp's CPU server the same way. Every test drives the ``servemark`` command line in a
subprocess, as a user would, and reads the store afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from servemark.models import demo
from servemark.engines.check import load_recipe
from servemark.recipe.expand import expand
from servemark.store import Store
from servemark.sweep.identity import planned_ids

from conftest import free_port

pytestmark = pytest.mark.slurm
CLI = [sys.executable, "-m", "servemark"]


def _cluster_up() -> str | None:
    """None when the test cluster answers with n1 and n2 schedulable, else why not."""
    if not shutil.which("sinfo"):
        return "Slurm client commands not installed (scripts/slurm_cluster.sh start installs them as root)"
    if not os.environ.get("SLURM_CONF"):
        return "SLURM_CONF not set: eval \"$(scripts/slurm_cluster.sh env)\" after scripts/slurm_cluster.sh start"
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    nodes = dict(line.split() for line in out.stdout.splitlines() if line.strip())
    if out.returncode != 0 or not {"n1", "n2"} <= set(nodes):
        return f"test Slurm cluster not running (scripts/slurm_cluster.sh start): {out.stderr.strip()[-200:]}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _needs() -> None:
    why = _cluster_up()
    if why:
        pytest.skip(why)
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")


def recipe(tmp_path: Path, name: str, conc: list[int], itl_ms: float = 5, **over: Any) -> Path:
    body: dict[str, Any] = {
        "name": name,
        "model": {"name": "gemma-3-270m", "path": "auto"},
        "engine": {"name": "calibration", "port": free_port(), "args": {"ttft_ms": 20, "itl_ms": itl_ms}},
        "executor": {"kind": "slurm", "slurm": {"time": "00:10:00"}},
        "scenarios": [{"isl": 32, "osl": 8}],
        "concurrency": conc,
        "requests_per_point": {"per_conc": 2, "min": 4},
        "warmup": {"per_conc": 0, "min": 1},
        **over,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def cli(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "--db", str(tmp_path / "head.duckdb"), "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=timeout)


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args, "--db", str(tmp_path / "head.duckdb"), "--runs-dir", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 180) -> list[str]:
    """Lines of ``proc`` up to the first matching ``pattern`` (the test fails if it never comes)."""
    lines: list[str] = []
    t0 = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if re.search(pattern, line):
            return lines
        assert time.monotonic() - t0 < timeout, "".join(lines)
    raise AssertionError(f"{pattern!r} never printed:\n" + "".join(lines))


def job_id(lines: list[str]) -> str:
    return next(m.group(1) for line in lines if (m := re.search(r"submitted Slurm job (\d+)", line)))


def stored(tmp_path: Path, run_id: str | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
    with Store(tmp_path / "head.duckdb", read_only=True) as s:
        return s.points("run_id = ?", [run_id] if run_id else []) if run_id else s.points(), s.runs()


def expected_ids(path: Path, run_id: str) -> set[str]:
    r = load_recipe(path)
    return set(planned_ids(r, expand(r), run_id).values())


def test_sweep_runs_as_a_slurm_job_and_its_points_land_in_the_store(tmp_path: Path) -> None:
    path = recipe(tmp_path, "job", [1, 2])
    done = cli(tmp_path, "run", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    points, runs = stored(tmp_path)
    (run,) = runs
    assert run["status"] == "done" and re.match(r"slurm job \d+", run["note"])
    assert {p.point_id for p in points} == expected_ids(path, run["run_id"])
    for p in points:
        assert p.completed == p.num_requests and p.median_ttft >= 0.020
        assert p.extra["placement"]["server"] in ("n1", "n2") and p.extra["slurm_job"] == run["note"].split()[-1]
    run_dir = tmp_path / "runs" / run["run_id"]
    assert (run_dir / "engine-L0-server.log").is_file() and len(list((run_dir / "records").glob("*.parquet"))) == 2
    assert list((tmp_path / "runs" / "slurm").glob("*/slurm-*.out")), "the job's output is kept next to its script"
    (client_log,) = run_dir.glob("slurm-*-0.log")  # and the runner's (client's) log in the run folder
    assert "conc    2" in client_log.read_text()


def test_two_node_disaggregated_layout_places_prefill_and_decode_on_n1_and_n2(tmp_path: Path) -> None:
    path = recipe(tmp_path, "pd", [1, 2], hardware={"name": "calib-gpu", "gpus": 2, "gpus_per_node": 1},
                  layouts=[{"prefill": {"tp": 1}, "decode": {"tp": 1}}])
    done = cli(tmp_path, "run", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    points, _ = stored(tmp_path)
    assert len(points) == 2
    for p in points:
        assert p.disagg and p.failed == 0
        assert p.extra["placement"] == {"prefill-0": "n1", "decode-0": "n2", "router": "n1", "client": "n1"}
        # prefill (ttft 20 ms) then decode (its own 20 ms to the first token): both roles served it
        assert p.median_ttft >= 0.040


def test_cancelled_job_then_resume_ends_with_exactly_the_planned_points(tmp_path: Path) -> None:
    path = recipe(tmp_path, "cancel", [1, 2, 3, 4, 5], itl_ms=60)
    proc = start(tmp_path, "run", str(path))
    lines = read_until(proc, r"conc\s+2:")
    subprocess.run(["scancel", job_id(lines)], check=True, timeout=30)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "CANCELLED" in out, out
    points, (run,) = stored(tmp_path)
    assert 2 <= len(points) < 5 and run["status"] == "interrupted"

    done = cli(tmp_path, "run", str(path), "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"resumed \S+ .*\((\d) of 5 points measured before\)", done.stdout + done.stderr)
    points, (run,) = stored(tmp_path)
    ids = [p.point_id for p in points]
    assert len(ids) == len(set(ids)) == 5 and set(ids) == expected_ids(path, run["run_id"])
    assert sorted(p.conc for p in points) == [1, 2, 3, 4, 5] and run["status"] == "done"


def test_requeued_job_continues_where_it_stopped(tmp_path: Path) -> None:
    path = recipe(tmp_path, "requeue", [1, 2, 3, 4], itl_ms=60)
    proc = start(tmp_path, "run", str(path))
    lines = read_until(proc, r"conc\s+2:")
    jid = job_id(lines)
    subprocess.run(["scontrol", "requeue", jid], check=True, timeout=30)
    read_until(proc, r"pending")
    # Slurm holds a requeued batch job two minutes before it is eligible again; not worth waiting for
    subprocess.run(["scontrol", "update", f"JobId={jid}", "StartTime=now"], check=True, timeout=30)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, "".join(lines) + out
    assert "restart 1" in out and re.search(r"resumed \S+ .*\(([23]) of 4 points measured before\)", out)
    points, (run,) = stored(tmp_path)
    assert sorted(p.conc for p in points) == [1, 2, 3, 4] and run["status"] == "done"
    assert {p.point_id for p in points} == expected_ids(path, run["run_id"])
    assert max(p.extra["slurm_restarts"] for p in points) == 1


def test_job_array_of_twenty_tasks_runs_at_most_the_limit_at_once(tmp_path: Path) -> None:
    paths = [recipe(tmp_path, f"arr{i:02d}", [1]) for i in range(20)]
    done = cli(tmp_path, "submit", *map(str, paths), "--array", "--limit", "4", timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    points, runs = stored(tmp_path)
    assert len(points) == 20 and len(runs) == 20 and all(r["status"] == "done" for r in runs)
    assert len({p.extra["slurm_job"] for p in points}) == 20  # 20 array tasks, one per recipe layout
    (script,) = (tmp_path / "runs" / "slurm").glob("*/job.sbatch")
    assert "#SBATCH --array=0-19%4" in script.read_text()
    running = [int(m.group(1)) for m in re.finditer(r"(\d+) running", out)]
    assert running and max(running) <= 4


def _leftovers(marker: str) -> list[str]:
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if marker in cmd and p.pid != os.getpid():
            out.append(f"{p.pid} {cmd}")
    return out


def test_ctrl_c_cancels_the_job_and_leaves_no_process(tmp_path: Path) -> None:
    path = recipe(tmp_path, "ctrlc", [1, 2, 3, 4], itl_ms=60)
    port = str(load_recipe(path).engine.port)
    proc = start(tmp_path, "run", str(path))
    lines = read_until(proc, r"conc\s+1:")
    jid = job_id(lines)
    assert _leftovers(f"--port {port}"), "the engine runs while the job does"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and f"cancelled Slurm job {jid}" in out, out
    q = subprocess.run(["squeue", "-h", "-j", jid], capture_output=True, text=True, timeout=30)
    assert q.stdout.strip() == ""
    assert _leftovers(f"--port {port}") == [] and _leftovers(str(tmp_path / "runs")) == []
    points, (run,) = stored(tmp_path)
    assert len(points) >= 1 and run["status"] == "interrupted"  # what was measured is kept


@pytest.mark.engine
def test_llama_cpp_cpu_sweep_as_a_slurm_job(tmp_path: Path) -> None:
    from servemark.engine_envs import llama_cpp

    try:
        llama_cpp.server_binary()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"llama.cpp not installed: {exc}")
    body = yaml.safe_load((resources.files("servemark") / "data" / "recipes" / "demo-llamacpp.yaml").read_text())
    body.update(name="llamacpp-slurm", concurrency=[1, 2], executor={"kind": "slurm", "slurm": {"time": "00:15:00"}},
                requests_per_point={"per_conc": 2, "min": 4})
    body["engine"]["port"] = free_port()
    path = tmp_path / "llamacpp.yaml"
    path.write_text(yaml.safe_dump(body))
    argv = ["flock", "/tmp/servemark-engine.lock", *CLI, "run", str(path),
            "--db", str(tmp_path / "head.duckdb"), "--runs-dir", str(tmp_path / "runs")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)  # includes waiting for the lock
    assert done.returncode == 0, done.stdout + done.stderr
    points, (run,) = stored(tmp_path)
    assert sorted(p.conc for p in points) == [1, 2] and run["status"] == "done"
    for p in points:
        assert p.engine == "llama-cpp-cpu" and p.failed == 0 and p.total_output_tokens > 0
        assert p.extra["placement"]["server"] in ("n1", "n2")
