"""Engine kills on the real vLLM CPU engine, through the real CLI.

kill -9 of vLLM's api_server mid-sweep: its EngineCore worker must not outlive it, the death is
recorded (signal, log tail), the engine restarted once, the point retried, and no point is
measured against the dead engine. Then kill -9 of servemark itself: the watchdog stops the whole
engine and the port is free for the next run. Run under ``flock /tmp/servemark-engine.lock``
(one real engine on the machine at a time).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from fault_support import (cli, descendants_by_marker, failures, free_port, group_of, has_traceback, kill_group_of,
                           start_cli, store_rows, wait_for_points, wait_gone)
from servemark.engine_envs import vllm_cpu
from servemark.models import demo

pytestmark = pytest.mark.engine


@pytest.fixture
def recipe(tmp_path: Path, demo_recipe_path: Path) -> tuple[Path, int]:
    if not vllm_cpu.installed() or not demo.is_built("gemma-3-270m"):
        pytest.skip("vLLM CPU or the demo model not installed")
    rec = yaml.safe_load(demo_recipe_path.read_text())
    port = free_port()
    rec["engine"]["port"] = port
    rec["scenarios"] = [{"isl": 64, "osl": 16}]
    rec["concurrency"] = [1, 2, 4]
    rec["requests_per_point"] = {"per_conc": 1, "min": 4}
    rec["warmup"] = {"per_conc": 0, "min": 2}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(rec))
    return path, port


def test_vllm_killed_mid_sweep_then_servemark_killed(tmp_path: Path, recipe: tuple[Path, int]) -> None:
    path, port = recipe
    db = tmp_path / "s.duckdb"
    sweep = start_cli(tmp_path, "run", str(path))
    group: list[int] = []
    try:
        assert wait_for_points(db, 1, timeout=600)
        (api,) = [p for p in descendants_by_marker(f"--port {port}") if "api_server" in
                  Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        group = group_of(api)
        assert len(group) >= 2, group  # api_server and its EngineCore
        os.kill(api, signal.SIGKILL)
        out, _ = sweep.communicate(timeout=900)
    finally:
        sweep.kill()
        kill_group_of(group)
    assert sweep.returncode == 0 and not has_traceback(out), out
    assert not wait_gone(group, 5), "EngineCore outlived the killed api_server"
    (f,) = failures(tmp_path)
    assert f["reason"] == "killed by SIGKILL" and f["action"] == "restarted, point retried" and f["log_tail"]
    rows = store_rows(db, "SELECT conc, completed, num_requests FROM points ORDER BY conc")
    assert [r[0] for r in rows] == [1, 2, 4]
    assert all(r[1] == r[2] for r in rows), rows  # no point measured against the dead engine

    # now kill servemark itself: its watchdog stops the engine's whole group
    sweep = start_cli(tmp_path, "run", str(path))
    group = []
    try:
        assert wait_for_points(db, 4, timeout=600)
        (api,) = [p for p in descendants_by_marker(f"--port {port}") if "api_server" in
                  Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        group = group_of(api)
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(30)
        assert not wait_gone(group, 40), "vLLM outlived a kill -9 of servemark"
    finally:
        sweep.kill()
        kill_group_of(group)
    # the port is free and the interrupted run resumes to exactly its planned points
    res = cli(tmp_path, "run", str(path), "--resume", timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert store_rows(db, "SELECT count(*), count(DISTINCT point_id) FROM points") == [(6, 6)]
