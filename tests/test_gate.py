"""Frontier intervals, ratios and the regression gate on simulated runs stored in a real DuckDB file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servemark.analysis.uncertainty import band, compare_estimates, gate, scatter_noise, value_estimate
from servemark.calibration.simulated import SimModel, simulate_run, true_tput_at
from servemark.store import Store

CONCS = (1, 4, 8, 16, 32, 64, 128)
AT = 60.0


def _store(tmp_path: Path, runs: dict[str, tuple[SimModel, int, int]]) -> Path:
    db = tmp_path / "g.duckdb"
    with Store(db) as s:
        for run_id, (m, trials, seed) in runs.items():
            pts, rows = simulate_run(m, run_id, CONCS, trials=trials, seed=seed)
            s.add_points(pts)
            s.add_trials(rows)
    return db


def _gate(db: Path, *args: str) -> tuple[int, dict]:
    """The real CLI in a subprocess: exit codes are the contract (0 pass, 1 regression, 2 bad input)."""
    res = subprocess.run([sys.executable, "-m", "servemark", "gate", "--db", str(db), "--at", str(AT), "--json", *args],
                         capture_output=True, text=True, timeout=300)
    assert "Traceback" not in res.stderr
    return res.returncode, (json.loads(res.stdout) if res.stdout.strip().startswith("{") else {"err": res.stderr})


def test_gate_passes_a_a_and_fails_a_large_a_b(tmp_path: Path) -> None:
    m = SimModel(trial_noise=0.01)
    db = _store(tmp_path, {"base": (m, 3, 1), "same": (m, 3, 2), "slow": (SimModel(trial_noise=0.01, slowdown=1.10), 3, 3)})
    code, out = _gate(db, "--baseline", "base", "--candidate", "same")
    assert code == 0 and out["failed"] is False and out["groups"][0]["method"] == "t_trials/t_trials"
    code, out = _gate(db, "--baseline", "base", "--candidate", "slow", "--max-regression", "3%")
    assert code == 1 and out["failed"] is True
    assert out["groups"][0]["ratio"] == pytest.approx(1 / 1.10, rel=0.03)
    # a 10% slowdown is within a 20% allowance: pass
    code, out = _gate(db, "--baseline", "base", "--candidate", "slow", "--max-regression", "20%")
    assert code == 0


def test_gate_usage_errors_exit_2(tmp_path: Path) -> None:
    db = _store(tmp_path, {"base": (SimModel(), 2, 1)})
    assert _gate(db, "--baseline", "base", "--candidate", "nope")[0] == 2
    assert _gate(db, "--baseline", "base", "--candidate", "base", "--max-regression", "abc")[0] == 2
    code, out = _gate(db, "--baseline", "base")  # --candidate missing
    assert code == 2 and "candidate" in out["err"]


def test_single_trial_points_use_request_bootstrap(tmp_path: Path) -> None:
    pts, _ = simulate_run(SimModel(trial_noise=0.0), "one", CONCS, trials=1, seed=4)
    e = value_estimate(pts, AT)
    assert e.method == "bootstrap_requests" and e.low < e.value < e.high


def test_frontier_scatter_estimates_noise_of_imported_points() -> None:
    """No trials, no intervals (an InferenceX row): noise from the frontier's own scatter."""
    m = SimModel(noise=0.0, trial_noise=0.0)
    concs = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
    pts, _ = simulate_run(m, "imp", concs, trials=1, seed=5)
    for p in pts:
        p.intervals, p.interval_method, p.interval_level = {}, "", None
    # multiply each throughput by a known 3% noise, seeded
    import numpy as np

    rng = np.random.default_rng(0)
    for p in pts:
        p.tput_per_gpu *= float(np.exp(rng.normal(0, 0.03)))
    e = value_estimate(pts, AT)
    assert e.method == "frontier_scatter" and e.rel_se == pytest.approx(0.03, rel=0.6)
    sc = scatter_noise(pts)
    assert sc is not None and sc[1] == len(concs) - 2


def test_ratio_verdicts_and_band_cover_the_truth() -> None:
    m = SimModel(trial_noise=0.01)
    a, ta = simulate_run(m, "a", CONCS, trials=4, seed=6)
    b, tb = simulate_run(SimModel(trial_noise=0.01, slowdown=1.2), "b", CONCS, trials=4, seed=7)
    trials = {**{t.trial_of: [] for t in ta + tb}}
    for t in ta + tb:
        trials[t.trial_of].append(t)
    ea, eb = value_estimate(a, AT, trials), value_estimate(b, AT, trials)
    assert compare_estimates(ea, eb)["verdict"] == "better"
    assert compare_estimates(eb, ea)["verdict"] == "worse"
    a2, ta2 = simulate_run(m, "a2", CONCS, trials=4, seed=8)
    for t in ta2:
        trials.setdefault(t.trial_of, []).append(t)
    assert compare_estimates(value_estimate(a2, AT, trials), ea)["verdict"] == "indistinguishable"
    assert gate(ea, value_estimate(a2, AT, trials))["failed"] is False
    bd = band(a, trials)
    assert bd["method"] == "bootstrap_trials" and len(bd["x"]) > 5
    assert all(lo <= hi for lo, hi in zip(bd["low"], bd["high"]))
    # the band is about the measurement; the closed form sits a few % above a finite closed loop
    mid = len(bd["x"]) // 2
    assert bd["low"][mid] < true_tput_at(m, bd["x"][mid], 128, 32) * 1.0
