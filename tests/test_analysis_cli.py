"""History/regressions on the real InferenceX history, and the analysis commands end to end."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from servemark.analysis.history import history
from servemark.cli import app
from servemark.importers.inferencex import import_inferencex
from servemark.point import Point
from servemark.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def db(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ix.duckdb"
    with Store(path) as store:
        for f in ("benchmarks.json", "benchmarks-history.json"):
            import_inferencex(store, shared_dir / "data/inferencex" / f)
    return path


@pytest.fixture(scope="module")
def mi300x(db: Path) -> list[Point]:
    with Store(db, read_only=True) as store:
        return store.points("hardware = 'mi300x' AND isl = 1024 AND osl = 1024")


def test_history_flags_the_real_mi300x_regression(mi300x: list[Point]) -> None:
    """Every concurrency of mi300x sglang fp8 1k/1k lost ~20% interactivity on 2026-01-05."""
    rows = history(mi300x, at=35.0)
    by_date = {r["date"]: r for r in rows}
    assert by_date["2025-12-15"]["status"] == "ok" and not by_date["2025-12-15"]["regression"]
    jan = by_date["2026-01-05"]
    assert jan["regression"] and jan["value"] < 0.5 * jan["baseline"]
    assert not by_date["2026-05-18"]["regression"]  # recovered
    for r in rows:  # the flag is exactly the documented rule
        if r["baseline"] is not None:
            n_prev = sum(1 for q in rows if q["date"] < r["date"] and q["value"] is not None)
            assert r["regression"] == (n_prev >= 2 and (r["baseline"] - r["value"]) > max(r["spread"], 0.05 * r["baseline"]))


def test_history_noise_is_not_a_regression(mi300x: list[Point]) -> None:
    """Two later dates that repeat the latest run exactly (spread 0): a 1 % dip stays under the
    5 % floor, a halving is flagged."""
    latest = max(p.date for p in mi300x)
    base = [p for p in mi300x if p.date == latest]

    def copy(date: str, scale: float) -> list[Point]:
        return [replace(p, point_id=f"{p.point_id}-{date}", date=date, tput_per_gpu=p.tput_per_gpu * scale)
                for p in base]

    steady = copy("2099-01-01", 1.0) + copy("2099-01-02", 1.0)
    for scale, flagged in ((0.99, False), (0.5, True)):
        rows = history(mi300x + steady + copy("2099-01-03", scale), at=35.0, window=2)
        (last,) = [r for r in rows if r["date"] == "2099-01-03"]
        assert last["spread"] == 0 and last["regression"] is flagged


def _run(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_frontier_command_json_csv_table(db: Path) -> None:
    out = json.loads(_run("frontier", "--db", str(db), "--hardware", "mi300x", "--isl", "8192", "--json"))
    assert len(out) == 1 and out[0]["x"] == "median_intvty"
    assert [p["conc"] for p in out[0]["points"]] == [64, 32, 16, 8, 4]
    rows = list(csv.DictReader(io.StringIO(_run("frontier", "--db", str(db), "--hardware", "mi300x",
                                                "--isl", "8192", "--csv"))))
    assert [int(r["conc"]) for r in rows] == [64, 32, 16, 8, 4]
    e2e = list(csv.DictReader(io.StringIO(_run("frontier", "--db", str(db), "--hardware", "mi300x",
                                               "--x", "median_e2el", "--csv"))))
    xs = [float(r["x"]) for r in e2e if r["group"].endswith("8192/1024 mi300x sglang fp8")]
    assert xs == sorted(xs) and len(xs) == 5  # lower latency better: the same 5 points, by latency


def test_cost_command(db: Path) -> None:
    rows = json.loads(_run("cost", "--db", str(db), "--at", "35", "--isl", "8192", "--osl", "1024",
                           "--hardware", "mi300x", "--json"))
    (r,) = rows
    assert r["status"] == "ok" and r["tput_per_gpu"] == pytest.approx(551.26, abs=0.01)
    assert r["hyperscaler_total"] == pytest.approx(0.95 / (r["tput_per_gpu"] * 3600) * 1e6)
    header = _run("cost", "--db", str(db), "--at", "35", "--tier", "neocloud", "--tokens", "output", "--csv")
    assert "neocloud_output" in header.splitlines()[0] and "hyperscaler_output" not in header.splitlines()[0]
    text = _run("cost", "--db", str(db), "--at", "35", "--tier", "neocloud", "--tokens", "output")
    assert "per decode" in text  # the disaggregated caveat is said


def test_compare_and_history_commands(db: Path) -> None:
    res = json.loads(_run("compare", "--db", str(db), "--isl", "8192", "--osl", "1024", "--at", "50",
                          "b200,dynamo-trt,fp8,none", "h200,dynamo-trt,fp8,none", "--json"))
    assert res["overlap"] and res["max"]["throughput"]["ratio"] >= res["min"]["throughput"]["ratio"]
    assert any(r["x"] == 50.0 for r in res["rows"])
    text = _run("history", "--db", str(db), "mi300x,sglang,fp8", "--isl", "1024", "--osl", "1024",
                "--regressions", "--csv")
    assert "2026-01-05" in text


def test_errors_are_one_line(db: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["compare", "--db", str(db), "b200", "h200"])
    assert res.exit_code != 0 and "matches" in str(res.exception)
    res = runner.invoke(app, ["frontier", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code != 0 and "no results store" in str(res.exception)


def test_columnar_path_equals_point_path(db: Path) -> None:
    """The scale path (DuckDB columns + numpy) gives the same frontiers and costs as the Point path."""
    from servemark.analysis.frontier import frontiers
    from servemark.analysis.operating import cost_table
    from servemark.analysis.prices import load_prices
    from servemark.analysis.scale import cost_rows, frontier_set

    table = load_prices()
    with Store(db) as store:
        fs = frontier_set(store)
        pts = store.points()
        sub = frontier_set(store, where="hardware = ?", params=["b200"])
    fr = frontiers(pts)
    assert {g.label: g.point_id for g in fs.groups} == {f.label: [p.point_id for p in f.points] for f in fr}
    assert {g.group["hardware"] for g in sub.groups} == {"b200"}
    a = {r["label"]: r["hyperscaler_total"] for r in cost_rows(fs, 50.0, table)}
    b = {r["label"]: r.get("hyperscaler_total") for r in cost_table(fr, 50.0, table)}
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] is None and b[k] is None) or a[k] == pytest.approx(b[k]), k


def test_cost_measured_energy_basis_is_said(db: Path) -> None:
    """mi355x atom fp8 MTP 8k/1k has measured power on every frontier point: --energy measured
    interpolates it; everything else falls back to the all-in table and says so."""
    rows = json.loads(_run("cost", "--db", str(db), "--at", "35", "--energy", "measured", "--json"))
    ok = [r for r in rows if r["status"] == "ok"]
    measured = [r for r in ok if r["energy_basis"] == "measured"]
    assert [r["label"] for r in measured] == ["DeepSeek-R1-0528 8192/1024 mi355x atom fp8 mtp"]
    (m,) = measured
    lo, hi = sorted((m["lo_x"], m["hi_x"]))
    assert lo <= 35 <= hi and 0 < m["j_per_total_token"] < 5
    assert m["tok_s_per_mw"] == pytest.approx(1e6 / m["j_per_total_token"])
    assert all(r["energy_basis"] == "all_in_table" for r in ok if r is not m)
    plain = {r["label"]: r for r in json.loads(_run("cost", "--db", str(db), "--at", "35", "--json"))}
    assert plain[m["label"]]["energy_basis"] == "all_in_table"
    assert plain[m["label"]]["j_per_total_token"] != m["j_per_total_token"]
