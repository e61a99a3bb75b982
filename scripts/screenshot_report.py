"""Screenshot an HTML report with headless Chromium (the picture in README's "reading the results").

    python scripts/screenshot_report.py RUNS/<run>/report.html docs/img/report.png [--chromium PATH]

Needs Playwright (a test dependency) and a Chromium: ``--chromium``, else ``chromium`` on PATH,
else Playwright's own download.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path, help="report.html written by servemark run / bench / report")
    ap.add_argument("out", type=Path, help="PNG to write")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                    help="Chromium binary (default: chromium on PATH, else Playwright's)")
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        kw = {"executable_path": args.chromium} if args.chromium else {}
        browser = p.chromium.launch(args=["--no-sandbox", "--disable-gpu"], **kw)
        page = browser.new_page(viewport={"width": args.width, "height": 800}, device_scale_factor=1)
        page.goto(args.report.resolve().as_uri())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"{args.out}")


if __name__ == "__main__":
    main()
