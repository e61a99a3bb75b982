"""Adaptive concurrency: the known frontier of the simulated engine with at most half the points."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from servemark.calibration.process import SimulatedServer
from servemark.calibration.simulated import SimModel, simulate_records, true_point
from servemark.metrics import summarize
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.store import Store
from servemark.sweep.adaptive import (MIN_POINTS, Measured, adaptive_sweep, area_between, dense_ladder, folds,
                                      next_concurrency, pareto)
from servemark.sweep.recipe_run import SweepOptions, run_recipe

ISL, OSL = 128, 32


def _measure(m: SimModel):
    def measure(conc: int) -> Measured:
        f = summarize(simulate_records(m, conc, ISL, OSL, 8 * conc, seed=conc, num_warmup=conc))
        return Measured(conc, f["median_intvty"], f["tput_per_gpu"])
    return measure


def test_dense_ladder_is_powers_of_two_and_midpoints() -> None:
    assert dense_ladder(1, 16) == [1, 2, 3, 4, 6, 8, 12, 16]
    assert len(dense_ladder()) == 16


def test_adaptive_reaches_the_dense_frontier_with_half_the_points() -> None:
    m = SimModel()
    measure = _measure(m)
    dense = [measure(c) for c in dense_ladder()]
    ad = adaptive_sweep(measure, 1, 256, budget=8, tolerance=0.02)
    assert len(ad) <= len(dense) // 2
    gap = area_between([(p.x, p.y) for p in ad], [(p.x, p.y) for p in dense])
    assert gap <= 0.02, (gap, [p.conc for p in ad])
    # and the known frontier (closed form at the dense ladder), within the closed loop's drain bias
    truth = [true_point(m, c, ISL, OSL) for c in dense_ladder()]
    assert area_between([(p.x, p.y) for p in ad], truth) <= 0.08


# vLLM CPU's dense ladder (Gemma 3 270M, ISL/OSL 32/32, 3 trials a point, 2-core host, 2026-11-30):
# conc -> (tok/s/user, tok/s/GPU). Conc 2 and 3 fall below conc 1's throughput; the frontier resumes at 4.
VLLM_CPU = {1: (16.6, 29.6), 2: (6.5, 24.2), 3: (5.6, 27.7), 4: (4.8, 34.0), 6: (4.1, 43.0), 8: (3.1, 43.0),
            12: (2.4, 49.5), 16: (2.0, 52.8), 24: (1.5, 57.2), 32: (1.2, 59.7)}


def _vllm_cpu(conc: int) -> Measured:
    """The measured curve; between ladder points, log-linear (placement may ask for any concurrency)."""
    if conc in VLLM_CPU:
        return Measured(conc, *VLLM_CPU[conc])
    lo = max(c for c in VLLM_CPU if c < conc)
    hi = min(c for c in VLLM_CPU if c > conc)
    w = (math.log(conc) - math.log(lo)) / (math.log(hi) - math.log(lo))
    (xl, yl), (xh, yh) = VLLM_CPU[lo], VLLM_CPU[hi]
    return Measured(conc, math.exp((1 - w) * math.log(xl) + w * math.log(xh)), (1 - w) * yl + w * yh)


def test_a_curve_that_folds_back_gets_its_knee_measured() -> None:
    first = [_vllm_cpu(c) for c in (1, 6, 32, 2)]  # the first three points, then the middle of the 1..6 gap
    (err, a, d, b), = folds(first)
    assert (a, d, b) == (1, 2, 6) and err > 0.03  # conc 2 is dominated: the knee lies between 2 and 6
    assert next_concurrency(first, budget=5, tolerance=0.02) == 4  # where the parabola climbs back to conc 1's level
    ad = adaptive_sweep(_vllm_cpu, 1, 32, budget=5, tolerance=0.02)
    dense = [(x, y) for x, y in VLLM_CPU.values()]
    assert 4 in [p.conc for p in ad]
    assert area_between([(p.x, p.y) for p in ad], dense) <= 0.02  # the chord 1 -> 6 alone was 5% away
    # the real adaptive run's first four points, with their 3-trial t-interval half widths: the fold still comes first
    noisy = [Measured(1, 16.3, 28.8, 3.9), Measured(6, 3.7, 38.3, 6.5), Measured(32, 1.1, 59.1, 1.1), Measured(2, 5.9, 22.1, 3.7)]
    assert next_concurrency(noisy, budget=5, tolerance=0.02) in (4, 5)
    # once no whole concurrency is left between the last dominated point and the frontier, the knee is found
    found = [_vllm_cpu(c) for c in (1, 2, 3, 4, 6)]
    assert folds(found) == [(0.0, 1, 3, 4)]


def test_placement_stops_on_budget_tolerance_and_room() -> None:
    pts = [Measured(1, 100, 10), Measured(2, 90, 19), Measured(4, 80, 35)]
    assert next_concurrency(pts, budget=3, tolerance=0.0) is None  # budget spent
    def line(*concs: int) -> list[Measured]:
        return [Measured(c, 1000 / c, float(c)) for c in concs]

    # three points: one parabola shared by both gaps cannot vouch for either, so placement goes on
    assert next_concurrency(line(1, 16, 256), budget=10, tolerance=0.5) in (4, 64)
    assert next_concurrency(line(1, 4, 16, 256), budget=10, tolerance=0.5) == 64
    assert MIN_POINTS == 5 and next_concurrency(line(1, 4, 16, 64, 256), budget=10, tolerance=0.5) is None  # nothing bends enough
    assert next_concurrency(line(1, 16, 256), budget=3, tolerance=0.5) is None  # the budget still rules
    assert next_concurrency([Measured(1, 9, 1), Measured(2, 8, 2)], budget=10, tolerance=0.0) is None  # no room
    assert pareto([(1, 5), (2, 4), (1, 3)]) == [(1, 5), (2, 4)]


@pytest.mark.skipif(not demo.is_built("gemma-3-270m"), reason="demo tokenizer not built")
def test_adaptive_recipe_sweeps_the_simulated_server(tmp_path: Path) -> None:
    recipe = parse_recipe({
        "name": "ad", "model": {"name": "gemma-3-270m", "path": "auto", "served_name": "sim"},
        "engine": {"name": "vllm"}, "scenarios": [{"isl": 16, "osl": 6}], "concurrency": "adaptive",
        "adaptive": {"min": 1, "max": 32, "budget": 5, "tolerance": 0.001},
        "requests_per_point": {"per_conc": 2, "min": 4}, "warmup": {"per_conc": 0, "min": 1},
    })
    m = SimModel(floor_s=0.004, compute_s=0.0008, prefill_s=0.0001, noise=0.0, trial_noise=0.0)
    with SimulatedServer(m) as srv:
        res = run_recipe(recipe, SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs", endpoint=srv.base_url))
    concs = sorted(p.conc for p in res.points)
    assert concs[:1] == [1] and concs[-1] == 32 and 6 in concs and len(concs) == 5
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        assert sorted(p.conc for p in s.points()) == concs
        assert len({p.point_id for p in s.points()}) == 5
    assert all(p.interval_method == "bootstrap_requests" for p in res.points)


def _ad_recipe(**extra: object):
    return parse_recipe({
        "name": "ad", "model": {"name": "gemma-3-270m", "path": "auto", "served_name": "sim"},
        "engine": {"name": "vllm"}, "scenarios": [{"isl": 16, "osl": 6}], "concurrency": "adaptive",
        "adaptive": {"min": 1, "max": 32, "budget": 5, "tolerance": 0.001},
        "requests_per_point": {"per_conc": 2, "min": 4}, "warmup": {"per_conc": 0, "min": 1}, **extra,
    })


SIM = SimModel(floor_s=0.004, compute_s=0.0008, prefill_s=0.0001, noise=0.0, trial_noise=0.0)


def test_adaptive_points_of_one_layout_keep_the_planned_points(tmp_path: Path) -> None:
    """--layout 1 of two: adaptive points are numbered after the whole plan, so none takes the id of
    one of layout 1's planned points (they replaced conc 1 and 6 before)."""
    recipe = _ad_recipe(layouts=[{"tp": 1}, {"tp": 1, "max_num_seqs": 64}])
    with SimulatedServer(SIM) as srv:
        res = run_recipe(recipe, SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs",
                                              endpoint=srv.base_url, layouts=[1]))
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        stored = sorted(p.conc for p in s.points())
    assert stored == sorted(p.conc for p in res.points) and len(stored) == 5
    assert {1, 6, 32} <= set(stored)


def test_adaptive_resume_measures_the_adaptive_points_left(tmp_path: Path) -> None:
    """A run interrupted after its first points (1, 6, 32): --resume places the adaptive points from
    the stored ones, and run --json's points include them."""
    recipe = _ad_recipe()
    opts = SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs")
    with SimulatedServer(SIM) as srv:
        full = run_recipe(recipe, SweepOptions(db=opts.db, runs_dir=opts.runs_dir, endpoint=srv.base_url))
        with Store(opts.db) as s:  # as if interrupted once the planned points were stored
            s.con.execute("DELETE FROM points WHERE conc NOT IN (1, 6, 32)")
            s.con.execute("UPDATE runs SET status = 'interrupted'")
        res = run_recipe(recipe, SweepOptions(db=opts.db, runs_dir=opts.runs_dir, endpoint=srv.base_url,
                                              resume=full.run_id))
    assert res.run_id == full.run_id and res.status == "done"
    concs = sorted(p.conc for p in res.points)  # where the new points go depends on measured timings
    assert len(concs) == 5 and {1, 6, 32} <= set(concs)
    with Store(opts.db, read_only=True) as s:
        assert sorted(p.conc for p in s.points()) == concs
        assert len({p.point_id for p in s.points()}) == 5
