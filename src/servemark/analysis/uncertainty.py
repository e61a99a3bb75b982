"""How sure a frontier is: bands, a value at one interactivity with its interval, ratios, the gate.

Everything here works on one group's points (the candidates of a frontier) and, where a sweep ran
several trials, each point's trial rows (the store's ``trials`` table). Three sources of noise, in
order of preference, and every result names the one it used (``method``):

- ``t_trials``: every frontier point has ``n >= 2`` trials. The frontier is rebuilt from trial
  ``k`` of every point (trial ``k`` of a sweep is one pass over all concurrencies), read at ``x``:
  ``n`` values, a t-interval with ``n - 1`` degrees of freedom.
- ``bootstrap_requests`` (or another stored point method): the two frontier points around ``x``
  carry intervals; their relative half widths, interpolated to ``x``, give a relative standard
  error (normal, the bootstrap's own distribution).
- ``frontier_scatter``: imported single-trial data (InferenceX rows) have no interval; the noise is
  estimated from the data itself: each interior frontier point is left out in turn and predicted
  from the spline through the others; the residuals' spread in log throughput (divided by
  ``√1.5``, the variance of a residual of independent noise between two neighbours) is one
  point's noise, with ``residuals - 1`` degrees of freedom. It assumes the true frontier is
  smooth between points, so real bends count as noise: the estimate errs on the wide side.

Bands are a bootstrap over trials: each replicate replaces every point by the mean of its trials
resampled with replacement (or, without trials, by a normal draw of its interval or the scatter
estimate), rebuilds the frontier and reads it on a grid; the band is the percentile interval. The grid spans
the measured frontier's interactivity range; where a replicate's end point moved inward (its own
interactivity noise), that replicate reads its end point's value there, so the band reaches both
ends of the frontier instead of stopping where half the replicates end.

Ratios A/B and the gate work on log values: ``log A - log B`` with standard error
``√(se_A² + se_B²)`` (relative standard errors) and Welch-Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Mapping, Sequence

import numpy as np

from servemark.analysis.frontier import frontiers, group_key, group_label, higher_is_better, layout_label
from servemark.analysis.interpolate import value_at
from servemark.metrics.tdist import t_ppf
from servemark.point import Point

LEVEL = 0.95
Trials = Mapping[str, Sequence[Point]]
"""Summary point id -> its trial rows."""


@dataclass
class Estimate:
    """A frontier's value at one x, with its interval and where the noise estimate came from."""

    value: float | None
    low: float | None = None
    high: float | None = None
    rel_se: float | None = None
    """Relative standard error (standard error of the log value)."""
    df: float = math.inf
    method: str = "none"
    n: int = 0
    """Trials (t_trials) or residuals (frontier_scatter) behind the estimate."""
    status: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["df"] = None if math.isinf(self.df) else self.df
        return d


def _front(points: Sequence[Point], x: str, y: str) -> tuple[list[float], list[float]]:
    fs = frontiers(points, (), x, y)
    return (fs[0].xs, fs[0].ys) if fs else ([], [])


def _quantile(level: float, df: float) -> float:
    return t_ppf(0.5 + level / 2, df) if math.isfinite(df) else NormalDist().inv_cdf(0.5 + level / 2)


def _with_interval(value: float, rel_se: float, df: float, method: str, n: int, level: float) -> Estimate:
    q = _quantile(level, df)
    return Estimate(value, value * math.exp(-q * rel_se), value * math.exp(q * rel_se), rel_se, df, method, n)


def trials_of(points: Sequence[Point], trials: Trials) -> list[list[Point]] | None:
    """Per trial index, that trial of every point (``None`` unless every point has the same ``n >= 2``)."""
    rows = [sorted(trials.get(p.point_id, ()), key=lambda t: t.trial or 0) for p in points]
    ns = {len(r) for r in rows}
    if len(ns) != 1 or min(ns) < 2:
        return None
    return [[r[k] for r in rows] for k in range(ns.pop())]


