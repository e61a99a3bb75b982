"""History: one configuration's value at a fixed interactivity, date by date, with regressions.

For each date the group's points of that date form their own frontier (all layouts merged), read
at the target interactivity with the monotone spline (as the InferenceX "Historical Trends" tab
does). A date is flagged as a regression when its value is worse than the median of the previous
``window`` dated values by more than their spread (max - min), and by more than ``rel_tol`` of that
median: the spread says how much this configuration moves between runs anyway, the relative floor
stops two identical earlier values (spread 0) from turning any dip into an alarm. With fewer than
``min_baseline`` earlier values there is no spread to judge by, so nothing is flagged. "Worse" is
lower for higher-better metrics (throughput) and higher for lower-better ones (cost, energy).

:func:`regression_flags` is the rule itself; the dashboard's calc.js ``regressions`` is its port
(the page's target interactivity is chosen in the browser) and receives :data:`REGRESSION_RULE`
from the build, so the parameters live here only. tests/test_dashboard_calc.py holds the two equal.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Optional, Sequence

from servemark.analysis.frontier import DEFAULT_GROUP, frontiers, higher_is_better
from servemark.analysis.operating import operating_point
from servemark.analysis.uncertainty import Trials, by_group, compare_estimates, scatter_noise, value_estimate
from servemark.point import Point

REGRESSION_RULE: dict[str, Any] = {"window": 5, "rel_tol": 0.05, "min_baseline": 2}
"""Default parameters of the regression rule (CLI defaults, the dashboard's rule)."""


def regression_flags(
    values: Sequence[Optional[float]],
    higher_better: bool = True,
    window: int = REGRESSION_RULE["window"],
    rel_tol: float = REGRESSION_RULE["rel_tol"],
    min_baseline: int = REGRESSION_RULE["min_baseline"],
) -> list[dict[str, Any]]:
    """Per value (dates in order; None = not measured at the target): baseline, spread, drop, regression.

    ``drop`` is how much worse than the baseline the value is, in the metric's unit (positive =
    worse). Missing values are never flagged and never enter a later baseline.
    """
    out: list[dict[str, Any]] = []
    seen: list[float] = []
    for v in values:
        r: dict[str, Any] = {"baseline": None, "spread": None, "drop": None, "regression": False}
        if v is not None and seen:
            prev = seen[-window:]
            base = statistics.median(prev)
            spread = max(prev) - min(prev)
            drop = (base - v) if higher_better else (v - base)
            r.update(baseline=base, spread=spread, drop=drop,
                     regression=len(prev) >= min_baseline and drop > max(spread, rel_tol * abs(base)))
        if v is not None:
            seen.append(v)
        out.append(r)
    return out


def history(
    points: Sequence[Point],
    at: float,
    group_by: Sequence[str] = DEFAULT_GROUP,
    x: str = "median_intvty",
    y: str = "tput_per_gpu",
    window: int = REGRESSION_RULE["window"],
    rel_tol: float = REGRESSION_RULE["rel_tol"],
    min_baseline: int = REGRESSION_RULE["min_baseline"],
    y_higher_better: bool | None = None,
    trials: Trials | None = None,
) -> list[dict[str, Any]]:
    """Rows (group label, date, value, status, baseline, regression) for every group and date.

    ``y_higher_better`` defaults to :func:`higher_is_better` of ``y`` (as the frontier does).
    Each row also carries the value's confidence interval (``low``, ``high``, ``interval_method``;
    :func:`servemark.analysis.uncertainty.value_estimate`) and the change from the previous dated
    value: ``change`` (ratio), ``change_low``/``change_high`` and ``significance`` (``worse``,
    ``better``, ``indistinguishable``, ``unknown``). ``significant_regression``: flagged by the rule
    above and significantly worse than the previous date.
    """
    yh = higher_is_better(y) if y_higher_better is None else y_higher_better
    by_date: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        by_date[p.date].append(p)
    per_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    pooled = {label: scatter_noise(ps, y) for label, ps in by_group(points, group_by).items()}
    for date in sorted(by_date):
        members = by_group(by_date[date], group_by)
        for f in frontiers(by_date[date], group_by, x, y, y_higher_better=yh):
            op = operating_point(f, at)
            est = value_estimate(members.get(f.label, f.points), at, trials, x, y, pooled=pooled.get(f.label))
            per_group[f.label].append({**op, "date": date, "value": op[y], "n_points": f.n_candidates,
                                       "low": est.low, "high": est.high, "interval_method": est.method,
                                       "_est": est,
                                       "run_urls": sorted({p.run_url for p in f.points if p.run_url})})
    rows: list[dict[str, Any]] = []
    for label in sorted(per_group):
        group_rows = per_group[label]
        flags = regression_flags([r["value"] for r in group_rows], yh, window, rel_tol, min_baseline)
        prev = None
        for r, fl in zip(group_rows, flags):
            r.update(fl)
            est = r.pop("_est")
            ch = compare_estimates(est, prev, higher_better=yh) if prev is not None else None
            r.update(change=ch and ch["ratio"], change_low=ch and ch["low"], change_high=ch and ch["high"],
                     significance=ch["verdict"] if ch else "unknown")
            r["significant_regression"] = bool(r["regression"] and r["significance"] == "worse")
            if est.value is not None:
                prev = est
            rows.append(r)
    return rows
