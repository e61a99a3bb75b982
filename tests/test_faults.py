"""Fault injection through the real CLI: store contention, engine deaths, servemark killed,
misbehaving servers, secrets, and every bad input of issue 13 (a clear error, never a traceback).

The engine here is the calibration server started by the sweep as a real local subprocess
(``engine: calibration``); the vLLM CPU kill is in tests/test_faults_engine.py.
"""

from __future__ import annotations

import json
import math
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_support import (HOLD, calib_recipe, cli, engine_pids, env, failures, has_traceback, kill_group_of, start_cli,
                           store_rows, wait_for_points, wait_gone, write_recipe)
from servemark.models import demo


@pytest.fixture
def tokenizer() -> None:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert not has_traceback(out), out
    return out


def _error(proc: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    out = proc.stdout + proc.stderr
    assert not has_traceback(out), out
    assert proc.returncode == code, out
    for n in needles:
        assert n in out, out
    return out


# -- store contention -----------------------------------------------------------------------------



@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_sweep_survives_another_process_holding_the_store(tmp_path: Path, tokenizer: None, mode: str) -> None:
    """A writer (a second run, an import) or a reader (dashboard build) holding the file while the
    sweep wants to write: the sweep waits (reported), and every planned point is stored."""
    db = tmp_path / "s.duckdb"
    assert cli(tmp_path, "import", "vllm-bench", str(_vllm_file(tmp_path)), "--gpus", "1").returncode == 0
    recipe = write_recipe(tmp_path, calib_recipe(conc=[1, 2, 4, 8], ttft_ms=50))
    sweep = start_cli(tmp_path, "run", str(recipe))
    try:
        assert wait_for_points(db, 2)  # the import's point plus the sweep's first
        hold = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "4", mode], stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "held"
        out, _ = sweep.communicate(timeout=180)
        hold.wait(10)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, out
    assert not has_traceback(out)
    rows = store_rows(db, "SELECT count(*) FROM points WHERE source = 'servemark'")
    assert rows[0][0] == 4
    assert store_rows(db, "SELECT status FROM runs WHERE kind = 'sweep'") == [("done",)]


def test_reader_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert cli(tmp_path, "import", "vllm-bench", str(_vllm_file(tmp_path)), "--gpus", "1").returncode == 0
    # held longer than the CLI takes to start on a loaded machine, so the reader does meet the lock
    hold = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "10", "rw"], stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == "held"
    out = _ok(cli(tmp_path, "frontier", "--json"))
    assert hold.poll() is not None, "the reader finished while the writer still held the store"
    assert "waiting for the results store" in out


def test_store_lock_wait_is_bounded_and_named(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert cli(tmp_path, "import", "vllm-bench", str(_vllm_file(tmp_path)), "--gpus", "1").returncode == 0
    hold = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "6", "rw"], stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == "held"
    try:
        _error(cli(tmp_path, "frontier", SERVEMARK_STORE_WAIT_S="1"), "stayed locked by PID", "SERVEMARK_STORE_WAIT_S")
    finally:
        hold.kill()


# -- engine deaths ----------------------------------------------------------------------------------

def test_engine_death_is_recorded_restarted_and_the_point_retried(tmp_path: Path, tokenizer: None) -> None:
    rec = calib_recipe(conc=[1, 2, 4], faults={"die": [9]}, die_marker=str(tmp_path / "died-once"),
                       child_processes=1)
    out = _ok(cli(tmp_path, "run", str(write_recipe(tmp_path, rec))))
    (f,) = failures(tmp_path)
    assert f["reason"] == "exited with code 3" and f["action"] == "restarted, point retried"
    rows = store_rows(tmp_path / "s.duckdb", "SELECT conc, completed, num_requests, flags FROM points ORDER BY conc")
    assert [r[0] for r in rows] == [1, 2, 4]
    assert all(r[1] == r[2] for r in rows), rows  # nothing measured against the dead engine
    assert "exited with code 3" in out
    assert not engine_pids(rec["engine"]["port"])


