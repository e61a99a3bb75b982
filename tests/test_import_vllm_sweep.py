"""Importing a real `vllm bench sweep serve` experiment (tests/data/peers/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.errors import ServemarkError
from servemark.importers.vllm_bench import import_vllm_bench
from servemark.store import Store

EXP = Path(__file__).parent / "data" / "peers" / "vllm-sweep" / "calib"


def _by_conc(store: Store) -> dict[int, object]:
    return {p.conc: p for p in store.points()}


def test_experiment_folder_gives_one_point_per_run(tmp_path: Path) -> None:
    raw4 = json.loads((EXP / "BENCH--max_concurrency=4" / "run=0.json").read_text())
    with Store(tmp_path / "s.duckdb") as store:
        rep = import_vllm_bench(store, EXP)
        assert (rep.rows, rep.added) == (2, 2)
        pts = _by_conc(store)
    assert sorted(pts) == [1, 4]
    p = pts[4]
    # read by hand from run=0.json: mean_ttft_ms 60.1367..., mean_itl_ms 10.3364..., 8 completed
    assert p.mean_ttft == pytest.approx(0.0601367, rel=1e-5) and p.completed == 8
    assert p.mean_icl == pytest.approx(raw4["mean_itl_ms"] / 1000) and p.mean_itl is None
    assert p.extra["run_number"] == 0 and p.output_tput_per_gpu == pytest.approx(raw4["output_throughput"])


def test_summary_json_and_csv_agree_with_the_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as a, Store(tmp_path / "b.duckdb") as b:
        import_vllm_bench(a, EXP)
        rep = import_vllm_bench(b, EXP / "summary.csv")
        assert rep.rows == 2
        runs, csv_pts = _by_conc(a), _by_conc(b)
    for conc in (1, 4):
        assert csv_pts[conc].mean_ttft == pytest.approx(runs[conc].mean_ttft)
        assert csv_pts[conc].p99_e2el == pytest.approx(runs[conc].p99_e2el)
        assert csv_pts[conc].completed == runs[conc].completed
    with Store(tmp_path / "c.duckdb") as c:
        assert import_vllm_bench(c, EXP / "BENCH--max_concurrency=1" / "summary.json").added == 1


def test_folder_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(ServemarkError, match="no vLLM sweep results"):
        import_vllm_bench(store, tmp_path)
    bad = tmp_path / "summary.csv"
    bad.write_text("a,b\n1,2\n")
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(ServemarkError, match="summary.csv"):
        import_vllm_bench(store, bad)