def scatter_noise(points: Sequence[Point], y: str = "tput_per_gpu") -> tuple[float, int] | None:
    """``(relative noise of one point, residual count)`` from the group's own scatter.

    Per date and layout, points in concurrency order: each interior point is predicted by the straight line
    (log concurrency, log y) through its two neighbours; a residual of independent noise ``σ`` has
    variance ``σ² (1 + w² + (1 - w)²)`` (``w`` the neighbours' weights), so each residual is
    divided by its square root; ``σ`` is 1.4826 x their median absolute value (the normal's MAD
    scale), so a few residuals at a real bend (the knee where a batch engine turns compute-bound)
    do not count as noise. Dominated points count too (they are measurements like the others)."""
    series: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        v = getattr(p, y)
        if v is not None and v > 0 and p.conc and p.conc > 0:
            series.setdefault((p.date, layout_label(p)), []).append(p)
    terms = []
    for ps in series.values():
        ps = sorted(ps, key=lambda p: p.conc)
        for i in range(1, len(ps) - 1):
            c0, c1, c2 = (math.log(ps[k].conc) for k in (i - 1, i, i + 1))
            if c2 == c0:
                continue
            w = (c2 - c1) / (c2 - c0)
            pred = w * math.log(getattr(ps[i - 1], y)) + (1 - w) * math.log(getattr(ps[i + 1], y))
            r = math.log(getattr(ps[i], y)) - pred
            terms.append(abs(r) / math.sqrt(1 + w * w + (1 - w) ** 2))
    if len(terms) < 2:
        return None
    return float(1.4826 * np.median(terms)), len(terms)


def _point_rel_se(p: Point, y: str) -> float | None:
    iv = (p.intervals or {}).get(y)
    v = getattr(p, y)
    if not iv or not v or p.interval_level is None:
        return None
    q = _quantile(p.interval_level, p.trials - 1 if p.interval_method == "t_trials" and p.trials >= 2 else math.inf)
    return (iv[1] - iv[0]) / 2 / q / abs(v)


def value_estimate(points: Sequence[Point], at: float, trials: Trials | None = None, x: str = "median_intvty",
                   y: str = "tput_per_gpu", level: float = LEVEL,
                   pooled: tuple[float, int] | None = None) -> Estimate:
    """The frontier of ``points`` (one group's candidates, dominated ones included: the scatter
    estimate uses them) read at ``x = at``, with its interval (module docstring)."""
    fs = frontiers(points, (), x, y)
    if not fs or not fs[0].points:
        return Estimate(None, status="empty")
    f = fs[0]
    central = value_at(f.xs, f.ys, at)
    if not central.ok or central.value is None:
        return Estimate(None, status=central.status)
    value = central.value
    per_trial = trials_of(f.points, trials or {})
    if per_trial is not None:
        vals = [value_at(*_front(tp, x, y), at).value for tp in per_trial]
        vals = [v for v in vals if v]
        if len(vals) >= 2:
            logs = np.log(vals)
            rel_se = float(np.std(logs, ddof=1) / math.sqrt(len(logs)))
            return _with_interval(value, rel_se, len(vals) - 1, "t_trials", len(vals), level)
    ends = [f.points[i] for i in {central.lo_index, central.hi_index} if i is not None]
    ses = [_point_rel_se(p, y) for p in ends]
    if ends and all(s is not None for s in ses):
        xs_ = [getattr(p, x) for p in ends]
        rel = float(np.interp(at, sorted(xs_), [s for _, s in sorted(zip(xs_, ses))]))
        how = ends[0].interval_method
        method = how if how == "bootstrap_requests" else f"point_intervals({how or 'unknown'})"
        return _with_interval(value, rel, math.inf, method, len(ends), level)
    sc = scatter_noise(points, y)
    if sc is not None:
        return _with_interval(value, sc[0], sc[1] - 1, "frontier_scatter", sc[1], level)
    if pooled is not None:  # too few points on this date: the configuration's scatter over all its dates
        return _with_interval(value, pooled[0], pooled[1] - 1, "frontier_scatter_all_dates", pooled[1], level)
    return Estimate(value, method="none", status="ok")