def test_engine_dying_twice_fails_the_layout_and_the_sweep_goes_on(tmp_path: Path, tokenizer: None) -> None:
    rec = calib_recipe(conc=[1, 2], faults={"die": [3]})
    rec["layouts"] = [{"tp": 1}, {"tp": 1, "max_num_seqs": 4}]
    out = _error(cli(tmp_path, "run", str(write_recipe(tmp_path, rec))), "partial", "exited with code 3", code=1)
    fs = failures(tmp_path)
    assert [f["action"] for f in fs] == ["restarted, point retried", "layout given up"] * 2, out
    assert store_rows(tmp_path / "s.duckdb", "SELECT status FROM runs") == [("partial",)]
    # each layout measured conc 1 (arrivals 0..4 live: warmup 1 + 4) before its engine died for good
    rows = store_rows(tmp_path / "s.duckdb", "SELECT conc, completed, num_requests FROM points")
    assert all(r[1] == r[2] for r in rows)


# -- servemark itself killed --------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_servemark_leaves_no_engine_and_the_run_reads_interrupted(tmp_path: Path, tokenizer: None,
                                                                          sig: signal.Signals) -> None:
    rec = calib_recipe(conc=[1, 2, 4, 8], ttft_ms=40, itl_ms=150, child_processes=2, parent_watch=False)
    port = rec["engine"]["port"]
    path = write_recipe(tmp_path, rec)
    db = tmp_path / "s.duckdb"
    sweep = start_cli(tmp_path, "run", str(path))
    pids: list[int] = []
    try:
        assert wait_for_points(db, 1)
        pids = engine_pids(port)
        assert len(pids) == 3, pids  # the server and its two workers
        sweep.send_signal(sig)
        out, _ = sweep.communicate(timeout=60)
        assert not wait_gone(pids, 30), "engine processes outlived servemark"
    finally:
        sweep.kill()
        kill_group_of(pids)
    if sig == signal.SIGTERM:
        assert sweep.returncode == 143 and "terminated" in out and not has_traceback(out)
    from servemark.store import Store

    with Store(db, read_only=True) as st:  # SIGKILL: the row still says running, its owner is gone
        assert [r["status"] for r in st.runs()] == ["interrupted"]
    # resume measures only what is missing; the port is free again for the engine
    stored = store_rows(db, "SELECT point_id FROM points")
    out = _ok(cli(tmp_path, "run", str(path), "--resume"))
    assert "resumed" in out
    after = store_rows(db, "SELECT point_id, conc FROM points ORDER BY conc")
    assert [c for _, c in after] == [1, 2, 4, 8]
    assert {p for (p,) in stored} <= {p for p, _ in after}
    assert store_rows(db, "SELECT count(*), count(DISTINCT point_id) FROM points") == [(4, 4)]
    assert store_rows(db, "SELECT status FROM runs") == [("done",)]


def test_resume_after_interrupt_at_point_k_of_n(tmp_path: Path, tokenizer: None) -> None:
    """Interrupted at point k of n (Ctrl-C), ``--resume`` measures exactly the n - k missing points."""
    rec = calib_recipe(conc=[1, 2, 3, 4, 5], ttft_ms=30, itl_ms=100)
    path = write_recipe(tmp_path, rec)
    db = tmp_path / "s.duckdb"
    sweep = start_cli(tmp_path, "run", str(path))
    try:
        assert wait_for_points(db, 2)
        sweep.send_signal(signal.SIGINT)
        out, _ = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
    assert sweep.returncode == 130 and not has_traceback(out), out
    k = store_rows(db, "SELECT count(*) FROM points")[0][0]
    assert 2 <= k < 5
    assert store_rows(db, "SELECT status FROM runs") == [("interrupted",)]
    out = _ok(cli(tmp_path, "run", str(path), "--resume"))
    assert f"{k} of 5 points measured before" in out
    assert out.count("✓ conc") == 5 - k, out  # only the missing points were measured
    assert store_rows(db, "SELECT count(*), count(DISTINCT point_id), count(DISTINCT conc) FROM points") == [(5, 5, 5)]



