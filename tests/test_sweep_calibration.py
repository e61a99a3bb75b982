"""The sweep runner end to end against the calibration server (known timings, injected faults).

Fast and engine-free: the runner, prompt builder, load generator, metrics, Parquet records and
the DuckDB store all run for real; only the server is the measuring instrument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servemark.calibration.plan import CalibrationPlan
from servemark.calibration.process import CalibrationServer
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.store import Store
from servemark.sweep import recipe_run as runner
from servemark.sweep.recipe_run import SweepOptions, run_recipe

RECIPE = {
    "name": "calib",
    "model": {"name": "gemma-3-270m", "path": "auto", "served_name": "calibration"},
    "engine": {"name": "vllm"},
    "scenarios": [{"isl": 32, "osl": 8}],
    "concurrency": [1, 2, 4],
    "requests_per_point": {"per_conc": 2, "min": 4},
    "warmup": {"per_conc": 0, "min": 1},
    "max_failure_rate": 0.1,
}


@pytest.fixture(autouse=True)
def _tokenizer() -> None:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")


def opts(tmp_path: Path, url: str) -> SweepOptions:
    return SweepOptions(db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs", endpoint=url)


def test_sweep_stores_every_point_with_known_timing(tmp_path: Path) -> None:
    with CalibrationServer(CalibrationPlan(ttft_ms=30, itl_ms=10)) as srv:
        res = run_recipe(parse_recipe(RECIPE), opts(tmp_path, srv.base_url))
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        pts = s.points()
        (run,) = s.runs()
    assert [p.conc for p in pts] == [1, 2, 4] and run["status"] == "done"
    for p in pts:
        assert p.failed == 0 and p.total_output_tokens == 8 * p.num_requests
        assert p.median_ttft >= 0.030 and p.median_ttft < 0.030 + 0.5
        assert p.median_tpot == pytest.approx(0.010, abs=0.008)
        assert p.median_intvty == pytest.approx(1 / p.median_tpot)
        assert p.prompt_token_deviation is not None
    assert len(list((res.run_dir / "records").glob("*.parquet"))) == 3


def test_failures_flag_the_point_and_the_sweep_goes_on(tmp_path: Path) -> None:
    plan = CalibrationPlan(ttft_ms=5, itl_ms=2, faults={"http_500": [2, 3], "drop": [4]})
    with CalibrationServer(plan) as srv:
        res = run_recipe(parse_recipe(RECIPE), opts(tmp_path, srv.base_url))
    first = res.points[0]
    assert first.failed == 3 and "too_many_failures" in first.flags
    assert [p.conc for p in res.points] == [1, 2, 4]
    assert all(p.failed == 0 for p in res.points[1:])


def test_crash_mid_sweep_keeps_measured_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner._make_point
    calls = {"n": 0}

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_make_point", crash_on_second)
    with CalibrationServer(CalibrationPlan(ttft_ms=5, itl_ms=2)) as srv, pytest.raises(RuntimeError):
        run_recipe(parse_recipe(RECIPE), opts(tmp_path, srv.base_url))
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        assert [p.conc for p in s.points()] == [1]
        assert s.runs()[0]["status"] == "failed"


@pytest.mark.parametrize(("faulty", "flags"), [([5], []), ([5, 6], ["too_many_failures"])])
def test_recipe_failure_limit_is_applied_once(tmp_path: Path, faulty: list[int], flags: list[str]) -> None:
    """Issue 12: the recipe's ``max_failure_rate`` (10%) is the limit, applied once.

    15 measured requests after 1 warmup: one 500 is 6.7% (above the old fixed 5%, under the
    recipe's 10%: not flagged); two are 13.3% (flagged exactly once, not once per copy of the rule).
    """
    recipe = {**RECIPE, "concurrency": [1], "requests_per_point": {"per_conc": 0, "min": 15},
              "warmup": {"per_conc": 0, "min": 1}}
    with CalibrationServer(CalibrationPlan(ttft_ms=2, itl_ms=1, faults={"http_500": faulty})) as srv:
        run_recipe(parse_recipe(recipe), opts(tmp_path, srv.base_url))
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        (p,) = s.points()
    assert (p.num_requests, p.failed) == (15, len(faulty))
    assert p.flags == flags


def test_resumed_run_lists_its_points_in_plan_order(tmp_path: Path) -> None:
    """run --json order after --resume: stored points came first in the store's order (by
    concurrency across layouts) and the newly measured after them; now the fresh run's order."""
    rec = parse_recipe({**RECIPE, "concurrency": [1, 2], "rates": [50],
                        "layouts": [{"tp": 1}, {"tp": 1, "max_num_seqs": 8}]})
    with CalibrationServer(CalibrationPlan(ttft_ms=2, itl_ms=1)) as srv:
        full = run_recipe(rec, opts(tmp_path, srv.base_url))
        order = [p.point_id for p in full.points]
        with Store(tmp_path / "s.duckdb") as s:  # as if layout 0's conc 2 was lost
            s.con.execute("DELETE FROM points WHERE point_id = ?", [order[1]])
            s.con.execute("UPDATE runs SET status = 'interrupted'")
        o = opts(tmp_path, srv.base_url)
        o.resume = full.run_id
        res = run_recipe(rec, o)
    assert [p.point_id for p in res.points] == order
