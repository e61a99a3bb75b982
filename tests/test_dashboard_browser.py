"""The dashboard in real headless Chromium (Debian `chromium`, driven by Playwright)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from dashboard_support import (XSS_ENGINE, XSS_MODEL, browser, demo_points, import_inferencex_store, make_store,  # noqa: F401
                               open_page, wait_redraw)
from servemark.report.dashboard.build import build_site

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    build_site(make_store(d / "demo.duckdb", demo_points()), d / "site")
    return d / "site"


@pytest.fixture(scope="module")
def ix_site(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ix")
    build_site(import_inferencex_store(d / "ix.duckdb"), d / "site")
    return d / "site"


def url(site: Path, hash_: str = "") -> str:
    return (site / "index.html").as_uri() + hash_


def drawn(page, chart: str = "chart-intvty") -> dict:
    """What the chart holds now: points per dataset label (frontier lines and overlays apart)."""
    return page.evaluate("""(id) => {
        const ch = Chart.getChart(id);
        const out = {points: 0, series: [], frontier_points: 0, labels: []};
        ch.data.datasets.forEach((d) => {
            out.labels.push(d.label);
            if (d.isFrontier) out.frontier_points += d.data.length;
            else if (!d.seriesKey.startsWith('__')) { out.points += d.data.length; out.series.push(d.label); }
        });
        return out; }""", chart)


def test_demo_data_loads_without_errors(browser, demo_site: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, url(demo_site), errors)
    d = drawn(page)
    # latest run per config and concurrency: 3 configs x 5 concurrencies
    assert d["points"] == 15 and sorted(d["series"]) == ["cpu vllm bf16", "h100 sglang fp8", "h100 vllm fp8"]
    assert d["frontier_points"] > 0
    assert "accuracy gate failed" in d["labels"], "the gate_failed point is marked"
    x_title = page.evaluate("Chart.getChart('chart-intvty').options.scales.x.title.text")
    y_title = page.evaluate("Chart.getChart('chart-intvty').options.scales.y.title.text")
    assert "(tok/s/user)" in x_title and "(tok/s/GPU)" in y_title
    assert "(s)" in page.evaluate("Chart.getChart('chart-latency').options.scales.x.title.text")
    page.close()
    assert errors == []


def test_inferencex_rows_load_and_filters_change_what_is_drawn(browser, ix_site: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, url(ix_site), errors)
    before = drawn(page)
    assert before["points"] > 100 and len(before["series"]) > 10
    # untick one hardware: its series leave the chart, the others stay
    box = page.locator("#f-hw input[value='b200']")
    wait_redraw(page, box.uncheck)
    after = drawn(page)
    assert not any(s.startswith("b200 ") for s in after["series"])
    assert any(s.startswith("b200 ") for s in before["series"])
    assert 0 < after["points"] < before["points"]
    # another ISL/OSL is another population
    wait_redraw(page, lambda: page.select_option("#f-seq", "1024/1024"))
    assert drawn(page)["points"] != after["points"]
    # frontier-only keeps exactly the frontier points
    wait_redraw(page, page.locator("#f-front").check)
    d = drawn(page)
    assert d["points"] == d["frontier_points"]
    # a percentile from data/later.js (loaded after the first chart) draws the same points
    n_front = d["points"]
    wait_redraw(page, lambda: page.select_option("#f-stat", "p90"))
    assert "p90" in page.evaluate("Chart.getChart('chart-intvty').options.scales.x.title.text")
    assert drawn(page)["points"] > 0 and page.evaluate("document.body.dataset.shown") != "0"
    wait_redraw(page, lambda: page.select_option("#f-stat", "median"))
    assert drawn(page)["points"] == n_front
    # a cost metric flips the frontier direction (lower is better) and labels its unit
    wait_redraw(page, lambda: page.select_option("#f-y", "cost_total"))
    assert "($/M tokens)" in page.evaluate("Chart.getChart('chart-intvty').options.scales.y.title.text")
    assert drawn(page)["points"] > 0
    page.close()
    assert errors == []


def test_url_round_trips_the_state(browser, ix_site: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, url(ix_site), errors)
    wait_redraw(page, lambda: page.select_option("#f-seq", "1024/1024"))
    wait_redraw(page, page.locator("#f-hw input[value='mi355x']").uncheck)
    wait_redraw(page, lambda: page.select_option("#f-y", "tput_out"))
    wait_redraw(page, lambda: page.select_option("#f-stat", "p999"))
    wait_redraw(page, page.locator("#f-log").check)
    first_series = page.locator("#f-cmp select").first.locator("option").nth(1).get_attribute("value")
    wait_redraw(page, lambda: page.locator("#f-cmp select").first.select_option(first_series))
    shared = page.url
    q = parse_qs(shared.split("#", 1)[1])
    assert q["seq"] == ["1024/1024"] and q["y"] == ["tput_out"] and q["stat"] == ["p999"] and q["log"] == ["1"]
    assert "mi355x" not in q["hw"] and q["cmp"] == [first_series]
    state_before = drawn(page)
    page.close()

    other = open_page(browser, shared, errors)
    assert other.input_value("#f-seq") == "1024/1024"
    assert other.input_value("#f-y") == "tput_out" and other.input_value("#f-stat") == "p999"
    assert other.is_checked("#f-log") and not other.is_checked("#f-hw input[value='mi355x']")
    assert other.evaluate("Chart.getChart('chart-intvty').options.scales.y.type") == "logarithmic"
    assert "p99.9" in other.evaluate("Chart.getChart('chart-intvty').options.scales.x.title.text")
    assert drawn(other) == state_before
    assert other.url == shared
    other.close()
    assert errors == []


def test_exports_produce_files(browser, ix_site: Path, tmp_path: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, url(ix_site, "#seq=8192%2F1024&hw=h100&hw=h200"), errors)
    shown = int(page.evaluate("document.body.dataset.shown"))
    with page.expect_download() as dl:
        page.click("#btn-csv")
    csv_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(csv_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == shown > 0
    assert {r["hardware"] for r in rows} == {"h100", "h200"} and {r["isl"] for r in rows} == {"8192"}
    assert rows[0]["run_url"].startswith("https://github.com/SemiAnalysisAI/InferenceX/actions/runs/")
    assert float(rows[0]["tput_per_gpu (tok/s/GPU)"]) > 0

    with page.expect_download() as dl:
        page.click("#btn-png")
    png = tmp_path / dl.value.suggested_filename
    dl.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    page.close()
    assert errors == []


def test_point_details_history_and_calculator(browser, demo_site: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, url(demo_site), errors)
    # click a drawn point: the tooltip pins and loads every field from its detail chunk
    pos = page.evaluate("""() => { const ch = Chart.getChart('chart-intvty');
        const di = ch.data.datasets.findIndex((d) => !d.isFrontier && d.data.length);
        const el = ch.getDatasetMeta(di).data[0]; const r = ch.canvas.getBoundingClientRect();
        return {x: r.left + el.x, y: r.top + el.y}; }""")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#tip-detail table", timeout=10000)
    detail = page.inner_text("#tip")
    assert "point_id" in detail and "engine_args" in detail and "--max-model-len" in detail
    page.click("#tip-close")

    # history: the h100 sglang config got 20% slower on the second date -> a marked regression
    wait_redraw(page, lambda: page.click("#tabs button[data-view='history']"))
    wait_redraw(page, lambda: page.fill("#f-at", "60") or page.locator("#f-at").dispatch_event("change"))
    regs = page.inner_text("#history-out")
    assert "Regressions" in regs and "h100 sglang fp8" in regs and "2026-11-15" in regs and "-20" in regs
    assert "cpu vllm bf16" not in regs

    # calculator: every config at one interactivity; outside a config's measured range -> no value
    wait_redraw(page, lambda: page.click("#tabs button[data-view='calc']"))
    table = page.inner_text("#calc-table")
    assert "h100 vllm fp8" in table and "interpolated" in table
    assert "cpu vllm bf16" in table and "outside measured range" in table  # cpu tops out at 22 tok/s/user
    page.close()
    assert errors == []


def test_strings_from_the_data_never_execute(browser, tmp_path: Path) -> None:
    build_site(make_store(tmp_path / "xss.duckdb", demo_points(xss=True)), tmp_path / "site")
    errors: list[str] = []
    page = open_page(browser, url(tmp_path / "site"), errors)
    assert page.evaluate("window.__pwned") is None
    assert XSS_MODEL in page.inner_text("#f-model")  # shown as text
    assert any(XSS_ENGINE in lab for lab in drawn(page)["series"])
    # hover and pin a point: the tooltip shows the run URL as text, never as a javascript: link
    pos = page.evaluate("""() => { const ch = Chart.getChart('chart-intvty');
        const di = ch.data.datasets.findIndex((d) => !d.isFrontier && d.data.length);
        const el = ch.getDatasetMeta(di).data[0]; const r = ch.canvas.getBoundingClientRect();
        return {x: r.left + el.x, y: r.top + el.y}; }""")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_selector("#tip-detail table", timeout=10000)
    assert page.locator("#tip a").count() == 0
    assert "onerror" in page.inner_text("#tip")
    for view in ("history", "calc", "pareto"):
        wait_redraw(page, lambda: page.click(f"#tabs button[data-view='{view}']"))
    assert page.locator("img").count() == 0 and page.locator("#filters script, #content script, #tip script").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.close()
    assert errors == []


def test_speed_of_light_overlay_and_fractions(browser, tmp_path: Path) -> None:
    """SOL results in the store (the SOL stage's tables) show as a bound line and per-point fractions."""
    from servemark.sol.store import ensure_tables
    from servemark.store import Store

    db = make_store(tmp_path / "sol.duckdb", demo_points())
    with Store(db) as st:
        ensure_tables(st)
        for j, (x, y) in enumerate([(10, 90000.0), (50, 60000.0), (200, 9000.0)]):
            st.con.execute("INSERT INTO sol_frontiers (frontier_id, model, hardware, precision, isl, osl, kind, mode, layout,"
                           " conc, intvty, tput_per_gpu) VALUES ('f1', 'gemma-3-270m', 'h100', 'fp8', 256, 64, 'strict', 'agg',"
                           " 'agg-1gpu-tp1', ?, ?, ?)", [2 ** j, x, y])
        for p in demo_points():
            if p.hardware == "h100":
                st.con.execute("INSERT INTO sol_point_fractions (point_id, kind, sol_tput_per_gpu, fraction, note)"
                               " VALUES (?, 'strict', 1e5, ?, '')", [p.point_id, p.tput_per_gpu / 1e5])
    build_site(db, tmp_path / "site")
    errors: list[str] = []
    page = open_page(browser, url(tmp_path / "site"), errors)
    assert not any("speed of light" in lab for lab in drawn(page)["labels"]), "off by default"
    wait_redraw(page, page.locator("#f-sol").check)
    sol = [lab for lab in drawn(page)["labels"] if "speed of light" in lab]
    assert sol == ["speed of light (strict): h100 fp8"]
    assert page.evaluate("Chart.getChart('chart-intvty').data.datasets.find((d) => d.label.startsWith('speed')).data.length") == 3
    # the fraction is a Y metric of its own and part of every h100 point's tooltip
    assert page.locator("#f-y option[value='sol_frac']").count() == 1
    wait_redraw(page, lambda: page.select_option("#f-y", "sol_frac"))
    d = drawn(page)
    assert d["points"] == 10 and all(s.startswith("h100") for s in d["series"])  # cpu points have no fraction
    page.close()
    assert errors == []


def test_the_module_sources_load_as_es_modules(browser) -> None:
    """static/app/*.js are real ES modules (the build bundles them; Chromium must accept them unbundled too)."""
    import threading

    from servemark.report.dashboard.build import _static_root
    from servemark.report.dashboard.serve import make_server

    server = make_server(_static_root(), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        errors: list[str] = []
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "app.css")
        page.add_script_tag(url=base + "calc.js")
        exported = page.evaluate("""async () => {
            const out = {};
            for (const m of ['data', 'state', 'view', 'main']) out[m] = Object.keys(await import('/app/' + m + '.js')).sort();
            out.boot = typeof window.servemarkData;
            return out; }""")
        page.close()
    finally:
        server.shutdown()
        server.server_close()
    assert errors == []
    assert exported["boot"] == "function", "main.js registers the payload callback"
    assert {"decode", "yMetrics"} <= set(exported["data"]) and {"S", "readHash"} <= set(exported["state"])
    assert {"renderPareto", "exportCsv"} <= set(exported["view"])
