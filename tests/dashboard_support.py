"""Shared set-up for the dashboard tests: demo-like points, the real InferenceX import, Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servemark.point import Point
from servemark.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
INFERENCEX = SHARED / "data" / "inferencex"

XSS_MODEL = '<img src=x onerror="window.__pwned=1">gemma'
XSS_ENGINE = "<script>window.__pwned=2</script>vllm"
XSS_URL = 'javascript:window.__pwned=3//"><img src=x onerror=window.__pwned=4>'


def demo_points(xss: bool = False) -> list[Point]:
    """What `servemark demo` stores: one small model on CPU swept over concurrency, on three dates,
    plus H100 configs so cost metrics have a price; one point fails its accuracy gate. h100 sglang
    is 20% slower on the last date: two equal earlier dates make that a regression (history rule)."""
    pts: list[Point] = []
    configs = [("cpu", "vllm", "bf16", 25.0, 1.0), ("h100", "vllm", "fp8", 120.0, 40.0), ("h100", "sglang", "fp8", 110.0, 46.0)]
    for date, drift in (("2026-11-01", 1.0), ("2026-11-08", 1.0), ("2026-11-15", 0.8)):
        for hw, eng, prec, single, scale in configs:
            for c in (1, 2, 4, 8, 16):
                intvty = single / (1 + c / 8)
                tput = c * intvty * scale * (drift if hw == "h100" and eng == "sglang" else 1.0)
                pid = f"demo-{date}-{hw}-{eng}-{c}"
                flags = ["gate_failed"] if (hw == "cpu" and c == 16 and date == "2026-11-15") else []
                pts.append(Point(
                    run_id=f"run-{date}-{hw}-{eng}", point_id=pid, date=date, started_at=f"{date}T10:00:00Z",
                    model=XSS_MODEL if xss else "gemma-3-270m", engine=XSS_ENGINE if xss else eng,
                    engine_version="0.32.0", hardware=hw, precision=prec, tp=1, isl=256, osl=64, conc=c,
                    num_requests=10 * c, completed=10 * c, median_tpot=1 / intvty, median_intvty=intvty,
                    mean_intvty=intvty * 0.97, p90_intvty=intvty * 0.9, p99_intvty=intvty * 0.8, p999_intvty=intvty * 0.75,
                    median_ttft=0.05 * (1 + c / 4), p99_ttft=0.2 * (1 + c / 4), mean_ttft=0.06 * (1 + c / 4),
                    p90_ttft=0.1 * (1 + c / 4), median_e2el=64 / intvty, p99_e2el=80 / intvty, mean_e2el=66 / intvty,
                    p90_e2el=72 / intvty, tput_per_gpu=tput, input_tput_per_gpu=tput * 0.8, output_tput_per_gpu=tput * 0.2,
                    flags=flags, source="servemark",
                    run_url=XSS_URL if xss else f"https://example.org/runs/{date}",
                    engine_args=json.dumps(["--max-model-len", "4096"]),
                    extra={"note": XSS_MODEL} if xss else {},
                ))
    return pts


def make_store(path: Path, points: list[Point]) -> Path:
    with Store(path) as st:
        st.add_points(points)
    return path


def import_inferencex_store(path: Path) -> Path:
    if not INFERENCEX.is_dir():
        pytest.skip("../shared/data/inferencex is absent (a user's fresh clone)")
    from servemark.importers.inferencex import import_inferencex

    with Store(path) as st:
        for name in ("benchmarks.json", "benchmarks-history.json"):
            import_inferencex(st, INFERENCEX / name)
    return path


def launch(playwright: Any):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (import this fixture into the module)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def open_page(browser: Any, url: str, errors: list[str]):
    """A page that records console errors and uncaught exceptions into ``errors``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    return page


def wait_redraw(page: Any, action) -> None:
    """Run ``action`` (a click, a selection) and wait until the page has drawn again."""
    page.evaluate("document.body.dataset.ready = '0'")
    action()
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