def by_group(points: Sequence[Point], group_by: Sequence[str]) -> dict[str, list[Point]]:
    """A group's candidates by its frontier label (what :func:`value_estimate` and :func:`band` take)."""
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(group_label(dict(zip(group_by, group_key(p, group_by)))), []).append(p)
    return out


def compare_estimates(a: Estimate, b: Estimate, level: float = LEVEL, higher_better: bool = True) -> dict[str, Any]:
    """Ratio A/B with its interval and a verdict: ``better``, ``worse`` or ``indistinguishable``
    (``unknown`` when either side has no noise estimate)."""
    if not a.value or not b.value:
        return {"ratio": None, "low": None, "high": None, "verdict": "unknown", "df": None}
    ratio = a.value / b.value
    if a.rel_se is None or b.rel_se is None:
        return {"ratio": ratio, "low": None, "high": None, "verdict": "unknown", "df": None}
    se, df = _combined(a, b)
    q = _quantile(level, df)
    lo, hi = ratio * math.exp(-q * se), ratio * math.exp(q * se)
    good, bad = (lo > 1, hi < 1) if higher_better else (hi < 1, lo > 1)
    verdict = "better" if good else "worse" if bad else "indistinguishable"
    return {"ratio": ratio, "low": lo, "high": hi, "verdict": verdict, "df": None if math.isinf(df) else df,
            "rel_se": se, "method": f"{a.method}/{b.method}"}


def _combined(a: Estimate, b: Estimate) -> tuple[float, float]:
    va, vb = (a.rel_se or 0.0) ** 2, (b.rel_se or 0.0) ** 2
    se = math.sqrt(va + vb)
    if math.isinf(a.df) and math.isinf(b.df):
        return se, math.inf
    denom = (va * va / a.df if math.isfinite(a.df) else 0.0) + (vb * vb / b.df if math.isfinite(b.df) else 0.0)
    return se, ((va + vb) ** 2 / denom) if denom > 0 else math.inf


def gate(baseline: Estimate, candidate: Estimate, max_regression: float = 0.0, level: float = LEVEL,
         higher_better: bool = True) -> dict[str, Any]:
    """Does the candidate regress by more than ``max_regression`` with confidence ``level``?

    One-sided: with ``r = candidate / baseline``, a higher-better metric fails when the upper
    ``level`` confidence bound of ``r`` is below ``1 - max_regression`` (even the most favourable
    plausible candidate is worse than allowed); lower-better when the lower bound is above
    ``1 + max_regression``. No noise estimate on either side: ``failed`` is None (cannot judge)."""
    out: dict[str, Any] = {"baseline": baseline.value, "candidate": candidate.value, "ratio": None, "bound": None,
                           "limit": (1 - max_regression) if higher_better else (1 + max_regression),
                           "failed": None, "method": f"{baseline.method}/{candidate.method}", "level": level}
    if not baseline.value or not candidate.value:
        out["reason"] = f"no value at the target (baseline {baseline.status}, candidate {candidate.status})"
        return out
    out["ratio"] = r = candidate.value / baseline.value
    if baseline.rel_se is None or candidate.rel_se is None:
        out["reason"] = "no noise estimate (fewer than 2 trials and fewer than 4 frontier points)"
        return out
    se, df = _combined(candidate, baseline)
    q = t_ppf(level, df) if math.isfinite(df) else NormalDist().inv_cdf(level)
    if higher_better:
        out["bound"] = r * math.exp(q * se)
        out["failed"] = out["bound"] < out["limit"]
    else:
        out["bound"] = r * math.exp(-q * se)
        out["failed"] = out["bound"] > out["limit"]
    out["df"] = None if math.isinf(df) else df
    out["rel_se"] = se
    return out


