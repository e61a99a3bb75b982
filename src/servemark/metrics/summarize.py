"""Request records -> the metric fields of a Point (names are exactly Point field names).

Only measured (non-warmup) records count. Latencies use successful requests; failures are
counted with their kind, put in goodput's denominator, and flag the point above the recipe's
``max_failure_rate`` (:func:`failure_flags`, the one rule for measured and imported points).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from servemark.fields import USAGE_TOLERANCE
from servemark.metrics import definitions as d
from servemark.metrics.stats import describe
from servemark.metrics.workload import cache_usage, schedule_lag_p99, ttft_by_turn
from servemark.point import INTVTY_STATS, POINT_FIELDS
from servemark.records import RequestRecord

DEFAULT_MAX_FAILURE_RATE = 0.05
"""Default limit on the share of failed requests (InferenceX's threshold; a recipe may change it)."""


def failure_flags(num_requests: int, failed: int, max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE) -> list[str]:
    """``["too_many_failures"]`` when more than ``max_failure_rate`` of the requests failed, else ``[]``.

    The only place the rule lives: :func:`summarize` applies it with the recipe's limit (the sweep
    passes it through and adds no second check) and the vLLM-bench importer with the default.
    """
    return ["too_many_failures"] if num_requests and failed / num_requests > max_failure_rate else []


def _put(out: dict[str, Any], metric: str, values: list[float]) -> None:
    for stat, v in describe(values).items():
        out[f"{stat}_{metric}"] = v


def window(records: list[RequestRecord]) -> tuple[float, float] | None:
    """Benchmark window: first measured send -> last measured completion (any outcome)."""
    sends = [r.sent_at for r in records if r.sent_at is not None]
    ends = [r.done_at for r in records if r.done_at is not None]
    if not sends or not ends:
        return None
    return min(sends), max(ends)


def summarize(records: list[RequestRecord], gpu_count: int = 1, num_prefill_gpu: int | None = None,
              num_decode_gpu: int | None = None,
              client: dict[str, Any] | None = None,
              max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE) -> dict[str, Any]:
    """The metric fields of one point; ``max_failure_rate`` is the recipe's limit for ``too_many_failures``."""
    meas = [r for r in records if not r.warmup]
    ok = [r for r in meas if r.ok]
    failed = [r for r in meas if not r.ok]
    out: dict[str, Any] = {"num_requests": len(meas), "completed": len(ok), "failed": len(failed)}
    win = window(meas)
    duration = (win[1] - win[0]) if win else 0.0
    out["duration"] = duration

    in_tok = sum((r.prompt_tokens if r.prompt_tokens is not None else (r.client_prompt_tokens or 0)) for r in ok)
    out_tok = sum((r.output_tokens if r.output_tokens is not None else sum(r.chunk_tokens)) for r in ok)
    out["total_input_tokens"] = in_tok
    out["total_output_tokens"] = out_tok
    client_in = [r.client_prompt_tokens for r in ok if r.client_prompt_tokens is not None]
    out["client_input_tokens"] = sum(client_in) if client_in else None
    devs = [(r.prompt_tokens - r.client_prompt_tokens) / r.client_prompt_tokens for r in ok
            if r.prompt_tokens is not None and r.client_prompt_tokens]
    out["prompt_token_deviation"] = float(np.mean(devs)) if devs else None
    out_devs = [(r.output_tokens - r.client_output_tokens) / r.client_output_tokens for r in ok
                if r.output_tokens is not None and r.client_output_tokens]
    out["output_token_deviation"] = float(np.mean(out_devs)) if out_devs else None

    _put(out, "ttft", [v for r in ok if (v := d.ttft(r)) is not None])
    tpots = [v for r in ok if (v := d.tpot(r)) is not None]
    _put(out, "tpot", tpots)
    _put(out, "itl", [g for r in ok for g in d.itl(r)])
    _put(out, "icl", [g for r in ok for g in d.icl(r)])
    _put(out, "e2el", [v for r in ok if (v := d.e2el(r)) is not None])
    for stat in INTVTY_STATS:
        t = out.get(f"{stat}_tpot")
        out[f"{stat}_intvty"] = (1.0 / t) if t else None

    if duration > 0:
        if num_prefill_gpu and num_decode_gpu:
            gpus = num_prefill_gpu + num_decode_gpu
            out["input_tput_per_gpu"] = in_tok / duration / num_prefill_gpu
            out["output_tput_per_gpu"] = out_tok / duration / num_decode_gpu
        else:
            gpus = max(gpu_count, 1)
            out["input_tput_per_gpu"] = in_tok / duration / gpus
            out["output_tput_per_gpu"] = out_tok / duration / gpus
        out["tput_per_gpu"] = (in_tok + out_tok) / duration / gpus
        out["request_throughput"] = len(ok) / duration
    else:
        for k in ("input_tput_per_gpu", "output_tput_per_gpu", "tput_per_gpu", "request_throughput"):
            out[k] = None

    extra: dict[str, Any] = {"samples": {"requests_ok": len(ok), "tpot": len(tpots),
                                         "itl_tokens": sum(max(len(r.chunk_times) - 1, 0) for r in ok)}}
    flags: list[str] = failure_flags(len(meas), len(failed), max_failure_rate)
    if out["output_token_deviation"] is not None and abs(out["output_token_deviation"]) > USAGE_TOLERANCE:
        flags.append("usage_mismatch")
    if not ok:
        flags.append("no_completed_requests")
    if failed:
        extra["failures"] = dict(Counter(r.error for r in failed))
        extra["failure_examples"] = {k: next(r.error_detail for r in failed if r.error == k)
                                     for k in extra["failures"]}
    qd = [v for r in meas if (v := d.queue_delay(r)) is not None]
    if qd:
        a = np.asarray(qd) * 1e3
        extra["queue_delay_ms"] = {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                                   "max": float(a.max())}
    both = [(r.output_tokens, r.client_output_tokens) for r in ok
            if r.output_tokens is not None and r.client_output_tokens is not None]
    if both:
        diff = [s - c for s, c in both]
        extra["output_token_disagreement"] = {
            "requests_differing": sum(1 for x in diff if x), "mean_server_minus_client": float(np.mean(diff)),
            "note": "client count = chunks carrying text; differs when chunks carry several tokens"}
    if devs:
        extra["prompt_token_disagreement"] = {
            "requests_differing": sum(1 for x in devs if x), "max_abs_fraction": float(np.max(np.abs(devs)))}
    out.update(cache_usage(ok))
    out["schedule_lag_p99"] = schedule_lag_p99(meas)
    turns = ttft_by_turn(ok)
    if turns:
        extra["ttft_by_turn"] = turns
    if client:
        extra["client"] = client
        if client.get("saturated"):
            flags.append("client_saturated")
    out["flags"] = flags
    out["extra"] = extra
    unknown = set(out) - set(POINT_FIELDS)
    assert not unknown, f"summarize produced non-Point keys {unknown}"
    return out
