"""workload.js (the dashboard's workload filter module) in real Chromium, on a payload-shaped object."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard_support import launch

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
JS = Path(__file__).resolve().parents[1] / "src" / "servemark" / "report" / "dashboard" / "static" / "workload.js"

PAGE = """(keys) => {
  const vals = [...new Set(keys)];
  const D = { str: { workload: { values: vals, idx: keys.map((k) => vals.indexOf(k)) } },
              s: (c, i) => D.str[c].values[D.str[c].idx[i]] };
  const W = ServemarkWorkload, idx = keys.map((_, i) => i);
  return { opts: W.workloadOptions(D, idx), kept: W.keepWorkloads(D, idx, ["multi_turn:abcdef1234"]),
           all: W.keepWorkloads(D, idx, []).length, label: W.workloadLabel("multi_turn:abcdef1234"),
           old: W.workloadOf({ str: {} }, 0) };
}"""


def test_workload_filter_module() -> None:
    with sync_api.sync_playwright() as p:
        b = launch(p)
        page = b.new_page()
        page.add_script_tag(path=str(JS))
        out = page.evaluate(PAGE, ["random", "multi_turn:abcdef1234", "random", "multi_turn:abcdef1234", "trace:99"])
        b.close()
    assert out["opts"] == [["multi_turn:abcdef1234", 2], ["random", 2], ["trace:99", 1]]
    assert out["kept"] == [1, 3] and out["all"] == 5
    assert out["label"] == "multi_turn abcdef\u2026" and out["old"] == "random"