def band(points: Sequence[Point], trials: Trials | None = None, x: str = "median_intvty", y: str = "tput_per_gpu",
         level: float = LEVEL, resamples: int = 200, grid: int = 24, seed: int = 0) -> dict[str, Any]:
    """The frontier band of one group: ``{"method", "x": [...], "low": [...], "high": [...]}``."""
    fs = frontiers(points, (), x, y)
    if not fs or len(fs[0].points) < 2:
        return {"method": "none", "x": [], "low": [], "high": []}
    cands = [p for p in points if getattr(p, x) is not None and getattr(p, y) is not None]
    trials = trials or {}
    xs0 = fs[0].xs
    sc = scatter_noise(points, y)
    rng = np.random.default_rng(seed)
    methods = set()
    draws_x = np.empty((resamples, len(cands)))
    draws_y = np.empty((resamples, len(cands)))
    for j, p in enumerate(cands):
        rows = trials.get(p.point_id, ())
        px, py = float(getattr(p, x)), float(getattr(p, y))
        if len(rows) >= 2:
            tx = np.array([getattr(t, x) for t in rows], dtype=float)
            ty = np.array([getattr(t, y) for t in rows], dtype=float)
            idx = rng.integers(0, len(rows), (resamples, len(rows)))
            draws_x[:, j], draws_y[:, j] = tx[idx].mean(axis=1), ty[idx].mean(axis=1)
            methods.add("bootstrap_trials")
            continue
        se_y = _point_rel_se(p, y)
        se_x = _point_rel_se(p, x) or 0.0
        if se_y is None and sc is not None:
            se_y, se_x = sc[0], 0.0
            methods.add("frontier_scatter")
        elif se_y is not None:
            methods.add(f"normal_{p.interval_method or 'interval'}")
        draws_x[:, j] = px * np.exp(rng.normal(0, se_x, resamples))
        draws_y[:, j] = py * np.exp(rng.normal(0, se_y or 0.0, resamples))
    g = np.exp(np.linspace(math.log(min(xs0)), math.log(max(xs0)), grid))
    g[0], g[-1] = min(xs0), max(xs0)  # the knots themselves, not exp(log(x)) a rounding away
    vals = np.full((resamples, grid), np.nan)
    for r in range(resamples):
        rx, ry = _pareto(draws_x[r], draws_y[r], higher_is_better(x), higher_is_better(y))
        if not rx:
            continue
        for k, gx in enumerate(g):
            if gx < rx[0] or gx > rx[-1]:
                vals[r, k] = ry[0] if gx < rx[0] else ry[-1]
                continue
            v = value_at(rx, ry, gx).value
            vals[r, k] = np.nan if v is None else v
    lo_q, hi_q = 50 * (1 - level), 50 * (1 + level)
    keep = np.mean(np.isfinite(vals), axis=0) >= 0.8
    out_x, lo, hi = [], [], []
    for k in np.flatnonzero(keep):
        col = vals[np.isfinite(vals[:, k]), k]
        out_x.append(float(g[k]))
        lo.append(float(np.percentile(col, lo_q)))
        hi.append(float(np.percentile(col, hi_q)))
    return {"method": "+".join(sorted(methods)) or "none", "level": level, "x": out_x, "low": lo, "high": hi}


def _pareto(xs: np.ndarray, ys: np.ndarray, xh: bool, yh: bool) -> tuple[list[float], list[float]]:
    sx, sy = (xs if xh else -xs), (ys if yh else -ys)
    order = np.lexsort((-sy, -sx))
    keep, best = [], -math.inf
    for i in order:
        if sy[i] > best:
            keep.append(i)
            best = sy[i]
    keep.sort(key=lambda i: xs[i])
    return [float(xs[i]) for i in keep], [float(ys[i]) for i in keep]
