"""The JSON outputs of the analysis commands on a vendored InferenceX slice, for before/after checks.

``python tests/golden_outputs.py SRC OUT.json`` runs every command below with ``SRC`` first on the
path (``src`` of any checkout) against a fresh store imported from ``tests/data/inferencex_slice``
and writes one JSON document. ``tests/data/golden/commands.json`` was written this way from the
checkout before the field registry and the store API (issue 12); ``test_golden.py`` checks that the
current code reproduces it, so a refactor that changes a published number fails. It was rewritten
once, at the merge of issue 16, whose only change to it is added keys (``workload``,
``workload_kind``, ``prefix_cache``: frontiers group by workload); every number stayed the same.
Rewritten again when InferenceX's ``*_itl`` (vLLM's per-chunk gap) was mapped to ``*_icl`` instead
of servemark's per-token ``*_itl``: the dashboard payload's six ``*_itl`` columns became ``*_icl``
with the same values, and nothing else changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SLICE = Path(__file__).parent / "data" / "inferencex_slice"

COMMANDS: dict[str, list[str]] = {
    "frontier": ["frontier", "--json"],
    "frontier_h200_all_dates": ["frontier", "--hw", "h200", "--all-dates", "--json"],
    "frontier_ttft": ["frontier", "--hw", "b200", "--x", "p99_ttft", "--y", "output_tput_per_gpu", "--json"],
    "cost": ["cost", "--at", "40", "--json"],
    "cost_show_all": ["cost", "--at", "100", "--show-all", "--tier", "neocloud", "--json"],
    "compare": ["compare", "b200,trt,fp8,spec_method=none", "h200,trt,fp8,spec_method=none", "--isl", "1024",
                "--osl", "1024", "--at", "40", "--at", "60", "--json"],
    "compare_default_at": ["compare", "b200,trt,fp8,spec_method=none", "h200,trt,fp8,spec_method=none", "--isl",
                           "1024", "--osl", "1024", "--json"],
    "history": ["history", "--json"],
    "history_regressions": ["history", "h200", "--at", "50", "--regressions", "--json"],
    "sol_check": ["sol", "check", "--json"],
}
"""Name -> servemark arguments (``--db`` is added). Order matters: ``sol check`` writes tables."""

VOLATILE = {"generated_at", "created_at", "source_file", "file", "db"}
"""Keys whose values depend on the clock or the temporary directory, blanked before comparing."""


def _scrub(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: ("" if k in VOLATILE else _scrub(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _run(src: Path, args: list[str]) -> object:
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "servemark", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode:
        return {"exit": proc.returncode, "stderr_tail": proc.stderr.strip().splitlines()[-1:]}
    docs, text, dec = [], proc.stdout.strip(), json.JSONDecoder()
    while text:  # ``import`` prints one document per file
        doc, end = dec.raw_decode(text)
        docs.append(doc)
        text = text[end:].strip()
    return docs[0] if len(docs) == 1 else docs


_PAYLOAD = """
import json, sys
from servemark.store import Store
from servemark.report.dashboard.data import load_payload, _dump
with Store(sys.argv[1], read_only=True) as s:
    p = load_payload(s)
core = json.loads(_dump(p.core)); core.pop("meta", None)
print(json.dumps({"core": core, "later": json.loads(_dump(p.later)),
                  "details": [json.loads(t) for _, t in p.details]}))
"""


def outputs(src: Path) -> dict[str, object]:
    """Every command's JSON output (volatile keys blanked), plus the dashboard payload (less ``meta``)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "golden.duckdb")
        out: dict[str, object] = {"import": _run(src, ["import", "inferencex", str(SLICE / "benchmarks.json"),
                                                       str(SLICE / "benchmarks-history.json"), "--db", db, "--json"])}
        for name, args in COMMANDS.items():
            out[name] = _run(src, [*args, "--db", db])
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = subprocess.run([sys.executable, "-c", _PAYLOAD, db], env=env, capture_output=True, text=True,
                              timeout=300, check=True)
        out["dashboard_payload"] = json.loads(proc.stdout)
    # the slice's folder differs per checkout (it appears inside JSON text, e.g. ``extra``)
    text = json.dumps(_scrub(out), sort_keys=True).replace(str(SLICE.resolve()), "<slice>")
    return json.loads(text)


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(outputs(Path(sys.argv[1])), sort_keys=True) + "\n")