def test_resume_never_resends_what_an_interrupted_attempt_put_in_the_cache(tmp_path: Path, tokenizer: None) -> None:
    """Prefix caching on, against a server that keeps running (``--endpoint``): the point that
    Ctrl-C cut short is measured again on resume with text the first attempt never sent, so it
    cannot be served from what that attempt left in the cache."""
    from servemark.calibration.plan import CalibrationPlan
    from servemark.calibration.process import CalibrationServer

    rec = calib_recipe(conc=[1, 2, 3])
    rec["scenarios"] = [{"isl": 32, "osl": 8, "prefix_cache": "on"}]
    path = write_recipe(tmp_path, rec)
    db = tmp_path / "s.duckdb"

    def sent(srv: CalibrationServer) -> set[str]:
        return {t["prompt_digest"] for t in srv.truth()["requests"].values()}

    with CalibrationServer(CalibrationPlan(ttft_ms=30, itl_ms=100)) as srv:
        sweep = start_cli(tmp_path, "run", str(path), "--endpoint", srv.base_url)
        try:
            assert wait_for_points(db, 1)
            time.sleep(1.5)  # the second point's warmup and first requests are out
            sweep.send_signal(signal.SIGINT)
            out, _ = sweep.communicate(timeout=60)
        finally:
            sweep.kill()
        assert sweep.returncode == 130, out
        assert store_rows(db, "SELECT count(*) FROM points") == [(1,)], out
        first = sent(srv)
        srv.reset()
        out = _ok(cli(tmp_path, "run", str(path), "--resume", "--endpoint", srv.base_url))
        again = sent(srv)
    assert "1 of 3 points measured before" in out
    assert len(first) > 5 and len(again) > 5  # point 1 (5 requests) and part of point 2; points 2 and 3
    assert not first & again

# -- a server whose numbers cannot be trusted --------------------------------------------------------

@pytest.mark.parametrize("kind", ["usage_inflated", "usage_garbage", "usage_huge", "usage_negative"])
def test_impossible_usage_is_a_named_failure_never_a_crash(tmp_path: Path, tokenizer: None, kind: str) -> None:
    rec = calib_recipe(conc=[1, 2], always=[kind])
    _ok(cli(tmp_path, "run", str(write_recipe(tmp_path, rec))))
    rows = store_rows(tmp_path / "s.duckdb", "SELECT completed, failed, flags, extra, tput_per_gpu FROM points")
    assert len(rows) == 2
    for completed, failed, flags, extra, tput in rows:
        assert completed == 0 and failed > 0 and "too_many_failures" in flags
        assert set(json.loads(extra)["failures"]) == {"bad_usage"}


def test_usage_beyond_tolerance_flags_the_point(tmp_path: Path, tokenizer: None) -> None:
    """Chunks of 2 tokens each counted as one text chunk: usage is 2x what was streamed as chunks
    but within max_tokens: plausible for multi-token chunks, so a flag, not a failure."""
    rec = calib_recipe(conc=[1], tokens_per_chunk=[2])
    _ok(cli(tmp_path, "run", str(write_recipe(tmp_path, rec))))
    ((flags, dev, failed),) = store_rows(tmp_path / "s.duckdb", "SELECT flags, output_token_deviation, failed FROM points")
    assert "usage_mismatch" in flags and dev == pytest.approx(1.0) and failed == 0


def test_api_key_echoed_by_the_server_is_never_stored(tmp_path: Path, tokenizer: None) -> None:
    key = "sk-" + secrets.token_hex(16)  # a fresh fake key: the server echoes it, nothing may keep it
    rec = calib_recipe(conc=[1], always=["echo_key_401"])
    out = _ok(cli(tmp_path, "run", str(write_recipe(tmp_path, rec)), SERVEMARK_API_KEY=key))
    site = tmp_path / "site"
    _ok(cli(tmp_path, "dashboard", "build", "--out", str(site), SERVEMARK_API_KEY=key))
    files = [tmp_path / "s.duckdb", *(tmp_path / "runs").rglob("*"), *site.rglob("*")]
    for f in files:
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    assert key not in out
    (extra,) = store_rows(tmp_path / "s.duckdb", "SELECT extra FROM points")[0]
    assert "invalid credentials: Bearer ***" in extra


