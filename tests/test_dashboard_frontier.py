"""Regression (issue 12): the dashboard draws the same frontiers as `servemark frontier`.

The page once built its frontiers from every point, flagged or not, while the CLI leaves out the
points carrying analysis/frontier.py EXCLUDED_FLAGS. The store here has flagged points that would
top their frontiers if they counted; the frontier lines drawn in headless Chromium must equal
`servemark frontier --json` group for group, point for point, on both charts.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard_support import demo_points, launch, make_store, open_page
from servemark.analysis.frontier import EXCLUDED_FLAGS, frontiers
from servemark.report.dashboard.build import build_site

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

LAST = "2026-11-15"
# (hardware, engine, conc) of a newest point -> the flag it gets; its throughput is tripled so that
# it would define its frontier if the flag were ignored
FLAGGED = {("h100", "vllm", 8): "too_many_failures", ("h100", "sglang", 2): "nonpositive_throughput",
           ("cpu", "vllm", 4): "no_completed_requests"}


def flagged_points():
    out = []
    for p in demo_points():
        flag = FLAGGED.get((p.hardware, p.engine, p.conc)) if p.date == LAST else None
        if flag:
            p = dataclasses.replace(p, flags=[*p.flags, flag], tput_per_gpu=3 * p.tput_per_gpu)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def store_and_site(tmp_path_factory):
    d = tmp_path_factory.mktemp("flagged")
    db = make_store(d / "flagged.duckdb", flagged_points())
    build_site(db, d / "site")
    return db, d / "site"


def cli_frontiers(db: Path, x: str) -> dict[str, list[tuple[str, float, float]]]:
    """`servemark frontier --json` as {series label as the page writes it: [(label, x, y), ...]}."""
    proc = subprocess.run([sys.executable, "-m", "servemark", "frontier", "--db", str(db), "--x", x, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = {}
    for f in json.loads(proc.stdout):
        g = f["group"]
        out[f"{g['hardware']} {g['engine']} {g['precision']}"] = [
            (f"{p['layout']} c{p['conc']}", p["x"], p["y"]) for p in f["points"]]
    return out


def page_frontiers(page, chart: str) -> dict[str, list[tuple[str, float, float]]]:
    """The frontier lines the chart holds, keyed by series label."""
    raw = page.evaluate("""(id) => Chart.getChart(id).data.datasets.filter((d) => d.isFrontier)
        .map((d) => [d.label.replace(/ frontier$/, ''), d.data.map((p) => [p.label, p.x, p.y])])""", chart)
    return {label: [tuple(p) for p in pts] for label, pts in raw}


def assert_same(page_f, cli_f) -> None:
    assert sorted(page_f) == sorted(cli_f)
    for label, cli_pts in cli_f.items():
        got = page_f[label]
        assert [p[0] for p in got] == [p[0] for p in cli_pts], label
        # the payload keeps 5 significant digits
        for (_, gx, gy), (_, cx, cy) in zip(got, cli_pts):
            assert gx == pytest.approx(cx, rel=1e-4) and gy == pytest.approx(cy, rel=1e-4), label


def test_the_data_would_show_the_bug() -> None:
    """Without the exclusion every flagged point would be on its frontier (else the test proves nothing)."""
    pts = [p for p in flagged_points() if p.date == LAST]
    kept = {(p.hardware, p.engine, p.conc) for f in frontiers(pts, exclude_flags=()) for p in f.points}
    ruled = {(p.hardware, p.engine, p.conc) for f in frontiers(pts) for p in f.points}
    assert set(FLAGGED) <= kept and not set(FLAGGED) & ruled
    assert set(FLAGGED.values()) <= set(EXCLUDED_FLAGS)


def test_dashboard_frontiers_equal_the_cli_on_flagged_points(store_and_site) -> None:
    db, site = store_and_site
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = open_page(browser, (site / "index.html").as_uri(), errors)
        assert page.evaluate("JSON.parse(document.body.dataset.shown)") == 15, "newest point per config and concurrency"
        assert_same(page_frontiers(page, "chart-intvty"), cli_frontiers(db, "median_intvty"))
        assert_same(page_frontiers(page, "chart-latency"), cli_frontiers(db, "median_e2el"))
        # flagged points are still drawn as points, they only stay off the frontier
        drawn = page.evaluate("""() => Chart.getChart('chart-intvty').data.datasets
            .filter((d) => !d.isFrontier && !d.seriesKey.startsWith('__')).reduce((a, d) => a + d.data.length, 0)""")
        assert drawn == 15
        browser.close()
    assert errors == []
