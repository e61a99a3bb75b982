"""The simulated engine: its closed form, its in-process trials, its server through a real sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from servemark.calibration.process import SimulatedServer
from servemark.calibration.simulated import SimModel, simulate_records, true_point, true_tput_at
from servemark.metrics import summarize
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.store import Store
from servemark.sweep.recipe_run import SweepOptions, run_recipe

QUIET = SimModel(noise=0.0, trial_noise=0.0)


def test_closed_form_has_the_batch_shape() -> None:
    m = SimModel()
    knee = round(m.floor_s / m.compute_s)
    # below the knee TPOT is the floor: same interactivity, throughput grows with the batch
    assert true_point(m, 1, 128, 32)[0] == true_point(m, knee, 128, 32)[0] == pytest.approx(1 / m.floor_s)
    ys = [true_point(m, b, 128, 32)[1] for b in (1, 2, 8, 32, 128)]
    assert ys == sorted(ys)
    # the frontier function agrees with the point it comes from
    x, y = true_point(m, 40, 128, 32)
    assert true_tput_at(m, x, 128, 32) == pytest.approx(y)
    assert true_tput_at(m, 2 / m.floor_s, 128, 32) == 0.0  # faster than the floor: nothing


def test_noiseless_trial_matches_the_closed_form() -> None:
    for conc in (1, 8, 64):
        f = summarize(simulate_records(QUIET, conc, 64, 16, num_requests=20 * conc, seed=0))
        x, y = true_point(QUIET, conc, 64, 16)
        assert f["median_intvty"] == pytest.approx(x, rel=1e-6)
        assert f["tput_per_gpu"] == pytest.approx(y, rel=0.06)  # below by the closed loop's drain at the end


def test_noise_is_seeded_and_has_its_size() -> None:
    m = SimModel(noise=0.0, trial_noise=0.05)
    a = summarize(simulate_records(m, 4, 32, 8, 40, seed=3))["median_intvty"]
    b = summarize(simulate_records(m, 4, 32, 8, 40, seed=3))["median_intvty"]
    assert a == b
    vals = [summarize(simulate_records(m, 4, 32, 8, 40, seed=s))["median_intvty"] for s in range(60)]
    assert np.std(np.log(vals)) == pytest.approx(0.05, rel=0.3)


@pytest.mark.skipif(not demo.is_built("gemma-3-270m"), reason="demo tokenizer not built")
def test_sweep_with_trials_against_the_simulated_server(tmp_path: Path) -> None:
    """Three trials per point through the real load generator: trials stored, point = their mean."""
    recipe = parse_recipe({
        "name": "sim", "model": {"name": "gemma-3-270m", "path": "auto", "served_name": "sim"},
        "engine": {"name": "vllm"}, "scenarios": [{"isl": 16, "osl": 8}], "concurrency": [1, 16],
        "requests_per_point": {"per_conc": 2, "min": 8}, "warmup": {"per_conc": 0, "min": 1}, "trials": 3,
    })
    m = SimModel(floor_s=0.004, compute_s=0.001, prefill_s=0.0001, noise=0.02, trial_noise=0.02)
    with SimulatedServer(m, seed=1) as srv:
        res = run_recipe(recipe, SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs", endpoint=srv.base_url))
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        pts, trials = s.points(), s.trials()
    assert [p.conc for p in pts] == [1, 16] and len(trials) == 6
    for p in pts:
        mine = [t for t in trials if t.trial_of == p.point_id]
        assert sorted(t.trial for t in mine) == [0, 1, 2] and p.trials == 3 and p.trial is None
        assert p.tput_per_gpu == pytest.approx(np.mean([t.tput_per_gpu for t in mine]))
        lo, hi = p.intervals["tput_per_gpu"]
        assert lo < p.tput_per_gpu < hi and p.interval_method == "t_trials"
    # the batch model shows through HTTP: 16 streams run at 16 x compute per token, not the floor
    assert pts[1].median_tpot == pytest.approx(16 * m.compute_s, rel=0.35)
    assert len(res.points) == 2