# -- inputs that cannot hurt ---------------------------------------------------------------------------

def _vllm_file(tmp: Path, **over: object) -> Path:
    obj = {"date": "20250101-120000", "model_id": "m", "num_prompts": 10, "completed": 10, "failed": 0,
           "max_concurrency": 4, "duration": 10.0, "total_input_tokens": 1000, "total_output_tokens": 1000,
           "request_throughput": 1.0, "output_throughput": 100.0, "total_token_throughput": 200.0,
           "median_tpot_ms": 10.0, "median_ttft_ms": 50.0, "isl": 100, "osl": 100, **over}
    path = tmp / f"vb-{len(list(tmp.glob('vb-*')))}.json"
    path.write_text(json.dumps(obj).replace("NaN", "NaN"))
    return path


def _bad_recipe(tmp: Path, text: str | bytes, name: str = "bad.yaml") -> Path:
    p = tmp / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


GOOD = "name: ok\nmodel: {name: m}\nengine: {name: vllm, build: cpu}\nscenarios: [{isl: 8, osl: 8}]\nconcurrency: [1]\n"


@pytest.mark.parametrize("text,needle", [
    (bytes(range(256)), "binary file"),
    ("name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ("[" * 20000 + "]" * 20000, "nested"),
    (GOOD + "name: again\n", "duplicate key 'name'"),
    (GOOD.replace("name: ok", "name: ../../../../tmp/x"), "not a safe name"),
    (GOOD.replace("engine: {name: vllm, build: cpu}", "engine: {name: vllm, build: cpu, env: {'A=B': x}}"), "not a variable name"),
    (GOOD.replace("concurrency: [1]", "concurrency: [1000000000000000000000000000000]"), "concurrency"),
    (GOOD.replace("isl: 8", "isl: 1000000000000"), "scenarios.0.isl"),
    (GOOD + "request_timeout_s: 0\n", "request_timeout_s"),
])
def test_bad_recipes_are_clear_errors(tmp_path: Path, text: str | bytes, needle: str) -> None:
    _error(cli(tmp_path, "plan", str(_bad_recipe(tmp_path, text))), needle)


def test_recipe_request_timeout_is_used(tmp_path: Path, tokenizer: None) -> None:
    rec = calib_recipe(conc=[1], faults={"stall": [1, 2, 3, 4]}, stall_s=3)
    rec["request_timeout_s"] = 0.5
    _ok(cli(tmp_path, "run", str(write_recipe(tmp_path, rec))))
    ((extra,),) = store_rows(tmp_path / "s.duckdb", "SELECT extra FROM points")
    assert json.loads(extra)["failures"] == {"timeout": 4}


@pytest.mark.parametrize("args,needle", [
    (["sol", "frontier", "llama-3.1-8b", "h100", "--gpus", "abc"], "'abc' is not a GPU count"),
    (["sol", "frontier", "llama-3.1-8b", "h100", "--gpus", "0"], "'0' is not a GPU count"),
    (["cost", "--at", "-5"], "--at must be a finite number above 0"),
    (["cost", "--at", "nan"], "--at must be a finite number above 0"),
    (["cost", "--at", "inf"], "--at must be a finite number above 0"),
    (["cost", "--at", "0"], "--at must be a finite number above 0"),
    (["history", "--at", "nan"], "--at must be a finite number above 0"),
])
def test_bad_options_are_clear_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    _error(cli(tmp_path, *args), needle)


def test_import_vllm_bench_negative_osl_is_refused(tmp_path: Path) -> None:
    _error(cli(tmp_path, "import", "vllm-bench", str(_vllm_file(tmp_path)), "--osl", "-5"), "--osl")


def test_import_inferencex_folder_and_wrong_types(tmp_path: Path) -> None:
    _error(cli(tmp_path, "import", "inferencex", str(tmp_path)), "is a folder")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"date": "2025-01-01", "model": "m", "hw": "h100", "framework": "vllm",
                                "precision": "fp8", "isl": "abc", "osl": 8, "conc": 4, "tput_per_gpu": 1.0}]))
    _error(cli(tmp_path, "import", "inferencex", str(bad)), str(bad), "row 0")


