"""``servemark sol`` end to end: tables, --json, the store tables the dashboard reads, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from servemark.store import Store

CLI = [sys.executable, "-c", "from servemark.cli import main; main()"]


def run(*args: str, env_db: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_db:
        env["SERVEMARK_DB"] = env_db
    return subprocess.run([*CLI, "sol", *args], capture_output=True, text=True, env=env, timeout=120)


def test_breakdown_json_and_table():
    r = run("breakdown", "deepseek-r1", "h20", "--phase", "decode", "--isl", "3260", "--osl", "550",
            "--batch", "32", "--ep", "8", "--mode", "article", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["mode"] == "article" and d["binding"] == "compute"
    r = run("breakdown", "llama-3.1-8b", "h100", "--precision", "bf16")
    assert r.returncode == 0 and "memory_bandwidth" in r.stdout


def test_frontier_written_for_the_dashboard(tmp_path):
    db = str(tmp_path / "s.duckdb")
    r = run("frontier", "llama-3.1-8b", "h100", "--precision", "bf16", "--gpus", "1", "--write", "--json", env_db=db)
    assert r.returncode == 0, r.stderr
    pts = json.loads(r.stdout)
    with Store(db) as st:
        rows = st.query("SELECT frontier_id, model, hardware, precision, isl, osl, kind, mode, layout, conc, "
                        "intvty, tput_per_gpu, created_at FROM sol_frontiers ORDER BY intvty")
    assert len(rows) == len(pts) > 5
    assert rows[0]["hardware"] == "h100" and rows[0]["kind"] == "strict" and rows[0]["mode"] == "agg"
    assert rows[0]["model"] == "llama-3.1-8b" and rows[0]["isl"] == 1024


def test_check_on_imported_points(inferencex_dir, tmp_path):
    from servemark.importers.inferencex import import_inferencex

    db = str(tmp_path / "c.duckdb")
    with Store(db) as st:
        import_inferencex(st, inferencex_dir / "benchmarks.json")
        n = st.count_points()
    r = run("check", "--json", "--no-frontiers", env_db=db)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["points"] == n and d["judged"] == n and d["violations"] == 0
    assert set(d["by_hardware"]) >= {"b200", "h200", "mi355x"}


def test_hardware_and_model_json():
    r = run("hardware", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["accelerators"]["h100-sxm"]["sources"]["hbm_bw_gbps"]["date"] == "2026-11-22"
    r = run("model", "dsr1", "--json")
    m = json.loads(r.stdout)
    assert m["attention"] == "mla" and round(m["total_params"] / 1e9) == 671


def test_bad_input_is_one_line_error():
    r = run("frontier", "llama-3.1-8b", "tpu-v9")
    assert r.returncode == 2
    assert "unknown hardware 'tpu-v9'" in r.stderr and "Traceback" not in r.stderr
