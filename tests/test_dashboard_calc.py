"""calc.js (the browser's frontier, interpolation, cost, energy and regression rule) against servemark.analysis.

The page computes in the browser because its frontier depends on choices made there (metric,
percentile, filters, dates). These tests hold the two implementations to each other on the real
InferenceX rows, in real Chromium.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from dashboard_support import demo_points, import_inferencex_store, launch
from servemark.analysis.cost import cost_per_mtok
from servemark.analysis.energy import joules_per_token_all_in
from servemark.analysis.frontier import DEFAULT_GROUP, EXCLUDED_FLAGS, frontiers, group_key, group_label, pareto_indices
from servemark.analysis.history import REGRESSION_RULE, history, regression_flags
from servemark.analysis.interpolate import value_at
from servemark.store import Store

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
CALC_JS = Path(__file__).resolve().parents[1] / "src" / "servemark" / "report" / "dashboard" / "static" / "calc.js"


@pytest.fixture(scope="module")
def calc():
    """A blank page with calc.js loaded; call ``calc(fn, *args)`` to run ServemarkCalc.fn."""
    with sync_api.sync_playwright() as p:
        b = launch(p)
        page = b.new_page()
        page.add_script_tag(path=str(CALC_JS))
        def call(fn, *args):
            return page.evaluate(f"(a) => ServemarkCalc.{fn}(...a)", list(args))

        def batch(fn, arglists):
            """Many calls in one round trip."""
            return page.evaluate(f"(l) => l.map((a) => ServemarkCalc.{fn}(...a))", arglists)

        call.batch = batch
        call.page = page
        yield call
        b.close()


@pytest.fixture(scope="module")
def ix_points(tmp_path_factory):
    db = import_inferencex_store(tmp_path_factory.mktemp("calc") / "ix.duckdb")
    with Store(db, read_only=True) as st:
        return st.points()


def _groups(points, x: str, y: str):
    groups: dict = {}
    for p in points:
        groups.setdefault(group_key(p, DEFAULT_GROUP), []).append(p)
    for members in groups.values():
        xs = [getattr(p, x) for p in members]
        ys = [getattr(p, y) for p in members]
        yield [math.nan if v is None else v for v in xs], [math.nan if v is None else v for v in ys]


def _js_list(v):
    return [None if (isinstance(a, float) and math.isnan(a)) else a for a in v]


@pytest.mark.parametrize("x,y,xh,yh", [
    ("median_intvty", "tput_per_gpu", True, True),     # the Pareto chart
    ("p99_e2el", "tput_per_gpu", False, True),         # throughput vs latency
    ("median_intvty", "p99_ttft", True, False),        # both directions exercised
])
def test_frontier_matches_python(calc, ix_points, x, y, xh, yh) -> None:
    n = 0
    for xs, ys in _groups(ix_points, x, y):
        expect = pareto_indices(xs, ys, xh, yh)
        got = calc("paretoIndices", _js_list(xs), _js_list(ys), xh, yh)
        assert got == expect
        n += 1
    assert n > 50  # every InferenceX config group was compared


def test_interpolation_matches_python_on_every_frontier(calc, ix_points) -> None:
    checked = ok = 0
    cases = []
    for f in frontiers(ix_points, x="median_intvty", y="tput_per_gpu"):
        xs, ys = f.xs, f.ys
        lo, hi = min(xs), max(xs)
        for t in [lo - 1, lo, hi, hi + 1, *np.linspace(lo, hi, 7)[1:-1].tolist(), 35.0, 50.0]:
            cases.append((f.label, xs, ys, t))
    results = calc.batch("valueAt", [[xs, ys, t] for _, xs, ys, t in cases])
    for (label, xs, ys, t), js in zip(cases, results):
        py = value_at(xs, ys, t)
        assert js["status"] == py.status, (label, t)
        if py.value is None:
            assert js["value"] is None
        else:
            assert js["value"] == pytest.approx(py.value, rel=1e-12, abs=1e-9), (label, t)
            ok += 1
        checked += 1
    assert checked > 300 and ok > 200


def test_interpolation_reference_vectors(calc) -> None:
    """Worked values from the InferenceX notes (reference/inferencex-app.md section 2.8)."""
    gb200 = ([24.72, 37.03, 47.92, 98.86, 100.67], [3965.4, 5564.9, 2273.0, 143.1, 20.0])
    on = calc("paretoIndices", *gb200, True, True)
    assert on == [1, 2, 3, 4]  # the conc-8192 point is dominated
    fx, fy = [gb200[0][i] for i in on], [gb200[1][i] for i in on]
    assert calc("valueAt", fx, fy, 50)["value"] == pytest.approx(2107.83, abs=0.6)
    assert calc("valueAt", fx, fy, 35)["status"] == "below_range"
    mi300x = ([13.09, 22.27, 34.61, 44.44, 51.46], [891.7, 736.5, 558.4, 354.6, 210.1])
    assert calc("valueAt", *mi300x, 35)["value"] == pytest.approx(551.26, abs=0.6)
    assert calc("valueAt", *mi300x, 20)["value"] == pytest.approx(773.32, abs=0.6)


def test_cost_and_energy_match_python(calc, ix_points) -> None:
    tputs = [p.tput_per_gpu for p in ix_points] + [p.output_tput_per_gpu for p in ix_points]
    for price in (1.17, 2.6):
        js = calc.batch("costPerMtok", [[price, t] for t in tputs])
        for t, got in zip(tputs, js):
            py = cost_per_mtok(price, t)
            assert (got is None) == (py is None)
            if py is not None:
                assert got == pytest.approx(py, rel=1e-12)
    valid = [t for t in tputs if t]
    js_j = calc.batch("joulesPerToken", [[1.37, t] for t in valid])
    js_mw = calc.batch("tokPerSPerMw", [[1.37, t] for t in valid])
    for t, j, mw in zip(valid, js_j, js_mw):
        py_j = joules_per_token_all_in(1.37, t)
        assert j == pytest.approx(py_j, rel=1e-12)
        assert mw == pytest.approx(1e6 / py_j, rel=1e-12)
    assert calc("costPerMtok", 2.0, 0) is None and calc("costPerMtok", 2.0, None) is None


def _ix_history_inputs(points):
    """Per group label: (dates in order, that date's raw x/y lists), the input the page's history view
    starts from; the same points Python's history() sees (flag-excluded ones left out, as frontiers())."""
    per: dict = {}
    for p in points:
        if set(p.flags) & set(EXCLUDED_FLAGS):
            continue
        label = group_label(dict(zip(DEFAULT_GROUP, group_key(p, DEFAULT_GROUP))))
        d = per.setdefault(label, {}).setdefault(p.date, {"xs": [], "ys": []})
        d["xs"].append(p.median_intvty)
        d["ys"].append(p.tput_per_gpu)
    return {label: [{"date": k, **v} for k, v in sorted(dates.items())] for label, dates in per.items()}


# What app.js renderHistory does per config: each date's frontier, read at the target, then the rule.
_JS_HISTORY = """([groups, at, rule]) => groups.map((dates) => {
  const C = ServemarkCalc;
  const vals = dates.map((d) => {
    const on = C.paretoIndices(d.xs, d.ys, true, true);
    return C.valueAt(on.map((j) => d.xs[j]), on.map((j) => d.ys[j]), at).value;
  });
  return { vals, flags: C.regressions(vals, true, rule) };
})"""


@pytest.mark.parametrize("at", [20.0, 35.0, 50.0])
def test_history_regressions_match_python_on_inferencex(calc, ix_points, at) -> None:
    """The page's history flags equal `servemark history`'s on every real InferenceX config and date."""
    py_rows: dict = {}
    for r in history(ix_points, at=at):
        py_rows.setdefault(r["label"], []).append(r)
    inputs = _ix_history_inputs(ix_points)
    assert sorted(inputs) == sorted(py_rows)
    labels = sorted(inputs)
    js = calc.page.evaluate(_JS_HISTORY, [[inputs[lb] for lb in labels], at, REGRESSION_RULE])
    flagged = compared = 0
    for label, got in zip(labels, js):
        rows = py_rows[label]
        assert [d["date"] for d in inputs[label]] == [r["date"] for r in rows], label
        for r, v, f in zip(rows, got["vals"], got["flags"]):
            where = (label, r["date"])
            assert (v is None) == (r["value"] is None), where
            if v is not None:
                assert v == pytest.approx(r["value"], rel=1e-12), where
            assert f["regression"] == r["regression"], where
            for k in ("baseline", "spread", "drop"):
                assert (f[k] is None) == (r[k] is None), where
                if r[k] is not None:
                    assert f[k] == pytest.approx(r[k], rel=1e-9, abs=1e-9), where
            flagged += r["regression"]
            compared += 1
    assert len(labels) > 100 and compared > 500
    assert flagged > 0, "the real history has regressions (docs/analysis.md: MI300X SGLang FP8)"


def test_regression_rule_lower_better_matches_python(calc, ix_points) -> None:
    """Direction: the same rule on a lower-better series ($/M tokens from the real history values)."""
    series = []
    for label, rows in _group_rows(history(ix_points, at=35.0)).items():
        series.append([cost_per_mtok(2.0, r["value"]) if r["value"] else None for r in rows])
    got = calc.batch("regressions", [[s, False, REGRESSION_RULE] for s in series])
    n = 0
    for s, js in zip(series, got):
        py = regression_flags(s, higher_better=False)
        assert [f["regression"] for f in js] == [f["regression"] for f in py]
        n += sum(f["regression"] for f in py)
    assert n > 0


def _group_rows(rows):
    out: dict = {}
    for r in rows:
        out.setdefault(r["label"], []).append(r)
    return out


@pytest.mark.parametrize("values,higher,expect", [
    ([100, 100, 100, 90], True, [False, False, False, True]),          # spread 0: the 5% floor decides
    ([100, 100, 100, 96], True, [False] * 4),                          # within 5%
    ([100, 80, None, 81], True, [False, False, False, False]),          # null skipped; 81 vs median 90 < spread 20
    ([100, 80], True, [False, False]),                                  # one earlier value: no baseline yet
    ([1.0, 1.0, 1.2], False, [False, False, True]),                     # lower-better: a rise is worse
    ([100, 110, 120, 130, 140, 150, 80], True, [False] * 6 + [True]),   # window: last 5 only (all 6: not flagged)
])
def test_regression_rule_vectors(calc, values, higher, expect) -> None:
    js = calc("regressions", values, higher, REGRESSION_RULE)
    py = regression_flags(values, higher_better=higher)
    assert [f["regression"] for f in js] == [f["regression"] for f in py] == expect


def test_frontier_indices_leave_out_excluded_flags_as_python_does(calc) -> None:
    """frontierIndices + isExcluded (what the page runs per series) against analysis.frontier.frontiers."""
    pts = [p for p in demo_points() if p.date == "2026-11-15"]
    for k, p in enumerate(pts):  # every third point flagged, alternating the excluded flags
        if k % 3 == 0:
            pts[k] = dataclasses.replace(p, flags=[EXCLUDED_FLAGS[k % len(EXCLUDED_FLAGS)]], tput_per_gpu=p.tput_per_gpu * 2)
    n_groups = 0
    for f in frontiers(pts):
        members = [p for p in pts if group_key(p, DEFAULT_GROUP) == tuple(f.group.values())]
        excluded = [calc("isExcluded", list(p.flags), list(EXCLUDED_FLAGS)) for p in members]
        assert any(excluded) and not all(excluded)
        got = calc("frontierIndices", [p.median_intvty for p in members], [p.tput_per_gpu for p in members], excluded, True, True)
        assert [members[i].point_id for i in got] == [p.point_id for p in f.points]
        n_groups += 1
    assert n_groups == 3
