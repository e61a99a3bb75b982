"""Error bars and frontier bands: the HTML report (inline SVG) and the dashboard, in real headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard_support import browser, open_page  # noqa: F401 (browser: the shared fixture)
from servemark.calibration.simulated import SimModel, simulate_run
from servemark.report import html
from servemark.report.dashboard.build import build_site
from servemark.store import Store

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

CONCS = (1, 4, 8, 16, 32, 64)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, list, dict]:
    """A 3-trial run and a 1-trial run (bootstrap intervals) of the simulated engine, stored."""
    d = tmp_path_factory.mktemp("iv")
    pts, rows = simulate_run(SimModel(), "three", CONCS, trials=3, seed=1)
    one, _ = simulate_run(SimModel(slowdown=1.3), "one", CONCS, trials=1, seed=2)
    for p in one:
        p.engine = "sim-slow"
    with Store(d / "s.duckdb") as s:
        s.add_points(pts + one)
        s.add_trials(rows)
        trials = s.trials_of(p.point_id for p in pts)
    return d, pts + one, trials


def test_report_draws_error_bars_and_bands(browser, runs, tmp_path: Path) -> None:
    from servemark.analysis.uncertainty import band

    _, points, trials = runs
    series: dict[str, list] = {}
    for p in points:
        series.setdefault(html.series_key(p), []).append(p)
    bands = {k: band(v, trials) for k, v in series.items()}
    assert {b["method"] for b in bands.values()} == {"bootstrap_trials", "normal_bootstrap_requests"}
    path = html.write(tmp_path / "r.html", points, set(), "intervals", bands=bands)
    errors: list[str] = []
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    bars = page.locator("svg path.errbar")
    assert bars.count() >= 2 * len(points)  # a y bar and an x bar per point
    assert page.locator("svg polygon.band").count() == 2
    box = bars.first.bounding_box()
    assert box is not None and box["height"] > 0  # drawn, not collapsed
    text = page.inner_text("table")
    assert "bootstrap_requests" in text and "t_trials" in text
    page.close()
    assert errors == []


def test_dashboard_draws_error_bars_and_bands(browser, runs) -> None:
    d, points, _ = runs
    build_site(d / "s.duckdb", d / "site")
    errors: list[str] = []
    page = open_page(browser, (d / "site" / "index.html").as_uri(), errors)
    got = page.evaluate("""() => {
        const ch = Chart.getChart('chart-intvty');
        let withBars = 0, pts = 0, bands = 0, ordered = true;
        ch.data.datasets.forEach((ds) => {
            if (ds.isFrontier) { if (ds.$band) { bands++; ordered = ordered && ds.$band.every((b) => b.lo <= b.hi); } return; }
            if (ds.seriesKey.startsWith('__')) return;
            ds.data.forEach((p) => { pts++; if (p.ylo !== undefined && p.ylo <= p.y && p.y <= p.yhi) withBars++; });
        });
        return {withBars, pts, bands, ordered, plugin: ch.config.plugins.some((p) => p.id === 'errorBars')};
    }""")
    assert got["plugin"] and got["pts"] == len(points) and got["withBars"] == len(points)
    assert got["bands"] == 2 and got["ordered"]
    # the bars are on the canvas: pixels of a series colour just above a point, along its bar
    page.close()
    assert errors == []
