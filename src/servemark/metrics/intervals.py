"""Confidence intervals of a point's metrics: across trials, or over one trial's requests.

Two methods (docs/metrics.md "Intervals" says why and what each assumes):

- ``t_trials``: a point measured in ``n >= 2`` trials is the mean of its trials, and each metric's
  interval is Student's t-interval of the trial values, ``mean ± t(n-1) x s / sqrt(n)``. Trials are
  whole measurement windows, so the interval includes what differs between runs (machine state,
  engine warm state), which is the noise a regression check has to see through.
- ``bootstrap_requests``: a single-trial point gets a percentile bootstrap over its requests
  (resampled with replacement, ``B`` times). It only sees within-window noise; it is narrower than
  the truth when runs differ (the simulated engine's ``trial_noise``), and says so by its method.

Metrics with an interval: every latency statistic of TTFT, TPOT and E2EL, interactivity, the four
throughputs (and, across trials, every other metric with a direction). ITL and ICL get intervals
across trials only: their samples are tokens of the same requests, not independent draws.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from servemark.fields import FIELDS
from servemark.metrics import definitions as d
from servemark.metrics.stats import PCTS
from servemark.metrics.tdist import t_ppf
from servemark.records import RequestRecord

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 1000

TRIAL_METRICS = tuple(f.name for f in FIELDS if f.direction != "none" and f.format == "number")
"""Fields averaged over trials and given a t-interval (every numeric metric with a better direction)."""
SUMMED = ("num_requests", "completed", "failed", "duration", "total_input_tokens", "total_output_tokens",
          "client_input_tokens", "energy_j", "cached_tokens")
"""Counts of the summary point: the sum over its trials."""
MEANED = ("prompt_token_deviation", "output_token_deviation", "avg_power_w")
"""Numbers without a better direction that are still the mean of the trials (not trial 0's)."""

_THROUGHPUT_TOKENS = {"tput_per_gpu": ("in", "out"), "input_tput_per_gpu": ("in",),
                      "output_tput_per_gpu": ("out",), "request_throughput": ()}


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float] | None:
    """``(mean, low, high)``: Student's t-interval of the mean of ``values`` (``None`` below two values)."""
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(a) < 2:
        return None
    m = float(a.mean())
    half = float(t_ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    return m, m - half, m + half


def summarise_trials(trials: Sequence[dict[str, Any]], level: float = LEVEL) -> dict[str, Any]:
    """The summary fields of a point from its trials' fields (as ``metrics.summarize`` returns them).

    Metrics are the mean of the trials, counts their sum, flags their union; ``intervals`` holds
    each metric's t-interval. One trial: its own fields, with no ``t_trials`` interval."""
    out = dict(trials[0])
    out["trials"] = len(trials)
    if len(trials) == 1:
        return out
    for name in TRIAL_METRICS + MEANED:
        vals = [t.get(name) for t in trials]
        if any(v is None for v in vals):
            continue
        out[name] = float(np.mean(vals))
    if any(t.get("slo_met") is not None for t in trials):  # met only if every window met it
        out["slo_met"] = all(bool(t.get("slo_met")) for t in trials)
    if trials[-1].get("finished_at"):
        out["finished_at"] = trials[-1]["finished_at"]
    for name in SUMMED:
        vals = [t.get(name) for t in trials]
        if all(v is not None for v in vals):
            out[name] = sum(vals)
    flags = Counter(f for t in trials for f in t.get("flags", []))
    out["flags"] = sorted(flags)
    iv = {}
    for name in TRIAL_METRICS:
        ti = t_interval([t.get(name) for t in trials], level)
        if ti is not None:
            iv[name] = [ti[1], ti[2]]
    out.update(intervals=iv, interval_method="t_trials", interval_level=level)
    extra = dict(out.get("extra") or {})
    extra["trial_values"] = {k: [t.get(k) for t in trials] for k in ("tput_per_gpu", "median_intvty", "median_ttft")}
    out["extra"] = extra
    return out


def _stat(a: np.ndarray, stat: str) -> np.ndarray:
    """A statistic along the last axis, as ``metrics.stats.describe`` defines it."""
    if stat == "mean":
        return a.mean(axis=-1)
    if stat == "std":
        return a.std(axis=-1)
    return np.percentile(a, PCTS[stat], axis=-1)


def bootstrap_requests(records: Sequence[RequestRecord], point: dict[str, Any], level: float = LEVEL,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals over one trial's successful measured requests.

    Latency statistics are recomputed on each resample. A throughput is ``tokens / window``; the
    window cannot be resampled, so a resample's throughput is the measured one times the ratio of
    its ``Σ tokens / Σ E2EL`` to the full sample's (closed loop: throughput ∝ tokens per request /
    latency per request)."""
    ok = [r for r in records if not r.warmup and r.ok]
    cols: dict[str, list[float]] = {"ttft": [], "tpot": [], "e2el": [], "in": [], "out": []}
    for r in ok:
        t, p, e = d.ttft(r), d.tpot(r), d.e2el(r)
        if t is None or p is None or e is None:
            continue
        cols["ttft"].append(t)
        cols["tpot"].append(p)
        cols["e2el"].append(e)
        cols["in"].append(float(r.prompt_tokens if r.prompt_tokens is not None else (r.client_prompt_tokens or 0)))
        cols["out"].append(float(r.output_tokens if r.output_tokens is not None else sum(r.chunk_tokens)))
    n = len(cols["tpot"])
    if n < 2:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    lo_q, hi_q = 50 * (1 - level), 50 * (1 + level)
    out: dict[str, list[float]] = {}

    def put(name: str, boot: np.ndarray) -> None:
        if point.get(name) is not None and np.all(np.isfinite(boot)):
            out[name] = [float(np.percentile(boot, lo_q)), float(np.percentile(boot, hi_q))]

    arrays = {k: np.asarray(v)[idx] for k, v in cols.items()}
    for metric in ("ttft", "tpot", "e2el"):
        for stat in ("mean", "median", "std", "p90", "p99", "p999"):
            boot = _stat(arrays[metric], stat)
            put(f"{stat}_{metric}", boot)
            if metric == "tpot" and stat != "std" and np.all(boot > 0):
                put(f"{stat}_intvty", 1.0 / boot)
    e2el_sum = arrays["e2el"].sum(axis=1)
    full_e2el = float(np.sum(cols["e2el"]))
    for name, kinds in _THROUGHPUT_TOKENS.items():
        if point.get(name) is None:
            continue
        if kinds:
            tok = sum(arrays[k].sum(axis=1) for k in kinds)
            full = sum(float(np.sum(cols[k])) for k in kinds)
        else:
            tok, full = np.full(resamples, float(n)), float(n)
        put(name, point[name] * (tok / e2el_sum) / (full / full_e2el))
    return out


def with_request_intervals(fields: dict[str, Any], records: Sequence[RequestRecord], level: float = LEVEL,
                           seed: int = 0) -> dict[str, Any]:
    """A single trial's fields with ``bootstrap_requests`` intervals added."""
    iv = bootstrap_requests(records, fields, level, seed=seed)
    if iv:
        fields = {**fields, "intervals": iv, "interval_method": "bootstrap_requests", "interval_level": level}
    return fields
