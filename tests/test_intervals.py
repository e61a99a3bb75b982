"""Point intervals cover the true value at about their nominal rate (simulated engine, seeded).

The true value is what one trial measures on average (the mean of many simulated trials), not the
closed form: a finite closed-loop window sits slightly below the closed form, and an interval is a
statement about the measurement. Every repetition is seeded, so the rates are the same on every run;
the tolerance (±6 points around 95%) is about three binomial standard deviations at 150 repetitions.
"""

from __future__ import annotations

import numpy as np
import pytest

from servemark.calibration.simulated import SimModel, simulate_records
from servemark.metrics import summarize
from servemark.metrics.intervals import summarise_trials, t_interval, with_request_intervals
from servemark.metrics.tdist import t_ppf

CONC, ISL, OSL, N = 8, 64, 16, 64
REPS = 150


def _trial(m: SimModel, seed: int, boot: bool = False) -> dict:
    recs = simulate_records(m, CONC, ISL, OSL, N, seed=seed, num_warmup=CONC)
    f = summarize(recs)
    return with_request_intervals(f, recs, seed=seed) if boot else f


def _truth(m: SimModel, keys: tuple[str, ...]) -> dict[str, float]:
    runs = [_trial(m, 10**6 + s) for s in range(300)]
    return {k: float(np.mean([r[k] for r in runs])) for k in keys}


@pytest.mark.parametrize(("df", "q"), [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045)])
def test_t_quantiles(df: int, q: float) -> None:
    assert t_ppf(0.975, df) == pytest.approx(q, abs=1e-3)
    assert t_ppf(0.025, df) == pytest.approx(-q, abs=1e-3)


def test_fractional_degrees_of_freedom_lie_between_their_neighbours() -> None:
    assert t_ppf(0.975, 3) < t_ppf(0.975, 2.5) < t_ppf(0.975, 2)
    assert t_ppf(0.95, 1e9) == pytest.approx(1.6449, abs=1e-4)


def test_t_interval_of_known_values() -> None:
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 * 1.0 / np.sqrt(3), abs=1e-3)
    assert t_interval([1.0]) is None


def _coverage(m: SimModel, keys: tuple[str, ...], one_rep, method: str) -> dict[str, float]:
    """Share of REPS seeded repetitions whose interval (``one_rep(r)``'s fields) holds the truth."""
    truth = _truth(m, keys)
    hits = dict.fromkeys(keys, 0)
    for r in range(REPS):
        f = one_rep(r)
        assert f["interval_method"] == method
        for k in keys:
            lo, hi = f["intervals"][k]
            hits[k] += lo <= truth[k] <= hi
    return {k: v / REPS for k, v in hits.items()}


def test_trial_intervals_cover_at_nominal_rate() -> None:
    m = SimModel(noise=0.05, trial_noise=0.03)
    rates = _coverage(m, ("tput_per_gpu", "median_intvty", "median_ttft", "p90_tpot"),
                      lambda r: summarise_trials([_trial(m, r * 10 + i) for i in range(3)]), "t_trials")
    assert all(0.89 <= v <= 1.0 for v in rates.values()), rates


def test_request_bootstrap_covers_latency_metrics_of_one_trial() -> None:
    """Within-trial noise only (no trial noise): what the bootstrap over requests can see."""
    m = SimModel(noise=0.05, trial_noise=0.0)
    rates = _coverage(m, ("median_intvty", "median_ttft", "mean_e2el"), lambda r: _trial(m, r, boot=True),
                      "bootstrap_requests")
    assert all(0.89 <= v <= 1.0 for v in rates.values()), rates


def test_one_trial_is_the_point_and_many_are_averaged() -> None:
    m = SimModel()
    a, b = _trial(m, 1), _trial(m, 2)
    assert summarise_trials([a])["tput_per_gpu"] == a["tput_per_gpu"]
    s = summarise_trials([a, b])
    assert s["tput_per_gpu"] == pytest.approx((a["tput_per_gpu"] + b["tput_per_gpu"]) / 2)
    assert s["num_requests"] == a["num_requests"] + b["num_requests"]


def test_trial_summary_sums_cached_tokens_and_meets_the_slo_only_if_every_trial_did() -> None:
    """Trial 0's values used to stand for the point: cached_tokens of one window beside token totals
    of all, and an SLO verdict a later trial contradicted (an SLO search would pass that load)."""
    m = SimModel(noise=0.05, trial_noise=0.0)
    a, b = _trial(m, 1), _trial(m, 2)
    a.update(cached_tokens=100, slo_met=True, prompt_token_deviation=0.0, finished_at="t0")
    b.update(cached_tokens=50, slo_met=False, prompt_token_deviation=2.0, finished_at="t1")
    s = summarise_trials([a, b])
    assert s["cached_tokens"] == 150 and s["total_input_tokens"] == a["total_input_tokens"] + b["total_input_tokens"]
    assert s["slo_met"] is False and summarise_trials([a, {**b, "slo_met": True}])["slo_met"] is True
    assert s["prompt_token_deviation"] == 1.0 and s["finished_at"] == "t1"
    assert summarise_trials([{**a, "slo_met": None}, {**b, "slo_met": None}])["slo_met"] is None
