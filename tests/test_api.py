"""The Python API round-trips points: written through the store, read back as Arrow, Point
objects and (when installed) DataFrames, with the same values; a bench through the API against
the calibration server lands as a run of kind ``external``."""

from __future__ import annotations

import pytest

import servemark.api as sm
from servemark.fields import FIELDS
from servemark.point import Point


def _points() -> list[Point]:
    return [Point(run_id=f"r{i % 2}", point_id=f"p{i}", model="m", engine="vllm", hardware="h100", precision="fp8",
                  isl=1024, osl=128, conc=c, tput_per_gpu=100.0 * c, median_intvty=50.0 / c, flags=["x"] if i else [],
                  scenario="1024/128", completed=10, num_requests=10)
            for i, c in enumerate([1, 2, 4, 8])]


def test_points_round_trip_as_arrow_and_objects(tmp_path):
    pts = _points()
    with sm.open_store(tmp_path / "s.duckdb") as store:
        store.add_points(pts)
    with sm.open_store(tmp_path / "s.duckdb", read_only=True) as store:
        table = sm.points(store)
        assert {f.name for f in FIELDS} <= set(table.column_names)
        assert table.num_rows == 4
        rows = sorted(table.to_pylist(), key=lambda r: r["point_id"])
        assert [r["tput_per_gpu"] for r in rows] == [100.0, 200.0, 400.0, 800.0]
        back = {p.point_id: p for p in sm.point_objects(store)}
        assert {k: back[k].to_dict() for k in back} == {p.point_id: p.to_dict() for p in pts}
        only = sm.points(store, runs=["r1"], precisions=["fp8"])
        assert sorted(only.column("point_id").to_pylist()) == ["p1", "p3"]
        assert sm.points(store, models=["other"]).num_rows == 0


def test_points_df_when_a_dataframe_library_is_installed(tmp_path):
    with sm.open_store(tmp_path / "s.duckdb") as store:
        store.add_points(_points())
        for polars in (False, True):
            try:
                df = sm.points_df(store, polars=polars, engines=["vllm"])
            except ImportError as exc:
                assert "points() returns the Arrow table" in str(exc)
                continue
            assert len(df) == 4


def test_bench_through_the_api(tmp_path):
    from servemark.calibration.plan import CalibrationPlan
    from servemark.calibration.process import CalibrationServer
    from servemark.models import demo

    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")
    with CalibrationServer(CalibrationPlan(ttft_ms=5, itl_ms=1)) as srv:
        res = sm.bench(srv.base_url, tokenizer=str(demo.model_dir("gemma-3-270m")), isl=16, osl=4,
                       concurrency=[1, 2], num_prompts=4, db=tmp_path / "s.duckdb", runs_dir=tmp_path / "runs")
    assert [p.conc for p in res.points] == [1, 2] and all(p.completed == 4 for p in res.points)
    with sm.open_store(tmp_path / "s.duckdb", read_only=True) as store:
        (run,) = store.runs()
        assert run["kind"] == "external" and sm.points(store).num_rows == 2
