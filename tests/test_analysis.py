"""Frontier, interpolation, cost, energy and ratios on the real InferenceX rows.

Reference numbers marked "reference" were computed independently from the same fixture with the
InferenceX site's own formulas (shared/reference/inferencex-app.md, sections 2.8), not by this code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from servemark.analysis.cost import cost_per_mtok, point_costs
from servemark.analysis.energy import point_energy
from servemark.analysis.frontier import DEFAULT_GROUP, frontiers, pareto_indices, pareto_mask_grouped
from servemark.analysis.interpolate import value_at
from servemark.analysis.operating import cost_table, operating_point
from servemark.analysis.prices import load_prices, shipped_tables
from servemark.analysis.ratios import compare
from servemark.analysis.select import latest_per_config
from servemark.errors import ServemarkError
from servemark.importers.inferencex import import_inferencex
from servemark.point import Point
from servemark.store import Store


@pytest.fixture(scope="module")
def snapshot(inferencex_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Point]:
    """The 435-row snapshot (latest per config), imported into a real DuckDB file."""
    db = tmp_path_factory.mktemp("ix") / "snapshot.duckdb"
    with Store(db) as store:
        import_inferencex(store, inferencex_dir / "benchmarks.json")
        return store.points()


def brute_force(xs: list[float], ys: list[float], xh: bool = True, yh: bool = True) -> set[int]:
    """O(n^2) reference: i survives unless some j is at least as good on both and better on one
    (exact duplicates: the lower index survives)."""
    sx = 1 if xh else -1
    sy = 1 if yh else -1
    keep = set()
    for i in range(len(xs)):
        dominated = False
        for j in range(len(xs)):
            if i == j:
                continue
            ge = sx * xs[j] >= sx * xs[i] and sy * ys[j] >= sy * ys[i]
            gt = sx * xs[j] > sx * xs[i] or sy * ys[j] > sy * ys[i]
            if (ge and gt) or (xs[j] == xs[i] and ys[j] == ys[i] and j < i):
                dominated = True
                break
        if not dominated:
            keep.add(i)
    return keep


# frontier --------------------------------------------------------------------------------------
@pytest.mark.parametrize("x", ["median_intvty", "median_e2el", "p99_ttft"])
def test_frontier_equals_brute_force_on_real_rows(snapshot: list[Point], x: str) -> None:
    fronts = frontiers(snapshot, DEFAULT_GROUP, x=x)
    assert len(fronts) == 151  # distinct (hw, engine, precision, spec, disagg, ISL/OSL) in the raw JSON
    by_label: dict[str, list[Point]] = {}
    for p in snapshot:
        by_label.setdefault(frontiers([p], DEFAULT_GROUP, x=x)[0].label, []).append(p)
    xh = x.endswith("intvty")
    checked = 0
    for f in fronts:
        members = by_label[f.label]
        xs = [getattr(p, x) for p in members]
        ys = [p.tput_per_gpu for p in members]
        expect = {members[i].point_id for i in brute_force(xs, ys, xh, True)}
        assert {p.point_id for p in f.points} == expect, f.label
        checked += len(members)
    assert checked == len(snapshot)


def test_frontier_points_dominate_no_one_above_them(snapshot: list[Point]) -> None:
    """Sorted by x ascending, y strictly falls: no frontier point is beaten by one to its right."""
    for f in frontiers(snapshot):
        xs, ys = f.xs, f.ys
        assert xs == sorted(xs)
        assert all(b < a for a, b in zip(ys, ys[1:])), f.label
        assert f.n_candidates >= len(f.points) >= 1


def test_frontier_merges_layouts_and_keeps_them(snapshot: list[Point]) -> None:
    """b200 trt fp4 1k/1k: several layouts compete on one frontier; each point keeps its own."""
    f = _front(snapshot, "b200", "trt", "fp4", 1024, 1024)
    pts = f.to_dict()["points"]
    assert len({d["layout"] for d in pts}) >= 2
    for d in pts:
        src = next(p for p in snapshot if p.point_id == d["point_id"])
        assert (d["conc"], d["tp"], d["ep"], d["dp_attention"]) == (src.conc, src.tp, src.ep, src.dp_attention)


def test_pareto_indices_directions_and_duplicates() -> None:
    xs = [1.0, 2.0, 2.0, 3.0, 3.0, 0.5, float("nan")]
    ys = [5.0, 4.0, 4.0, 1.0, 2.0, 5.0, 9.0]
    assert pareto_indices(xs, ys) == [0, 1, 4]  # duplicate (2,4) once; (3,1) beaten by (3,2); NaN out
    assert set(pareto_indices(xs, ys, x_higher_better=False)) == brute_force(xs[:6], ys[:6], False, True)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 6, 40).astype(float)  # many ties
        y = rng.integers(0, 6, 40).astype(float)
        g = rng.integers(0, 3, 40)
        mask = pareto_mask_grouped(g, x, y)
        for gid in range(3):
            idx = np.flatnonzero(g == gid)
            expect = {int(idx[i]) for i in brute_force(list(x[idx]), list(y[idx]))}
            assert set(np.flatnonzero(mask & (g == gid)).tolist()) == expect


# interpolation ---------------------------------------------------------------------------------
def test_interpolated_values_lie_between_neighbours(snapshot: list[Point]) -> None:
    n_ok = 0
    for f in frontiers(snapshot):
        xs, ys = f.xs, f.ys
        lo, hi = min(xs), max(xs)
        for t in np.linspace(lo, hi, 13):
            r = value_at(xs, ys, float(t))
            assert r.status == "ok" and r.lo and r.hi
            assert r.lo[0] <= t <= r.hi[0]
            assert min(r.lo[1], r.hi[1]) <= r.value <= max(r.lo[1], r.hi[1])
            n_ok += 1
        assert value_at(xs, ys, lo * 0.99 - 1e-9).status == "below_range"
        assert value_at(xs, ys, hi * 1.01 + 1e-9).status == "above_range"
        assert value_at(xs, ys, lo * 0.99 - 1e-9).value is None
    assert n_ok == 151 * 13
    assert value_at([], [], 3.0).status == "empty"


def _front(snapshot: list[Point], hw: str, engine: str, prec: str, isl: int, osl: int, spec: str = "none"):
    (f,) = [f for f in frontiers(snapshot) if (f.group["hardware"], f.group["engine"], f.group["precision"],
            f.group["isl"], f.group["osl"], f.group["spec_method"]) == (hw, engine, prec, isl, osl, spec)]
    return f


def test_interpolation_matches_reference_vectors(snapshot: list[Point]) -> None:
    """Reference: InferenceX-style Steffen values on the same fixture fronts."""
    f = _front(snapshot, "mi300x", "sglang", "fp8", 8192, 1024)
    assert [round(value_at(f.xs, f.ys, t).value, 2) for t in (20, 35, 50)] == [773.32, 551.26, 240.12]
    g = _front(snapshot, "gb200", "dynamo-sglang", "fp8", 1024, 1024)
    assert len(g.points) == 4 and 8192 not in [p.conc for p in g.points]  # the conc 8192 point is dominated
    assert round(value_at(g.xs, g.ys, 50).value, 2) == 2107.83
    assert round(value_at(g.xs, g.ys, 100).value, 2) == 65.89
    assert value_at(g.xs, g.ys, 35).status == "below_range"


# cost and energy -------------------------------------------------------------------------------
def _row(snapshot: list[Point], **kw) -> Point:
    (p,) = [p for p in snapshot if all(getattr(p, k) == v for k, v in kw.items())]
    return p


@pytest.mark.parametrize(
    "sel, ref",
    [
        (dict(hardware="mi355x", engine="sglang", precision="fp4", isl=1024, osl=1024, conc=4, date="2026-06-11"),
         dict(hyperscaler_total=2.0665, neocloud_total=2.6529, rental_3yr_total=2.9321, hyperscaler_output=4.1531,
              hyperscaler_input=4.1129, mw=75073.5, j=13.320)),
        (dict(hardware="b200", engine="trt", precision="fp4", isl=1024, osl=1024, conc=64, date="2025-11-02"),
         dict(hyperscaler_total=0.6719, neocloud_total=0.8063, rental_3yr_total=0.9993, hyperscaler_output=1.3441,
              hyperscaler_input=1.3435, mw=371497, j=2.692)),
        (dict(hardware="h200", engine="trt", precision="fp8", isl=8192, osl=1024, conc=64, date="2025-11-02"),
         dict(hyperscaler_total=0.2986, neocloud_total=0.3685, rental_3yr_total=0.3389, hyperscaler_output=2.6916,
              hyperscaler_input=0.3359, mw=758159, j=1.319)),
        (dict(hardware="gb200", engine="dynamo-sglang", precision="fp8", isl=1024, osl=1024, conc=2048,
              date="2025-12-21"),
         dict(hyperscaler_total=0.2701, neocloud_total=0.3361, rental_3yr_total=0.4033, hyperscaler_output=0.3601,
              hyperscaler_input=0.1801, mw=1082398, j=0.924)),
    ],
)
def test_cost_and_energy_follow_the_formula_on_hand_picked_rows(snapshot: list[Point], sel: dict, ref: dict) -> None:
    """Reference vectors use the August 2025 table (the one the site used for them)."""
    table = load_prices("inferencex-2025-08")
    p = _row(snapshot, **sel)
    c = point_costs(p, table)
    for key in ("hyperscaler_total", "neocloud_total", "rental_3yr_total", "hyperscaler_output", "hyperscaler_input"):
        assert c[key] == pytest.approx(ref[key], abs=6e-5), key
    # the formula itself, spelled out: $/GPU-h / (tok/s/GPU * 3600) * 1e6
    price = table.price(p.hardware, "hyperscaler").value
    assert c["hyperscaler_total"] == pytest.approx(price / (p.tput_per_gpu * 3600) * 1e6, rel=1e-12)
    e = point_energy(p, table, prefer="all_in_table")
    assert e.basis == "all_in_table"
    assert e.j_per_total_token == pytest.approx(ref["j"], abs=6e-4)
    assert e.tok_s_per_mw == pytest.approx(ref["mw"], rel=2e-6)


def test_measured_energy_is_preferred_and_labelled(snapshot: list[Point]) -> None:
    measured = [p for p in snapshot if p.avg_power_w is not None]
    assert len(measured) == 17  # rows with measured power in the snapshot
    p = _row(snapshot, hardware="mi355x", engine="sglang", precision="fp4", isl=1024, osl=1024, conc=4,
             date="2026-06-11")
    e = point_energy(p, load_prices())
    assert e.basis == "measured"
    assert e.j_per_total_token == pytest.approx(628.907 / 198.945, rel=1e-3)  # reference: 3.161 J/tok
    assert e.tok_s_per_mw == pytest.approx(1e6 / e.j_per_total_token)


def test_cost_handles_missing_inputs() -> None:
    assert cost_per_mtok(1.0, None) is None
    assert cost_per_mtok(1.0, 0.0) is None
    arr = cost_per_mtok(2.0, np.array([1000.0, 0.0, np.nan]))
    assert arr[0] == pytest.approx(2.0 / 3.6) and np.isnan(arr[1]) and np.isnan(arr[2])
    c = point_costs(Point(hardware="tpu-v9", tput_per_gpu=100.0), load_prices())
    assert c["hyperscaler_total"] is None and "no price" in c["missing"]


def test_cost_table_at_target(snapshot: list[Point]) -> None:
    table = load_prices()
    rows = cost_table(frontiers(snapshot), 50.0, table)
    ok = [r for r in rows if r["status"] == "ok"]
    assert 0 < len(ok) < len(rows)
    for r in ok:
        assert r["x_min"] <= 50.0 <= r["x_max"]
        price = table.price(r["hardware"], "neocloud").value
        assert r["neocloud_total"] == pytest.approx(price / (r["tput_per_gpu"] * 3600) * 1e6)
    for r in rows:
        if r["status"] != "ok":
            assert r["tput_per_gpu"] is None and "hyperscaler_total" not in r


# price tables ----------------------------------------------------------------------------------
def test_price_tables_cite_every_figure_and_validate(tmp_path: Path) -> None:
    assert {"inferencex-2025-08", "inferencex-2026-07"} <= set(shipped_tables())
    t = load_prices()
    assert t.name == "inferencex-2026-07"
    for gpu, entry in t.gpus.items():
        for fig in list(entry.usd_per_gpu_hour.values()) + [entry.all_in_kw]:
            assert fig is not None and fig.source in t.sources and fig.date
    assert t.price("b200-nv_0", "hyperscaler").value == 1.73  # InferenceX-style hardware key
    over = tmp_path / "mine.yaml"
    over.write_text("base: inferencex-2026-07\nsources:\n  quote: {title: 'our Q3 quote'}\n"
                    "gpus:\n  b200:\n    usd_per_gpu_hour:\n      hyperscaler: {value: 3.0, source: quote, date: '2026-09'}\n")
    mine = load_prices(over)
    assert mine.price("b200", "hyperscaler").value == 3.0
    assert mine.price("b200", "neocloud").value == 2.07  # untouched figures come from the base
    bad = tmp_path / "bad.yaml"
    bad.write_text(over.read_text().replace("source: quote, ", ""))
    with pytest.raises(ServemarkError, match=r"bad.yaml.*gpus.b200.usd_per_gpu_hour.hyperscaler.source"):
        load_prices(bad)
    bad.write_text(over.read_text().replace("source: quote", "source: nowhere"))
    with pytest.raises(ServemarkError, match="unknown source 'nowhere'"):
        load_prices(bad)


# ratios ----------------------------------------------------------------------------------------
def test_compare_at_equal_interactivity(snapshot: list[Point]) -> None:
    table = load_prices()
    a = _front(snapshot, "b200", "dynamo-trt", "fp8", 8192, 1024)
    b = _front(snapshot, "h200", "dynamo-trt", "fp8", 8192, 1024)
    res = compare(a, b, table, "hyperscaler", at=[50.0, 500.0])
    lo, hi = res.overlap
    assert lo == max(min(a.xs), min(b.xs)) and hi == min(max(a.xs), max(b.xs))
    assert any("500" in n for n in res.notes)  # outside the overlap: said, not computed
    r50 = next(r for r in res.rows if r["x"] == 50.0)
    va, vb = value_at(a.xs, a.ys, 50).value, value_at(b.xs, b.ys, 50).value
    assert r50["throughput"] == pytest.approx(va / vb)
    pa, pb = table.price("b200", "hyperscaler").value, table.price("h200", "hyperscaler").value
    assert r50["per_usd"] == pytest.approx(va / pa / (vb / pb))
    ka, kb = table.all_in_kw("b200").value, table.all_in_kw("h200").value
    assert r50["per_joule"] == pytest.approx(va / ka / (vb / kb))
    vals = [r["throughput"] for r in res.rows]
    assert res.max["throughput"].ratio == max(vals) and res.min["throughput"].ratio == min(vals)
    assert all(lo <= r["x"] <= hi for r in res.rows)


def test_operating_point_keeps_layout_neighbours(snapshot: list[Point]) -> None:
    f = _front(snapshot, "mi300x", "sglang", "fp8", 8192, 1024)
    op = operating_point(f, 35.0)
    assert op["status"] == "ok" and op["lo_conc"] == 16 and op["hi_conc"] == 8
    assert 8 <= op["conc"] <= 16 and op["lo_layout"] == "TP8"


def test_latest_per_config_keeps_newest(snapshot: list[Point]) -> None:
    older = Point(**{**snapshot[0].to_dict(), "point_id": "old", "date": "2000-01-01"})
    kept = latest_per_config([older, snapshot[0]], DEFAULT_GROUP)
    assert [p.point_id for p in kept] == [snapshot[0].point_id]
    assert latest_per_config([older, snapshot[0]], DEFAULT_GROUP, as_of="2001-01-01")[0].point_id == "old"


def test_layout_labels() -> None:
    from types import SimpleNamespace

    from servemark.analysis.frontier import layout_label

    assert layout_label(Point(tp=8, ep=8, dp_attention=True)) == "TP8 EP8 DPA"
    workers = '{"prefill": {"tp": 4, "ep": 4, "dp_attention": true, "num_workers": 2}, "decode": {"tp": 16, "ep": 16}}'
    p = Point(tp=16, ep=16, disagg=True, num_prefill_gpu=8, num_decode_gpu=16, workers=workers)
    assert layout_label(p) == "8P/16D: P 2xTP4 EP4 DPA / D TP16 EP16"
    # callers that pass a plain object without `workers` (the dashboard) still get a label
    ns = SimpleNamespace(tp=8, ep=1, pp=1, dp_attention=False, disagg=True, num_prefill_gpu=4, num_decode_gpu=8)
    assert layout_label(ns) == "4P/8D: D TP8"


def test_failed_points_never_define_a_frontier(snapshot: list[Point], tmp_path: Path) -> None:
    from dataclasses import replace

    from servemark.analysis.scale import frontier_set

    f = _front(snapshot, "mi300x", "sglang", "fp8", 8192, 1024)
    members = [p for p in snapshot if frontiers([p])[0].label == f.label]
    top = max(f.points, key=lambda p: p.tput_per_gpu)
    flagged = [replace(p, flags=["too_many_failures"]) if p.point_id == top.point_id else p for p in members]
    (g,) = frontiers(flagged)
    assert top.point_id not in {p.point_id for p in g.points}
    assert {p.point_id for p in g.points} == {p.point_id for p in f.points} - {top.point_id}
    (keep,) = frontiers(flagged, exclude_flags=())
    assert top.point_id in {p.point_id for p in keep.points}
    with Store(tmp_path / "f.duckdb") as store:
        store.add_points(flagged)
        (h,) = frontier_set(store).groups
    assert h.point_id == [p.point_id for p in g.points]
