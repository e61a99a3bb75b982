"""Engine ceilings in the real DuckDB store: upsert by key, and the served points get their
three levels and ratios copied in (and taken away when the ceiling they came from is gone)."""

from __future__ import annotations

import json
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


GPU_RECIPE = """
name: h200-llama
model: {name: llama-3.1-8b, path: /models/llama.gguf}
engine: {name: llama-cpp, build: cuda}
hardware: {name: h200, gpus: 1}
scenarios: [{isl: 1024, osl: 256}]
concurrency: [1, 128]
"""


def _cli(*args: str, db: Path) -> "subprocess.CompletedProcess[str]":
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.run([sys.executable, "-m", "servemark", "ceiling", *args, "--db", str(db)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_stores_a_saved_gpu_output_and_joins_the_served_points(tmp_path: Path) -> None:
    """`servemark ceiling RECIPE --from LOG`: a GPU run's llama-batched-bench table, stored as that
    recipe's ceiling; the served points of the same configuration get served ÷ ceiling."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(GPU_RECIPE)
    db = tmp_path / "s.duckdb"
    with Store(db) as st:
        st.add_points([point(f"p{c}", c, t, model="llama-3.1-8b", engine="llama-cpp-cuda", hardware="h200",
                             isl=1024, osl=256) for c, t in ((1, 1000.0), (128, 4425.5))])
    data = Path(__file__).parent / "data" / "ceiling" / "batched_bench_h200.md.txt"
    proc = _cli(str(recipe), "--from", str(data), "--json", db=db)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["batch"], r["source"], r["tool"]) for r in rows] == [(1, "imported", "llama-batched-bench"),
                                                                     (128, "imported", "llama-batched-bench")]
    with Store(db, read_only=True) as st:
        got = {p.conc: p for p in st.points()}
    assert got[128].ceiling_tput_per_gpu == pytest.approx(128 * 1280 / 14.42)
    assert got[128].served_over_ceiling == pytest.approx(4425.5 / (128 * 1280 / 14.42))
    assert got[1].ceiling_intvty == pytest.approx(203.66)


@pytest.mark.parametrize("args, message", [
    (["--batches", "1,x"], "--batches '1,x': give comma-separated integers"),
    (["--from", "/nonexistent/out.txt"], "cannot read /nonexistent/out.txt"),
    (["--from", "__RECIPE__"], "no llama-batched-bench result rows"),
])
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(GPU_RECIPE)
    proc = _cli(str(recipe), *[str(recipe) if a == "__RECIPE__" else a for a in args], db=tmp_path / "s.duckdb")
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr


def test_cli_dry_run_renders_sglang_for_a_gpu_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(GPU_RECIPE.replace("{name: llama-cpp, build: cuda}", "{name: sglang}")
                      .replace("[{isl: 1024, osl: 256}]", "[{isl: 1024, osl: 256}]\nlayouts: [{tp: 1}]"))
    proc = _cli(str(recipe), "--dry-run", "--json", db=tmp_path / "s.duckdb")
    assert proc.returncode == 0, proc.stderr
    [cmd] = json.loads(proc.stdout)
    assert cmd["tool"] == "sglang-bench-one-batch" and cmd["batches"] == [1, 128]
    assert cmd["argv"][1:3] == ["-m", "sglang.bench_one_batch"] and "--batch-size" in cmd["argv"]
    assert not (tmp_path / "s.duckdb").exists(), "a dry run writes nothing"


def test_report_shows_three_levels_and_ratios(tmp_path: Path) -> None:
    """`servemark report` and the HTML report: a levels table once a point has a ceiling or SOL."""
    import io

    from rich.console import Console

    from servemark.report import html, table

    with Store(tmp_path / "s.duckdb") as st:
        st.add_points([point("a", 1, 100.0), point("b", 4, 300.0)])
        assert not table.has_levels(st.points()) and html.levels_section(st.points()) == ""
        cstore.write(st, [ceiling(4, 600.0)])
        write_fractions(st, [Fraction("b", "strict", 2000.0, 0.15, "")])
        pts = st.points()
    page = html.render(pts, set(), "t")
    assert "speed of light → engine ceiling → served" in page
    row = page.split('class="levels"')[1].split("</tr>")[2]  # header, point a, point b
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells[:7] == ["4", "2000.0", "600.0", "300.0", "0.300", "0.50", "0.150"]
    buf = io.StringIO()
    Console(file=buf, width=200).print(table.levels_table(pts))
    text = buf.getvalue()
    assert "0.50" in text and "0.300" in text and "2000.0" in text
