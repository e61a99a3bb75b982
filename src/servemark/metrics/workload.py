"""Point metrics of workloads: prefix-cache hits, TTFT by turn, schedule lag, SLO verdict.

One definition each (docs/metrics.md): ``cached_tokens`` sums the server's
``usage.prompt_tokens_details.cached_tokens`` over the measured successful requests;
``cache_hit_rate`` divides it by their prompt tokens; ``ttft_by_turn`` is the median TTFT of
the requests of each turn index; ``schedule_lag_p99`` the 99th percentile of (sent - scheduled);
an SLO is met when each bounded metric's ``percentile``-th value is within its bound.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from servemark.metrics import definitions as d
from servemark.records import RequestRecord


def cache_usage(ok: list[RequestRecord]) -> dict[str, Any]:
    """Cached prompt tokens as the server reported them per request (empty when it did not)."""
    rep = [r for r in ok if r.cached_tokens is not None]
    if not rep:
        return {}
    cached = sum(r.cached_tokens or 0 for r in rep)
    prompt = sum(r.prompt_tokens or 0 for r in rep)
    return {"cached_tokens": cached, "cache_hit_rate": cached / prompt if prompt else None, "cache_source": "usage"}


def cache_from_counters(before: dict[str, float], after: dict[str, float], prompt_tokens: int) -> dict[str, Any]:
    """Cached tokens from an engine's Prometheus hit counter sampled before and after the point."""
    hits = after.get("hits", 0.0) - before.get("hits", 0.0)
    if "hits" not in after:
        return {}
    return {"cached_tokens": int(hits), "cache_hit_rate": hits / prompt_tokens if prompt_tokens else None,
            "cache_source": "prometheus"}


def ttft_by_turn(ok: list[RequestRecord]) -> dict[str, dict[str, float]]:
    """Per turn index: requests, median TTFT (s), mean server prompt tokens, cached tokens."""
    groups: dict[int, list[RequestRecord]] = defaultdict(list)
    for r in ok:
        if r.turn is not None:
            groups[r.turn].append(r)
    out = {}
    for k in sorted(groups):
        rs = groups[k]
        ttfts = [v for r in rs if (v := d.ttft(r)) is not None]
        out[str(k)] = {
            "requests": len(rs),
            "median_ttft": float(np.median(ttfts)) if ttfts else None,
            "mean_prompt_tokens": float(np.mean([r.prompt_tokens for r in rs if r.prompt_tokens is not None] or [0])),
            "cached_tokens": sum(r.cached_tokens or 0 for r in rs),
        }
    return out


def schedule_lag_p99(meas: list[RequestRecord]) -> float | None:
    lags = [r.sent_at - r.scheduled_at for r in meas if r.sent_at is not None]
    return float(np.percentile(lags, 99)) if lags else None


def slo_values(r: RequestRecord) -> dict[str, float | None]:
    """The per-request values an SLO bounds (s); one output token cannot miss a TPOT bound."""
    vals = {"ttft": d.ttft(r), "tpot": d.tpot(r), "e2el": d.e2el(r)}
    if vals["tpot"] is None and (r.output_tokens or 0) <= 1:
        vals["tpot"] = 0.0
    return vals


def is_good(vals: dict[str, float | None], bounds_s: dict[str, float]) -> bool:
    """A request is good when it meets every bound."""
    return all((v := vals.get(k)) is not None and v <= b for k, b in bounds_s.items())


def slo_verdict(ok: list[RequestRecord], total: int, duration: float, bounds_s: dict[str, float],
                percentile: float, min_good_fraction: float | None) -> dict[str, Any]:
    """Goodput (requests meeting every bound; failures count as not good) and whether the point
    meets the SLO (each metric's percentile within its bound, and enough good requests)."""
    good = 0
    per_metric: dict[str, list[float]] = {k: [] for k in bounds_s}
    for r in ok:
        vals = slo_values(r)
        for k in bounds_s:
            if (v := vals[k]) is not None:
                per_metric[k].append(v)
        good += is_good(vals, bounds_s)
    at = {k: (float(np.percentile(v, percentile)) if v else None) for k, v in per_metric.items()}
    # a failed request has no latency, so any failure fails the point: percentiles over the
    # successes alone would flatter it
    met = total > 0 and len(ok) == total and all(at[k] is not None and at[k] <= b for k, b in bounds_s.items())
    frac = good / total if total else None
    if min_good_fraction is not None:
        met = met and frac is not None and frac >= min_good_fraction
    return {"goodput_rps": good / duration if duration > 0 else None, "good_fraction": frac, "slo_met": bool(met),
            "slo_values_s": at}
