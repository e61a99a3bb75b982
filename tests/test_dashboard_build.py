"""`servemark dashboard build`: the files it writes and what is in them (no browser needed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from dashboard_support import XSS_ENGINE, XSS_MODEL, demo_points, make_store
from servemark.errors import ServemarkError
from servemark.report.dashboard.build import build_site
from servemark.report.dashboard.bundle import MODULES, bundle
from servemark.report.dashboard.data import round_sig, to_js


def read_js_payload(path: Path) -> dict:
    """The JSON inside ``name(JSON.parse("..."));`` as the browser would see it."""
    text = path.read_text(encoding="utf-8")
    literal = text[text.index("JSON.parse(") + len("JSON.parse("): text.rindex("));")]
    return json.loads(json.loads(literal))


def column(core: dict, name: str) -> list:
    col = core["columns"][name]
    n = core["count"]
    if isinstance(col, list):
        return col
    if "const" in col:
        return [col["const"]] * n
    codes = col["codes"] if col["codes"] != 0 else [0] * n
    return [col["values"][c] for c in codes]


def test_build_writes_an_offline_site(tmp_path: Path) -> None:
    db = make_store(tmp_path / "demo.duckdb", demo_points())
    r = build_site(db, tmp_path / "site")
    site = tmp_path / "site"
    assert r.points == 45 and r.detail_files == 1
    for rel in ("index.html", "app.js", "calc.js", "app.css", "vendor/chart-4.5.1.umd.min.js",
                "vendor/chart.js-LICENSE.md", "vendor/VENDORED.md", "data/core.js", "data/later.js", "data/detail-0000.js", "manifest.json"):
        assert (site / rel).is_file(), rel
    html = (site / "index.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html, "no CDN, no network"
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["points"] == 45 and manifest["db"] == str(db)

    core = read_js_payload(site / "data" / "core.js")
    assert core["count"] == 45
    # row order is (hardware, engine, precision, date, conc): cpu first, conc ascending
    assert column(core, "hardware")[:5] == ["cpu"] * 5
    assert column(core, "conc")[:5] == [1, 2, 4, 8, 16]
    assert set(column(core, "layout")) == {"TP1"}  # the analysis layer's label rule
    assert core["prices"]["name"] and "h100" in core["prices"]["hardware"] and "cpu" not in core["prices"]["hardware"]
    assert {p["id"] for p in core["presets"]} >= {"h100-vs-b200-fp8-8k1k"}
    flags = column(core, "flags")
    assert sum("gate_failed" in f for f in flags) == 1

    # percentiles the default view does not draw come in a second file
    later = read_js_payload(site / "data" / "later.js")["columns"]
    assert "mean_intvty" in later and "mean_intvty" not in core["columns"] and "median_intvty" in core["columns"]
    assert set(core["later_columns"]) == set(later)

    detail = read_js_payload(site / "data" / "detail-0000.js")
    assert detail["chunk"] == 0
    ids = detail["columns"]["point_id"]
    assert ids[0].startswith("demo-2026-11-01-cpu-vllm-1")
    assert detail["columns"]["engine_args"][0] == json.dumps(["--max-model-len", "4096"])
    assert "p999_e2el" not in detail["columns"], "columns empty in a whole chunk are left out"


def test_rebuild_replaces_stale_data_and_keeps_other_files(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "data").mkdir(parents=True)
    (site / "data" / "detail-0099.js").write_text("stale")
    (site / "notes.txt").write_text("mine")
    build_site(make_store(tmp_path / "d.duckdb", demo_points()), site)
    assert not (site / "data" / "detail-0099.js").exists()
    assert (site / "notes.txt").read_text() == "mine"


def test_empty_store_builds_a_page_that_says_so(tmp_path: Path) -> None:
    db = make_store(tmp_path / "empty.duckdb", [])
    r = build_site(db, tmp_path / "site")
    assert r.points == 0
    assert read_js_payload(tmp_path / "site" / "data" / "core.js")["count"] == 0


def test_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ServemarkError, match="no results store at"):
        build_site(tmp_path / "nope.duckdb", tmp_path / "site")


def test_data_strings_cannot_break_out_of_the_script(tmp_path: Path) -> None:
    db = make_store(tmp_path / "x.duckdb", demo_points(xss=True))
    build_site(db, tmp_path / "site")
    for f in (tmp_path / "site" / "data").glob("*.js"):
        text = f.read_text()
        assert "<" not in text and ">" not in text, f"raw angle bracket in {f.name}"
    core = read_js_payload(tmp_path / "site" / "data" / "core.js")
    assert column(core, "model")[0] == XSS_MODEL and column(core, "engine")[0] == XSS_ENGINE


def test_round_sig_and_to_js() -> None:
    assert round_sig([198.9447984579421, 12345.678, 0.000123456, None, float("nan"), 0.0]) == \
        [198.94, 12346.0, 0.00012346, None, None, 0.0]
    js = to_js("f", {"a": "</script><b>&", "b": [1, 2]})
    assert js.startswith("f(JSON.parse(") and "<" not in js and "&" not in js.replace("\\u0026", "")


def _cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("servemark")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_build_and_serve(tmp_path: Path) -> None:
    db = make_store(tmp_path / "demo.duckdb", demo_points())
    site = tmp_path / "site"
    r = _cli("dashboard", "build", "--db", str(db), "--out", str(site))
    assert r.returncode == 0, r.stderr
    assert "45 points" in r.stdout and (site / "index.html").is_file()

    bad = _cli("dashboard", "build", "--db", str(tmp_path / "missing.duckdb"), "--out", str(site))
    assert bad.returncode == 2 and "no results store at" in bad.stderr and "Traceback" not in bad.stderr

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("servemark")), "dashboard", "serve", "--dir", str(site),
                             "--port", "0", "--for", "20"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert b"servemark dashboard" in resp.read()
        with urllib.request.urlopen(url + "data/core.js", timeout=10) as resp:
            assert resp.read().startswith(b"servemarkData(JSON.parse(")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_payload_meta_carries_the_frontier_rule(tmp_path: Path) -> None:
    """The page takes grouping key, excluded flags and field labels/directions from here (issue 12)."""
    from servemark.analysis.frontier import DEFAULT_GROUP, EXCLUDED_FLAGS

    build_site(make_store(tmp_path / "demo.duckdb", demo_points()), tmp_path / "site")
    meta = read_js_payload(tmp_path / "site" / "data" / "core.js")["meta"]
    assert meta["group_by"] == list(DEFAULT_GROUP) and meta["excluded_flags"] == list(EXCLUDED_FLAGS)
    assert set(meta["population"]) <= set(meta["group_by"])
    f = meta["fields"]
    assert f["tput_per_gpu"] == {"label": "Token throughput per GPU", "unit": "tok/s/GPU", "direction": "higher", "format": "number"}
    assert f["median_e2el"]["direction"] == "lower" and f["p99_ttft"]["direction"] == "lower"
    assert f["median_intvty"]["direction"] == "higher" and f["disagg"]["format"] == "flag"
    assert all(k in f for k in meta["group_by"]), "every grouping field has a label"


def test_app_js_is_one_classic_script_bundled_from_the_modules(tmp_path: Path) -> None:
    build_site(make_store(tmp_path / "demo.duckdb", demo_points()), tmp_path / "site")
    app = (tmp_path / "site" / "app.js").read_text()
    assert not re.search(r"^\s*(import|export)\b", app, re.M), "file:// cannot load ES modules"
    for name in MODULES:
        assert f"const __{name} = (function () {{" in app
    assert not (tmp_path / "site" / "app").exists(), "the module sources ship bundled, not twice"


def test_bundler_refuses_what_it_cannot_join(tmp_path: Path) -> None:
    src = tmp_path / "app"
    src.mkdir()
    for name in MODULES:
        (src / f"{name}.js").write_text("export const X_%s = 1;\n" % name)
    assert "X_main" in bundle(src)
    (src / "data.js").write_text('import { X_view } from "./view.js";\n')
    with pytest.raises(ServemarkError, match="not an earlier module"):
        bundle(src)
    (src / "data.js").write_text("export let counter = 0;\n")
    with pytest.raises(ServemarkError, match="no `export let`"):
        bundle(src)
    (src / "data.js").write_text("export const X_data = 1;\n")
    (src / "state.js").write_text('import { nope } from "./data.js";\n')
    with pytest.raises(ServemarkError, match="does not export nope"):
        bundle(src)
