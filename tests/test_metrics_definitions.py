"""Metric definitions on hand-made records with known answers (docs/metrics.md)."""

from __future__ import annotations

import math

import pytest

from servemark.metrics import summarize
from servemark.metrics import definitions as d
from servemark.metrics.workload import slo_verdict
from servemark.point import POINT_FIELDS
from servemark.records import RequestRecord


def rec(rid: int, sched: float, sent: float, chunks: list[float], toks: list[int], done: float,
        out: int | None = None, prompt: int = 100, client_prompt: int = 100, error: str | None = None,
        warmup: bool = False) -> RequestRecord:
    return RequestRecord(point_id="p", request_id=rid, scheduled_at=sched, sent_at=sent,
                         first_token_at=chunks[0] if chunks else None, last_token_at=chunks[-1] if chunks else None,
                         done_at=done, prompt_tokens=prompt, output_tokens=sum(toks) if out is None else out,
                         client_prompt_tokens=client_prompt, client_output_tokens=len(chunks),
                         chunk_times=chunks, chunk_tokens=toks, error=error, warmup=warmup)


def test_ttft_counts_from_scheduled_not_sent():
    r = rec(0, sched=10.0, sent=10.5, chunks=[11.0, 11.1], toks=[1, 1], done=11.1)
    assert d.ttft(r) == pytest.approx(1.0)  # not 0.5: client queueing stays visible
    assert d.e2el(r) == pytest.approx(1.1)


def test_tpot_uses_server_token_count():
    # 11 tokens in 4 chunks; server says 11 -> (E2EL - TTFT) / 10
    r = rec(0, 0.0, 0.0, [0.2, 0.3, 0.6, 0.9], [2, 3, 3, 3], done=1.2)
    assert d.tpot(r) == pytest.approx((1.2 - 0.2) / 10)
    assert d.tpot(rec(1, 0.0, 0.0, [0.2], [1], done=0.2)) is None  # one token has no TPOT


def test_itl_is_per_token_and_icl_per_chunk():
    r = rec(0, 0.0, 0.0, [0.100, 0.110, 0.150], [1, 1, 4], done=0.15)
    assert d.icl(r) == pytest.approx([0.010, 0.040])
    # chunk of 4 tokens after 40 ms -> four gaps of 10 ms
    assert d.itl(r) == pytest.approx([0.010, 0.010, 0.010, 0.010, 0.010])


def test_summarize_known_answers_and_point_keys():
    recs = [
        rec(0, 0.0, 0.0, [0.5], [1], done=0.5, warmup=True, prompt=999),  # excluded
        rec(1, 1.0, 1.0, [1.1, 1.2, 1.3], [1, 1, 1], done=1.3),  # ttft .1 tpot .1
        rec(2, 1.0, 1.0, [1.3, 1.4, 1.5], [1, 1, 1], done=1.5),  # ttft .3 tpot .1
        rec(3, 1.5, 1.5, [], [], done=1.6, error="http_500", out=None, prompt=None),
        rec(4, 1.6, 1.6, [1.8, 1.85, 2.0], [1, 1, 2], done=2.1, prompt=110),  # ttft .2, tpot .1
    ]
    s = summarize(recs, gpu_count=2)
    assert set(s) <= set(POINT_FIELDS)
    assert (s["num_requests"], s["completed"], s["failed"]) == (4, 3, 1)
    assert s["duration"] == pytest.approx(2.1 - 1.0)  # first measured send -> last completion
    assert s["median_ttft"] == pytest.approx(0.2)
    assert s["mean_ttft"] == pytest.approx(0.2)
    assert s["median_tpot"] == pytest.approx(0.1)
    assert s["median_intvty"] == pytest.approx(10.0)
    assert s["p99_intvty"] == pytest.approx(1 / s["p99_tpot"])
    assert s["total_input_tokens"] == 310 and s["total_output_tokens"] == 10
    assert s["tput_per_gpu"] == pytest.approx(320 / 1.1 / 2)
    assert s["output_tput_per_gpu"] == pytest.approx(10 / 1.1 / 2)
    assert s["request_throughput"] == pytest.approx(3 / 1.1)
    assert s["prompt_token_deviation"] == pytest.approx((0 + 0 + 0.1) / 3)
    assert s["extra"]["failures"] == {"http_500": 1}
    assert "too_many_failures" in s["flags"]  # 25% failed
    # ITL: per-token gaps of the 3 requests: .1,.1 | .1,.1 | .05, .075, .075
    assert s["median_itl"] == pytest.approx(0.1)
    assert s["mean_icl"] == pytest.approx((0.1 * 4 + 0.05 + 0.15) / 6)


def test_disaggregated_throughput_per_role_gpu():
    recs = [rec(0, 0.0, 0.0, [0.5, 1.0], [1, 1], done=1.0, prompt=1000)]
    s = summarize(recs, gpu_count=6, num_prefill_gpu=2, num_decode_gpu=4)
    assert s["input_tput_per_gpu"] == pytest.approx(1000 / 1.0 / 2)
    assert s["output_tput_per_gpu"] == pytest.approx(2 / 1.0 / 4)
    assert s["tput_per_gpu"] == pytest.approx(1002 / 1.0 / 6)


def test_goodput_counts_failures_in_denominator():
    recs = [rec(0, 0.0, 0.0, [0.1, 0.2], [1, 1], done=0.2),
            rec(1, 0.0, 0.0, [0.9, 1.0], [1, 1], done=1.0),
            rec(2, 0.0, 0.0, [], [], done=0.3, error="timeout", out=None)]
    ok = [r for r in recs if r.ok]
    g = slo_verdict(ok, len(recs), 2.0, {"ttft": 0.5}, 99.0, None)
    assert g["goodput_rps"] == pytest.approx(1 / 2.0)
    assert g["good_fraction"] == pytest.approx(1 / 3)
    assert g["slo_met"] is False  # a failure fails the point


def test_empty_and_all_failed_points_do_not_crash():
    s = summarize([])
    assert s["completed"] == 0 and s["median_ttft"] is None and s["tput_per_gpu"] is None
    s = summarize([rec(0, 0.0, 0.0, [], [], done=0.1, error="connect", out=None)])
    assert s["failed"] == 1 and s["median_intvty"] is None and "too_many_failures" in s["flags"]


def test_client_saturation_becomes_a_flag():
    recs = [rec(0, 0.0, 0.0, [0.1, 0.2], [1, 1], done=0.2)]
    s = summarize(recs, client={"saturated": True, "saturation_reasons": ["x"]})
    assert "client_saturated" in s["flags"] and s["extra"]["client"]["saturated"]
    assert not math.isnan(s["mean_e2el"])


def _failing(n: int, failed: int) -> list[RequestRecord]:
    ok = [rec(i, 0.0, 0.0, [0.1, 0.2], [1, 1], done=0.2) for i in range(n - failed)]
    return ok + [rec(n + i, 0.0, 0.0, [], [], done=0.1, error="http_500", out=None) for i in range(failed)]


def test_failure_limit_is_the_callers_and_flags_once():
    """Issue 12: 7% failed with a 10% limit is not flagged; above it, flagged exactly once."""
    recs = _failing(100, 7)
    assert "too_many_failures" in summarize(recs)["flags"]  # the default limit is 5%
    assert summarize(recs, max_failure_rate=0.10)["flags"] == []
    assert summarize(_failing(100, 11), max_failure_rate=0.10)["flags"] == ["too_many_failures"]
    assert summarize(_failing(100, 10), max_failure_rate=0.10)["flags"] == []  # "more than" the limit
