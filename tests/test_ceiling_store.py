"""Engine ceilings in the real DuckDB store: upsert by key, and the served points get their
three levels and ratios copied in (and taken away when the ceiling they came from is gone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from servemark.ceiling import levels
from servemark.ceiling import store as cstore
from servemark.ceiling.row import CeilingRow, ceiling_id, key_of
from servemark.point import Point
from servemark.sol.measured import Fraction
from servemark.sol.store import write_fractions
from servemark.store import Store


def point(pid: str, conc: int, tput: float, **over) -> Point:
    base = dict(point_id=pid, run_id="r", model="m", engine="vllm-cpu", hardware="cpu", precision="bf16",
                isl=256, osl=64, conc=conc, tput_per_gpu=tput, output_tput_per_gpu=tput / 5)
    return Point(**{**base, **over})


def ceiling(batch: int, tput: float, **over) -> CeilingRow:
    r = CeilingRow(model="m", engine="vllm-cpu", hardware="cpu", precision="bf16", isl=256, osl=64, batch=batch,
                   tool="vllm-bench-throughput", tput_per_gpu=tput, output_tput_per_gpu=tput / 5, elapsed_s=1.0,
                   argv=["python", "-m", "x"], raw={"elapsed_time": 1.0}, **over)
    r.ceiling_id = ceiling_id(key_of(r.to_dict()))
    return r


def test_ceilings_join_points_by_layout_scenario_and_batch(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as st:
        st.add_points([point("a", 1, 100.0), point("b", 4, 300.0), point("c", 4, 300.0, isl=512),
                       point("d", 4, 300.0, tp=2), point("e", 4, 280.0, run_id="r2")])
        assert cstore.write(st, [ceiling(1, 125.0), ceiling(4, 600.0)]) == 2
        got = {p.point_id: p for p in st.points()}
        assert got["a"].ceiling_tput_per_gpu == 125.0 and got["a"].served_over_ceiling == pytest.approx(0.8)
        assert got["b"].served_over_ceiling == pytest.approx(0.5) and got["b"].ceiling_tool == "vllm-bench-throughput"
        assert got["e"].served_over_ceiling == pytest.approx(280 / 600)  # every run of the config
        for other in ("c", "d"):  # another ISL, another layout: no ceiling
            assert got[other].ceiling_tput_per_gpu is None and got[other].served_over_ceiling is None
            assert got[other].ceiling_tool == ""
        # a newer measurement of the same key replaces the old one
        cstore.write(st, [ceiling(4, 400.0, run_id="later")])
        assert [c.tput_per_gpu for c in cstore.read(st) if c.batch == 4] == [400.0]
        assert {p.point_id: p for p in st.points()}["b"].served_over_ceiling == pytest.approx(0.75)
        assert cstore.read(st)[0].argv == ["python", "-m", "x"] and cstore.read(st)[0].raw == {"elapsed_time": 1.0}


def test_sol_fractions_complete_the_three_levels(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as st:
        st.add_points([point("a", 1, 100.0), point("b", 4, 300.0)])
        cstore.write(st, [ceiling(4, 600.0)])
        write_fractions(st, [Fraction("a", "strict", 1000.0, 0.1, ""), Fraction("b", "strict", 2000.0, 0.15, ""),
                             Fraction("b", "calibrated", 900.0, 0.33, "")])
        got = {p.point_id: p for p in st.points()}
        b = got["b"]
        assert (b.sol_tput_per_gpu, b.ceiling_tput_per_gpu, b.tput_per_gpu) == (2000.0, 600.0, 300.0)
        assert b.ceiling_over_sol == pytest.approx(0.3) and b.served_over_sol == pytest.approx(0.15)
        assert b.served_over_sol == pytest.approx(b.served_over_ceiling * b.ceiling_over_sol)
        a = got["a"]  # SOL but no ceiling: served/SOL only
        assert (a.served_over_sol, a.ceiling_over_sol, a.served_over_ceiling) == (pytest.approx(0.1), None, None)


def test_refresh_can_be_limited_to_some_points(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as st:
        st.add_points([point("a", 1, 100.0), point("b", 1, 50.0, run_id="r2")])
        st.ensure_table(cstore.TABLE, cstore.COLUMNS)
        st.upsert_rows(cstore.TABLE, [{**ceiling(1, 200.0).to_dict(), "argv": "[]", "raw": "{}"}], cstore.COLUMNS,
                       ("ceiling_id",))
        levels.refresh(st, "run_id = ?", ["r2"])
        got = {p.point_id: p for p in st.points()}
        assert got["b"].served_over_ceiling == pytest.approx(0.25) and got["a"].served_over_ceiling is None
