"""Importing the real InferenceX rows: mapping, pitfalls, idempotency, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.errors import ServemarkError
from servemark.importers.inferencex import import_inferencex
from servemark.store import Store


@pytest.fixture(scope="module")
def imported(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("ix") / "both.duckdb"
    data = shared_dir / "data/inferencex"
    with Store(db) as store:
        snap = import_inferencex(store, data / "benchmarks.json")
        hist = import_inferencex(store, data / "benchmarks-history.json")
        again = [import_inferencex(store, data / f) for f in ("benchmarks-history.json", "benchmarks.json")]
        n = store.count_points()
    return db, snap, hist, again, n


def test_every_row_lands_once_and_reimport_adds_nothing(imported) -> None:
    db, snap, hist, again, n = imported
    assert (snap.rows, snap.added) == (435, 435)
    assert hist.rows == 1462 and hist.added + hist.merged == 1462
    assert hist.merged > 0  # the snapshot and the history capture share measurements: one point each
    assert n == 435 + hist.added
    for rep in again:
        assert (rep.added, rep.merged, rep.skipped) == (0, 0, rep.rows)


def test_known_pitfalls_are_detected(imported) -> None:
    """Counts verified independently on the fixture (shared/reference/inferencex-app.md section 3.4)."""
    _, snap, hist, _, _ = imported
    assert snap.pitfalls["num_gpu_corrected"] == 46
    assert hist.pitfalls["num_gpu_corrected"] == 336
    assert snap.pitfalls["pd_split_unreliable"] == 8
    assert snap.pitfalls["std_intvty_dropped"] == 435
    assert snap.pitfalls["no_io_split"] == 2
    assert "io_split_mismatch" not in snap.pitfalls and "intvty_tpot_mismatch" not in snap.pitfalls


def test_pitfall_rows_are_flagged_and_corrected(imported, inferencex_dir: Path) -> None:
    db = imported[0]
    with Store(db, read_only=True) as store:
        fixed = store.points("flags LIKE '%num_gpu_corrected%'")
        # 46 + 336 rows, 19 of them the same measurement in both files (counted with a plain
        # set over the raw identity fields of both JSON files)
        assert len(fixed) == 363
        for p in fixed:
            assert not p.disagg and p.gpu_count == p.tp
            assert p.num_prefill_gpu == p.num_decode_gpu == p.tp
            raw = p.extra["inferencex"]
            assert raw["num_decode_gpu"] != raw["decode_tp"]
            assert any("tp x ep" in n for n in p.extra["notes"])
        ep8 = [p for p in fixed if p.ep == 8 and p.tp == 8]
        assert ep8 and all(p.extra["inferencex"]["num_decode_gpu"] == 64 for p in ep8)
        pd = store.points("flags LIKE '%pd_split_unreliable%'")
        assert len(pd) == 8 and all(p.disagg and p.hardware == "gb200" for p in pd)
        assert {p.date for p in pd} <= {"2025-12-01", "2025-12-05"}


def test_fields_map_with_units_and_provenance(imported, inferencex_dir: Path) -> None:
    db = imported[0]
    rows = json.loads((inferencex_dir / "benchmarks.json").read_text())
    r0 = rows[0]
    with Store(db, read_only=True) as store:
        (p,) = [p for p in store.points("hardware = 'mi355x' AND engine = 'sglang' AND conc = 4 AND isl = 1024 "
                                         "AND osl = 1024 AND precision = 'fp4' AND date = '2026-06-11'")]
    m = r0["metrics"]
    assert p.model == "DeepSeek-R1-0528" and p.extra["model_key"] == "dsr1"
    assert p.tput_per_gpu == m["tput_per_gpu"] and p.median_ttft == m["median_ttft"]
    assert p.p999_ttft == m["p99.9_ttft"] and p.p999_intvty == m["p99.9_intvty"]
    assert p.median_intvty == pytest.approx(1 / p.median_tpot)
    assert p.avg_power_w == m["avg_power_w"] and p.energy_source == "reported"
    assert p.source == "inferencex" and p.run_url == r0["run_url"] and p.source_file.endswith("benchmarks.json")
    assert p.run_id == "inferencex-27213443242-1" and p.image == r0["image"] and p.scenario == "1k1k"
    assert p.gpu_count == 4 and not p.disagg and p.workers == ""


def test_disagg_layout_is_kept(imported) -> None:
    with Store(imported[0], read_only=True) as store:
        pts = store.points("disagg AND date >= '2026-01-01'")
    assert pts
    for p in pts:
        layout = json.loads(p.workers)
        assert set(layout) >= {"prefill", "decode"}
        assert p.gpu_count == p.num_prefill_gpu + p.num_decode_gpu


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "rows.json"
    with Store(tmp_path / "s.duckdb") as store:
        f.write_text("{not json")
        with pytest.raises(ServemarkError, match="rows.json: not valid JSON"):
            import_inferencex(store, f)
        f.write_text(json.dumps([{"hardware": "b200", "framework": "trt", "model": "dsr1", "precision": "fp4",
                                  "isl": 1024, "osl": 1024, "conc": 4, "date": "2026-01-01", "metrics": {}}]))
        with pytest.raises(ServemarkError, match=r"rows.json: row 0: metrics: missing key 'tput_per_gpu'"):
            import_inferencex(store, f)
        f.write_text(json.dumps([{"hardware": "b200"}]))
        with pytest.raises(ServemarkError, match=r"row 0: missing key 'framework'"):
            import_inferencex(store, f)
        with pytest.raises(ServemarkError, match="no such file"):
            import_inferencex(store, tmp_path / "absent.json")
        assert store.count_points() == 0


def test_raw_ci_artifact_rows_map_like_api_rows(inferencex_dir: Path, tmp_path: Path) -> None:
    """A flat ``agg_*.json`` row (the CI artifact shape) built from fixture row 0 imports to the
    same metrics and config as the API row."""
    api = json.loads((inferencex_dir / "benchmarks.json").read_text())[0]
    flat = {"hw": "mi355x-amds_0", "framework": "sglang", "precision": "fp4", "infmax_model_prefix": "dsr1-fp4",
            "spec_decoding": "", "disagg": False, "is_multinode": False, "isl": 1024, "osl": 1024, "conc": 4,
            "tp": 4, "ep": 1, "dp_attention": False, "image": api["image"], "run_url": api["run_url"],
            **api["metrics"]}
    f = tmp_path / "agg.json"
    f.write_text(json.dumps([flat]))
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ServemarkError, match="missing key 'date'.*--date"):
            import_inferencex(store, f)
        rep = import_inferencex(store, f, default_date=api["date"])
        (p,) = store.points()
    assert rep.added == 1
    assert (p.hardware, p.engine, p.precision, p.model, p.spec_method) == ("mi355x", "sglang", "fp4",
                                                                          "DeepSeek-R1-0528", "none")
    assert (p.tp, p.gpu_count, p.conc) == (4, 4, 4)
    assert p.tput_per_gpu == api["metrics"]["tput_per_gpu"] and p.p999_tpot == api["metrics"]["p99.9_tpot"]
    assert p.date == api["date"]


def test_inferencex_itl_is_stored_as_icl(inferencex_dir: Path, tmp_path: Path) -> None:
    """InferenceX's ``*_itl`` is vLLM benchmark_serving's gap between streamed chunks: servemark's
    ICL, not its per-token ITL. The rows show it: with the engines' stream intervals (TRT 10,
    SGLang up to 50 tokens a chunk) it is many times TPOT, which a per-token gap cannot be."""
    rows = json.loads((inferencex_dir / "benchmarks.json").read_text())
    with Store(tmp_path / "ix.duckdb") as store:
        import_inferencex(store, inferencex_dir / "benchmarks.json")
        points = store.points()
    assert len(points) == len(rows)
    assert all(p.mean_itl is None and p.p999_itl is None for p in points)
    for ix, field in (("mean_itl", "mean_icl"), ("median_itl", "median_icl"), ("p99.9_itl", "p999_icl")):
        want = sorted(r["metrics"][ix] for r in rows if r["metrics"].get(ix) is not None)
        assert want and sorted(v for p in points if (v := getattr(p, field)) is not None) == want
    ratios = [m["mean_itl"] / m["mean_tpot"] for r in rows if (m := r["metrics"]).get("mean_itl") and m.get("mean_tpot")]
    assert sum(r > 5 for r in ratios) > len(ratios) / 2  # chunks of many tokens: per chunk, not per token