def test_vllm_bench_nonfinite_and_negative_values_are_flagged_not_stored(tmp_path: Path) -> None:
    f = tmp_path / "nan.json"
    f.write_text('{"date": "20250101-120000", "model_id": "m", "num_prompts": 10, "completed": 10, "failed": 0,'
                 '"max_concurrency": 4, "duration": 10.0, "isl": 100, "osl": 100, "output_throughput": -5.0,'
                 '"total_token_throughput": NaN, "median_tpot_ms": Infinity, "median_ttft_ms": -3}')
    _ok(cli(tmp_path, "import", "vllm-bench", str(f), "--gpus", "1"))
    ((tput, out_tput, tpot, ttft, flags),) = store_rows(
        tmp_path / "s.duckdb", "SELECT tput_per_gpu, output_tput_per_gpu, median_tpot, median_ttft, flags FROM points")
    assert tput is None and out_tput is None and tpot is None and ttft is None
    for flag in ("nonfinite_value", "negative_value", "nonpositive_throughput"):
        assert flag in flags
    for v in (tput, out_tput, tpot, ttft):
        assert v is None or math.isfinite(v)


def test_imported_names_cannot_drive_the_terminal(tmp_path: Path) -> None:
    evil = "m\x1b[2J\x1b]0;owned\x07"
    _ok(cli(tmp_path, "import", "vllm-bench", str(_vllm_file(tmp_path, model_id=evil)), "--gpus", "1"))
    for args in (["frontier"], ["frontier", "--csv"], ["cost", "--show-all"]):
        out = _ok(cli(tmp_path, *args))
        assert "\x1b" not in out and "\x07" not in out, args
    assert "\\x1b[2J" in _ok(cli(tmp_path, "frontier"))


def test_point_waits_on_disk_when_the_store_stays_locked(tmp_path: Path, tokenizer: None) -> None:
    """The lock outlasts the bounded wait: the measured point is kept in the run folder and
    written once the store is free; nothing is lost, the run ends done."""
    db = tmp_path / "s.duckdb"
    rec = calib_recipe(conc=[1, 2, 4, 8, 16], ttft_ms=200, itl_ms=5)
    sweep = start_cli(tmp_path, "run", str(write_recipe(tmp_path, rec)), SERVEMARK_STORE_WAIT_S="0.3")
    try:
        assert wait_for_points(db, 1)
        hold = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "2.5", "rw"], stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "held"
        out, _ = sweep.communicate(timeout=180)
        hold.wait(10)
    finally:
        sweep.kill()
    assert sweep.returncode == 0 and not has_traceback(out), out
    assert "kept in" in out and "retried later" in out, out
    assert store_rows(db, "SELECT count(*), count(DISTINCT point_id) FROM points") == [(5, 5)]
    assert not list((tmp_path / "runs").glob("*/pending/*.json"))


OWNER = """
import sys, time
from pathlib import Path
from servemark.engines.base import Launch
from servemark.executors.local import LocalServer
marker = sys.argv[1]
srv = LocalServer(Launch(argv=[sys.executable, "-c", "import time; time.sleep(600)"], port=1),
                  Path(marker + ".log"), on_orphan=[sys.executable, "-c", f"open({marker!r}, 'w').close()"])
srv.start()
print(srv.proc.pid, flush=True)
time.sleep(600)
"""


def test_watchdog_stops_the_engine_and_runs_the_container_cleanup_when_the_owner_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "container-removed"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(marker)], stdout=subprocess.PIPE, text=True,
                             env=env(tmp_path))
    engine = int(owner.stdout.readline())
    try:
        owner.kill()
        owner.wait(10)
        assert not wait_gone([engine], 20), "the engine outlived its owner"
        end = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert marker.exists(), "the orphan clean-up (container rm) did not run"
    finally:
        kill_group_of([engine])
