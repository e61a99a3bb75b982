"""The field registry is the one source: Point, the store schema, docs, importers and the dashboard agree with it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from servemark.analysis.frontier import DEFAULT_GROUP, EXCLUDED_FLAGS, higher_is_better
from servemark.fields import FIELDS, INFERENCEX_METRICS, LATENCY_METRICS, LATENCY_STATS, VLLM_BENCH_MS, fields_meta
from servemark.point import Point
from servemark.store import Store
from servemark.store import POINT_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def _default(f) -> object:
    if f.default_factory is not MISSING:
        return f.default_factory
    return f.default


def test_point_dataclass_equals_the_registry() -> None:
    point = [(f.name, str(f.type), _default(f)) for f in fields(Point)]
    registry = [(f.name, f.type, f.default) for f in FIELDS]
    assert point == registry


def test_every_latency_metric_has_every_statistic() -> None:
    names = {f.name for f in FIELDS}
    for m in LATENCY_METRICS:
        for s in LATENCY_STATS:
            f = next(f for f in FIELDS if f.name == f"{s}_{m}")
            assert (f.metric, f.stat, f.unit, f.direction) == (m, s, "s", "lower")
    assert "std_intvty" not in names


def test_store_schema_is_the_registry(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s:
        cols = {r["column_name"]: r["data_type"] for r in s.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'points'")}
    assert cols == {f.name: f.store_type for f in FIELDS}
    assert POINT_COLUMNS == {f.name: f.store_type for f in FIELDS}


def test_docs_table_is_generated_from_the_registry() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_metrics_table.py"), "--check"],
                          env={"PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True)
    assert proc.returncode == 0, "docs/metrics.md is stale: run python scripts/gen_metrics_table.py"


def test_importer_maps_come_from_the_registry() -> None:
    assert INFERENCEX_METRICS["p99.9_ttft"] == "p999_ttft" and INFERENCEX_METRICS["median_intvty"] == "median_intvty"
    assert "std_intvty" not in INFERENCEX_METRICS
    assert VLLM_BENCH_MS["p99.9_itl_ms"] == "p999_icl"  # vLLM's per-chunk "ITL" is our ICL
    assert VLLM_BENCH_MS["median_tpot_ms"] == "median_tpot"
    assert not any(name.endswith("_itl") for name in VLLM_BENCH_MS.values())


def test_frontier_directions_follow_the_registry() -> None:
    for f in FIELDS:
        if f.direction != "none":
            assert higher_is_better(f.name) == (f.direction == "higher"), f.name
    assert higher_is_better("cost_per_mtok") is False  # derived figures keep the rule by name


def test_dashboard_meta_shape() -> None:
    meta = fields_meta(DEFAULT_GROUP, EXCLUDED_FLAGS)
    assert set(meta) == {"fields", "group_by", "excluded_flags"}
    assert meta["group_by"] == list(DEFAULT_GROUP) and meta["excluded_flags"] == list(EXCLUDED_FLAGS)
    assert meta["fields"]["median_intvty"] == {"label": "Interactivity, median (1/TPOT)", "unit": "tok/s/user",
                                               "direction": "higher", "format": "number"}
    assert meta["fields"]["disagg"]["format"] == "flag" and meta["fields"]["isl"]["format"] == "int"
    assert list(meta["fields"]) == [f.name for f in FIELDS]


def test_dashboard_payload_carries_the_meta(tmp_path: Path) -> None:
    from servemark.report.dashboard.data import load_payload

    with Store(tmp_path / "s.duckdb") as s:
        s.add_point(Point(point_id="a", hardware="h200", tput_per_gpu=1.0, median_intvty=2.0))
        core = load_payload(s).core
    population = core["meta"].pop("population")
    unlabelled = core["meta"].pop("unlabelled")
    assert core["meta"] == fields_meta(DEFAULT_GROUP, EXCLUDED_FLAGS)
    assert set(population) <= set(DEFAULT_GROUP)
    assert set(unlabelled) <= set(DEFAULT_GROUP) and unlabelled["workload"] == ["random"]
