"""Write the dashboard: a folder of static files that works offline and from ``file://``.

Layout of the output folder::

    index.html            the page (no inline data, no CDN)
    app.css               the page's style
    app.js                the interface: static/app/{data,state,view,main}.js (ES modules) joined
                          into one script by bundle.py, so the page also opens from file://
    calc.js               the pure functions (frontier, interpolation, derived metrics), tested
                          against the Python analysis layer
    vendor/               Chart.js, copied from its npm package (see vendor/VENDORED.md)
    data/core.js          the points' core columns, prices, SOL frontiers, presets
    data/later.js         the percentiles the first chart does not need (loaded right after it)
    data/detail-NNNN.js   every field of every point, loaded when a point is clicked
    manifest.json         what was built from which store, when, and how big it is
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from servemark.analysis.history import REGRESSION_RULE
from servemark.errors import ServemarkError
from servemark.report.dashboard.bundle import bundle
from servemark.report.dashboard.data import load_payload, to_js
from servemark.report.dashboard.presets import PRESETS
from servemark.report.dashboard.prices import price_table
from servemark.store import Store


@dataclass
class BuildResult:
    out_dir: str
    db: str
    points: int
    detail_files: int
    data_bytes: int
    seconds: float


def _static_root() -> Path:
    return Path(str(resources.files("servemark.report.dashboard") / "static"))


def build_site(db: str | Path, out_dir: str | Path) -> BuildResult:
    """Read ``db`` and write the site into ``out_dir`` (created; files it owns are replaced)."""
    t0 = time.perf_counter()
    db = Path(db)
    out = Path(out_dir)
    if not db.exists():
        raise ServemarkError(f"no results store at {db} (run a sweep or `servemark import` first)")
    if out.exists() and not out.is_dir():
        raise ServemarkError(f"--out {out} exists and is not a folder")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with Store(db, read_only=True) as store:
        store.execute("SET enable_progress_bar = false")
        payload = load_payload(store, generated_at=now)
        hardware = [r["hardware"] for r in store.query("SELECT DISTINCT hardware FROM points WHERE hardware IS NOT NULL")]
    payload.core["prices"] = price_table(sorted(hardware))
    payload.core["presets"] = PRESETS
    payload.core["history_rule"] = dict(REGRESSION_RULE)  # calc.js regressions() runs this rule

    out.mkdir(parents=True, exist_ok=True)
    static = _static_root()
    for item in static.iterdir():
        if item.name == "app":
            continue  # the module sources: shipped bundled as app.js
        target = out / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, target)
    (out / "app.js").write_text(bundle(static / "app"), encoding="utf-8")
    data_dir = out / "data"
    if data_dir.exists():
        for old in data_dir.glob("*.js"):
            old.unlink()
    data_dir.mkdir(exist_ok=True)
    size = 0
    core_text = to_js("servemarkData", payload.core)
    (data_dir / "core.js").write_text(core_text, encoding="utf-8")
    size += len(core_text.encode())
    later_text = to_js("servemarkLater", payload.later)
    (data_dir / "later.js").write_text(later_text, encoding="utf-8")
    size += len(later_text.encode())
    for chunk, json_text in payload.details:
        text = to_js("servemarkDetail", json_text)
        (data_dir / f"detail-{chunk:04d}.js").write_text(text, encoding="utf-8")
        size += len(text.encode())
    result = BuildResult(
        out_dir=str(out), db=str(db), points=payload.core["count"], detail_files=len(payload.details),
        data_bytes=size, seconds=round(time.perf_counter() - t0, 3),
    )
    manifest = {**asdict(result), "generated_at": now, "format": payload.core["format"]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return result
