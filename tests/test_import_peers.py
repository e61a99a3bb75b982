"""Importing real AIPerf, GuideLLM and inference-perf result files (tests/data/peers/README.md).

Expected values were read by hand from the files (plan `failures`: 24 requests, 5 of them failed
by the server on purpose, 32 output tokens each).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.errors import ServemarkError
from servemark.importers.aiperf import import_aiperf
from servemark.importers.guidellm import import_guidellm
from servemark.importers.inference_perf import import_inference_perf
from servemark.importers.peer_common import PeerContext
from servemark.importers.vllm_bench import import_vllm_bench
from servemark.store import Store

DATA = Path(__file__).parent / "data" / "peers" / "failures"


def _one(tmp_path: Path, fn, path: Path, ctx: PeerContext | None = None):
    with Store(tmp_path / "s.duckdb") as store:
        rep = fn(store, path, ctx)
        assert (rep.rows, rep.added) == (1, 1)
        again = fn(store, path, ctx)  # idempotent
        assert (again.added, again.skipped) == (0, 1)
        (p,) = store.points()
    return p


def test_aiperf_json(tmp_path: Path) -> None:
    p = _one(tmp_path, import_aiperf, DATA / "aiperf" / "profile_export_aiperf.json")
    assert p.source == "aiperf" and p.model == "calibration" and p.conc == 4
    assert (p.num_requests, p.completed, p.failed) == (24, 19, 5) and "too_many_failures" in p.flags
    assert p.mean_ttft == pytest.approx(0.04329930763157894)  # time_to_first_token avg 43.2993... ms
    # AIPerf's inter_token_latency (12.0125... ms) is servemark's TPOT; its ICL is servemark's ICL
    assert p.mean_tpot == pytest.approx(0.012012545465195245) and p.mean_itl is None
    assert p.mean_icl == pytest.approx(0.012012545465195245)
    assert p.mean_e2el == pytest.approx(0.41568821705263156)
    assert p.duration == pytest.approx(2.17970304) and p.output_tput_per_gpu == pytest.approx(278.4783301707218)
    assert p.mean_intvty == pytest.approx(1 / p.mean_tpot)
    assert p.extra["peer_metrics"]["output_token_throughput_per_user"]["avg"] == pytest.approx(83.25409416977699)
    assert p.isl == 16 and p.osl == 32


def test_aiperf_csv_matches_json(tmp_path: Path) -> None:
    p = _one(tmp_path, import_aiperf, DATA / "aiperf" / "profile_export_aiperf.csv", PeerContext(gpus=2))
    # CSV rounds to 2 decimals: "Time to First Token (ms),43.30,...", "Request Count,19.00"
    assert p.mean_ttft == pytest.approx(0.04330) and p.median_ttft == pytest.approx(0.04275)
    assert p.mean_tpot == pytest.approx(0.01201) and (p.completed, p.failed) == (19, 5)
    assert p.gpu_count == 2 and p.output_tput_per_gpu == pytest.approx(278.48 / 2, rel=1e-3)


def test_guidellm(tmp_path: Path) -> None:
    p = _one(tmp_path, import_guidellm, DATA / "guidellm" / "guidellm.json", PeerContext(hardware="cpu"))
    assert p.source == "guidellm" and p.hardware == "cpu" and p.conc == 4
    assert (p.num_requests, p.completed, p.failed) == (24, 19, 5)
    assert p.mean_ttft == pytest.approx(0.04471670953850997)
    # GuideLLM's ITL (11.936... ms) is servemark's TPOT; its TPOT (12.96... ms, incl. first token) is kept apart
    assert p.mean_tpot == pytest.approx(0.011936451664197627) and p.mean_itl is None
    assert p.extra["peer_metrics"]["time_per_output_token_ms"]["mean"] == pytest.approx(12.960834722769887)
    assert p.p99_e2el == pytest.approx(0.42395877838134766)
    assert p.duration == pytest.approx(2.275437831878662) and p.output_tput_per_gpu == pytest.approx(267.2013234033377)
    assert p.total_output_tokens == 19 * 32


def test_inference_perf(tmp_path: Path) -> None:
    p = _one(tmp_path, import_inference_perf, DATA / "inference-perf" / "summary_lifecycle_metrics.json")
    assert p.source == "inference-perf" and p.model == "calibration" and p.conc == 4  # from config.yaml
    assert (p.num_requests, p.completed, p.failed) == (24, 19, 5)
    assert p.mean_ttft == pytest.approx(0.04945251052631169)
    assert p.median_tpot == pytest.approx(0.011998513903226041)
    assert p.p999_e2el == pytest.approx(0.4680937349558935) and p.std_e2el is None  # no std in the file
    assert p.mean_itl is None
    assert p.extra["peer_metrics"]["inter_token_latency"]["p99"] == pytest.approx(0.028085310400038)
    assert p.duration == pytest.approx(2.255742057000134) and p.output_tput_per_gpu == pytest.approx(269.5343636978454)


def test_vllm_bench_failures(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        import_vllm_bench(store, DATA / "vllm-bench" / "vllm_bench.json")
        (p,) = store.points()
    assert (p.num_requests, p.completed, p.failed) == (24, 19, 5)
    assert p.mean_ttft == pytest.approx(0.04345537794738687) and p.mean_icl == pytest.approx(0.011984810558573965)


@pytest.mark.parametrize("fn, name", [(import_aiperf, "aiperf"), (import_guidellm, "guidellm"),
                                      (import_inference_perf, "inference-perf")])
def test_bad_input_names_file_and_key(tmp_path: Path, fn, name: str) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ServemarkError, match="no such file"):
            fn(store, tmp_path / "missing.json")
        broken = tmp_path / "broken.json"
        broken.write_text("{not json")
        with pytest.raises(ServemarkError, match="broken.json: not valid JSON"):
            fn(store, broken)
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps({"something": 1}))
        with pytest.raises(ServemarkError, match="wrong.json"):
            fn(store, wrong)
        assert store.points() == []


def test_bad_number_names_the_key(tmp_path: Path) -> None:
    raw = json.loads((DATA / "aiperf" / "profile_export_aiperf.json").read_text())
    raw["time_to_first_token"]["avg"] = "fast"
    f = tmp_path / "p.json"
    f.write_text(json.dumps(raw))
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(ServemarkError, match="time_to_first_token.*'avg'"):
        import_aiperf(store, f)
