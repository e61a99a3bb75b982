"""The three levels on the dashboard, in real headless Chromium: the engine ceiling stored beside
the served points (real DuckDB, the ceiling stage's own write path) is drawn above each point,
offered as Y metrics, listed in the tooltip with its ratios, and exported in the CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from dashboard_support import demo_points, launch, make_store, open_page, wait_redraw
from servemark.ceiling import store as cstore
from servemark.ceiling.row import CeilingRow, ceiling_id, key_of
from servemark.report.dashboard.build import build_site
from servemark.store import Store

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")


def ceiling_for(c: int) -> CeilingRow:
    """A vLLM-CPU-like ceiling: twice the served throughput at batch 1, five times at 16."""
    r = CeilingRow(model="gemma-3-270m", engine="vllm", hardware="cpu", precision="bf16", isl=256, osl=64, batch=c,
                   tool="vllm-bench-throughput", tput_per_gpu=1000.0 * c ** 0.9, output_tput_per_gpu=200.0 * c ** 0.9,
                   elapsed_s=2.0, argv=["python"], raw={})
    r.ceiling_id = ceiling_id(key_of(r.to_dict()))
    return r


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ceil")
    db = make_store(d / "c.duckdb", demo_points())
    with Store(db) as st:
        cstore.write(st, [ceiling_for(c) for c in (1, 2, 4, 8, 16)])
    build_site(db, d / "site")
    return d / "site"


def ceiling_dataset(page) -> dict | None:
    return page.evaluate("""() => { const d = Chart.getChart('chart-intvty').data.datasets.find((x) => x.isCeiling);
        return d ? {label: d.label, ys: d.data.map((p) => p.y).sort((a, b) => a - b), n: d.data.length} : null; }""")


def test_ceiling_overlay_tooltip_metrics_and_csv(site: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        errors: list[str] = []
        page = open_page(browser, (site / "index.html").as_uri(), errors)
        # on by default: one triangle per cpu point (latest date), at the stored ceiling
        ds = ceiling_dataset(page)
        assert ds is not None and ds["n"] == 5 and ds["label"].startswith("engine ceiling")
        assert ds["ys"] == pytest.approx([1000.0 * c ** 0.9 for c in (1, 2, 4, 8, 16)], rel=1e-4)
        # the latency chart carries it too; the toggle takes both away
        assert page.evaluate("Chart.getChart('chart-latency').data.datasets.some((x) => x.isCeiling)")
        wait_redraw(page, page.locator("#f-ceil").uncheck)
        assert ceiling_dataset(page) is None and "ceil=0" in page.evaluate("location.hash")
        wait_redraw(page, page.locator("#f-ceil").check)

        # hovering a triangle shows the served point's tooltip with the three levels and the ratio
        pos = page.evaluate("""() => { const ch = Chart.getChart('chart-intvty');
            const di = ch.data.datasets.findIndex((d) => d.isCeiling);
            const el = ch.getDatasetMeta(di).data[0]; const r = ch.canvas.getBoundingClientRect();
            return {x: r.left + el.x, y: r.top + el.y}; }""")
        page.mouse.move(pos["x"], pos["y"])
        page.wait_for_selector("#tip:not([hidden])", timeout=10000)
        tip = page.inner_text("#tip")
        assert "Engine ceiling, token throughput per GPU" in tip and "Served ÷ engine ceiling" in tip
        assert "cpu vllm bf16" in tip
        page.mouse.click(pos["x"], pos["y"])  # pinned: every field, the ceiling's tool among them
        page.wait_for_selector("#tip-detail table", timeout=10000)
        assert "vllm-bench-throughput" in page.inner_text("#tip-detail")
        page.click("#tip-close")

        # served ÷ ceiling is a Y metric: only the points that have a ceiling are drawn
        assert page.locator("#f-y option[value='served_ceiling']").count() == 1
        wait_redraw(page, lambda: page.select_option("#f-y", "served_ceiling"))
        ys = page.evaluate("""() => Chart.getChart('chart-intvty').data.datasets
            .filter((d) => !d.isFrontier && !d.seriesKey.startsWith('__')).flatMap((d) => d.data.map((p) => p.y))""")
        assert len(ys) == 5 and all(0 < y < 1 for y in ys)
        assert ceiling_dataset(page) is None, "the overlay belongs to the throughput charts only"

        # the CSV export carries the levels with their units
        wait_redraw(page, lambda: page.select_option("#f-y", "tput"))
        with page.expect_download() as dl:
            page.click("#btn-csv")
        rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
        cpu = [r for r in rows if r["hardware"] == "cpu"]
        assert cpu and all(r["ceiling_tput_per_gpu (tok/s/GPU)"] for r in cpu)
        assert all(not r["served_over_ceiling (fraction)"] for r in rows if r["hardware"] == "h100")
        page.close()
        browser.close()
    assert errors == []
