"""The dashboard's workload filter, in real Chromium on the real built site: a store holding the same
config measured under two workloads (random prompts and a multi-turn workload whose key carries
markup, as an imported store could)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from dashboard_support import demo_points, launch, make_store, open_page, wait_redraw
from servemark.report.dashboard.build import build_site

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

MULTI = 'multi_turn:<img src=x onerror="window.__pwned=5">'


def two_workloads() -> list:
    """The demo's cpu vllm points on one date, once as random prompts and once as a multi-turn
    workload (same model, ISL/OSL and concurrencies: one population, two frontiers)."""
    base = [p for p in demo_points() if p.hardware == "cpu" and p.date == "2026-11-01"]
    multi = [dataclasses.replace(p, point_id=p.point_id + "-mt", workload=MULTI, workload_kind="multi_turn",
                                 tput_per_gpu=p.tput_per_gpu * 0.5) for p in base]
    return base + multi


def shown(page) -> dict:
    """Per drawn series: its points and frontier points; and the frontiers the page keeps."""
    return page.evaluate("""() => {
        const ch = Chart.getChart('chart-intvty'), out = {points: {}, fronts: {}};
        for (const d of ch.data.datasets) {
            if (d.seriesKey.startsWith('__')) continue;
            const bag = d.isFrontier ? out.fronts : out.points;
            bag[d.seriesKey] = (bag[d.seriesKey] || 0) + d.data.length;
        }
        return out; }""")


def test_the_workload_filter_changes_what_is_drawn(tmp_path: Path) -> None:
    build_site(make_store(tmp_path / "wl.duckdb", two_workloads()), tmp_path / "site")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        b = launch(p)
        page = open_page(b, (tmp_path / "site" / "index.html").as_uri(), errors)
        boxes = page.locator("#f-wl input")
        assert boxes.count() == 2
        assert sorted(page.locator("#f-wl label").all_inner_texts()) == [f"{MULTI} (5)", "random (5)"]  # as text
        both = shown(page)
        assert len(both["points"]) == 2 and sum(both["points"].values()) == 10
        assert all(n > 0 for n in both["fronts"].values()) and both["fronts"].keys() == both["points"].keys()
        multi_key = next(k for k in both["points"] if MULTI in k)
        labels = page.evaluate("Chart.getChart('chart-intvty').data.datasets.filter((d) => !d.isFrontier).map((d) => d.label)")
        assert sorted(labels) == ["cpu vllm bf16", f"cpu vllm bf16 {MULTI}"]  # the default workload goes unsaid

        wait_redraw(page, page.locator("#f-wl input[value='random']").uncheck)
        only = shown(page)
        assert only["points"] == {multi_key: 5} and list(only["fronts"]) == [multi_key]
        assert page.evaluate("document.body.dataset.shown") == "5"
        assert parse_qs(page.url.split("#", 1)[1])["wl"] == [MULTI]

        # the link reproduces the filter; the calculator sees only that workload too
        again = open_page(b, page.url, errors)
        assert shown(again) == only and not again.is_checked("#f-wl input[value='random']")
        wait_redraw(again, lambda: again.click("#tabs button[data-view='calc']"))
        assert again.locator("#calc-table tr").count() == 2  # the header and the multi-turn config

        # the other way round: the random workload alone
        wait_redraw(page, page.locator("#f-wl input[value='random']").check)
        wait_redraw(page, lambda: boxes.nth([boxes.nth(k).get_attribute("value") for k in range(2)].index(MULTI)).uncheck())
        rnd = shown(page)
        assert len(rnd["points"]) == 1 and multi_key not in rnd["points"] and sum(rnd["points"].values()) == 5
        assert page.evaluate("window.__pwned") is None and page.locator("#filters img").count() == 0
        b.close()
    assert errors == []
