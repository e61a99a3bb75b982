"""Adaptive concurrency: measure a few points, then add points where the frontier is least known.

The frontier of one layout and scenario is the curve of (interactivity, throughput per GPU) over
concurrency. Between two measured concurrencies the sweep draws a straight chord; the chord's error
is estimated from the curvature the neighbours show (the quadratics through three consecutive
points, in log concurrency, evaluated at the gap's middle) plus the points' own interval half
widths (a noisy end makes the chord uncertain too). Each error is an area: deviation (a share of
the largest throughput) times the gap's width (a share of the interactivity range, log scale).
The next point goes to the geometric middle of the gap with the largest error, until the sum is
under ``tolerance``, the budget is spent, or no gap has a whole concurrency left inside it. Where
measured points fall below the frontier between two of its points (the curve folds back, as vLLM
CPU's does after concurrency 1), that whole segment counts instead, with the largest error its
chord can have, and its next point goes where the curve is estimated to climb back onto the
frontier (``folds``).

Pure functions of measured values: the sweep (``recipe_run``) and ``benchmarks/adaptive_sweep.py``
call them with real or simulated measurements alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from servemark.recipe.schema import initial_concurrencies


@dataclass(frozen=True)
class Measured:
    """One measured point as the placement sees it."""

    conc: int
    x: float
    """Interactivity (tok/s/user)."""
    y: float
    """Throughput (tok/s/GPU)."""
    y_half: float = 0.0
    """Half width of the throughput's interval (0 when unknown)."""


def _quad_at(ts: Sequence[float], vs: Sequence[float], t: float) -> float:
    """The parabola through three (t, v) points, at ``t`` (Lagrange form)."""
    (t0, t1, t2), (v0, v1, v2) = ts, vs
    return (v0 * (t - t1) * (t - t2) / ((t0 - t1) * (t0 - t2)) + v1 * (t - t0) * (t - t2) / ((t1 - t0) * (t1 - t2))
            + v2 * (t - t0) * (t - t1) / ((t2 - t0) * (t2 - t1)))


def gap_errors(points: Sequence[Measured]) -> list[tuple[float, int, int]]:
    """``(estimated error, conc_left, conc_right)`` per gap between consecutive measured concurrencies."""
    pts = sorted(points, key=lambda p: p.conc)
    if len(pts) < 2:
        return []
    t = [math.log(p.conc) for p in pts]
    lx = [math.log(max(p.x, 1e-12)) for p in pts]
    xr = (max(lx) - min(lx)) or 1.0
    ymax = max(p.y for p in pts) or 1.0
    out = []
    for i in range(len(pts) - 1):
        tm = (t[i] + t[i + 1]) / 2
        chord_y = (pts[i].y + pts[i + 1].y) / 2
        chord_x = (lx[i] + lx[i + 1]) / 2
        dev = 0.0
        for j in (i - 1, i):  # the two triples that contain this gap
            if j < 0 or j + 2 >= len(pts):
                continue
            tt = t[j:j + 3]
            dy = abs(_quad_at(tt, [p.y for p in pts[j:j + 3]], tm) - chord_y) / ymax
            dx = abs(_quad_at(tt, lx[j:j + 3], tm) - chord_x) / xr
            dev = max(dev, dy + dx * abs(pts[i + 1].y - pts[i].y) / ymax)
        noise = (pts[i].y_half + pts[i + 1].y_half) / 2 / ymax
        width = abs(lx[i + 1] - lx[i]) / xr
        out.append(((dev + noise) * width, pts[i].conc, pts[i + 1].conc))
    return out


def _dominated(p: Measured, pts: Sequence[Measured]) -> bool:
    return any(q.x >= p.x and q.y >= p.y and (q.x > p.x or q.y > p.y) for q in pts)


def folds(points: Sequence[Measured]) -> list[tuple[float, int, int, int]]:
    """``(estimated error, conc_a, conc_d, conc_b)`` per frontier segment that folds back.

    Consecutive frontier points ``a < b`` (in concurrency) with measured points between them: those
    are dominated, so the curve turned back there and the frontier's knee lies somewhere after the
    last of them, ``d`` (vLLM CPU: concurrency 2 and 3 fall below concurrency 1's throughput at a
    third of its interactivity; the frontier resumes at 4). The parabolas of ``gap_errors`` see a
    dip, not where the frontier turns, so such a segment's error is the most it can be: the
    frontier's next point ``k`` lies after ``d``, at most at ``d``'s interactivity and at least at
    ``a``'s throughput, and the worst case, ``k`` at ``(x_d, y_a)``, is the triangle ``a, k, b``
    against the chord from ``a`` to ``b``: ``(y_b - y_a) * log(x_a / x_d) / 2`` (shares of the
    largest throughput and of the log interactivity range), plus, as for a gap, the ends' interval
    half widths times the chord's width (without it a noisy gap elsewhere outranked the fold on
    vLLM CPU with 3 trials, whose t-intervals are wide). With no whole concurrency left between
    ``d`` and ``b`` the knee is found and the segment's error is 0."""
    pts = sorted(points, key=lambda p: p.conc)
    if len(pts) < 3:
        return []
    lx = [math.log(max(p.x, 1e-12)) for p in pts]
    xr = (max(lx) - min(lx)) or 1.0
    ymax = max(p.y for p in pts) or 1.0
    front = [p for p in pts if not _dominated(p, pts)]
    out = []
    for a, b in zip(front, front[1:]):
        inside = [p for p in pts if a.conc < p.conc < b.conc]
        if inside:
            d = inside[-1]
            if b.conc - d.conc < 2:
                out.append((0.0, a.conc, d.conc, b.conc))
                continue
            knee = abs(b.y - a.y) / ymax * abs(math.log(max(a.x, 1e-12)) - math.log(max(d.x, 1e-12))) / xr / 2
            noise = (a.y_half + b.y_half) / 2 / ymax * abs(math.log(max(a.x, 1e-12)) - math.log(max(b.x, 1e-12))) / xr
            out.append((knee + noise, a.conc, d.conc, b.conc))
    return out


def _frontier_return(points: Sequence[Measured], a: int, d: int, b: int) -> int:
    """Where a folded curve climbs back to ``a``'s throughput: the parabola through ``a``, ``d`` and
    ``b`` (log concurrency) crosses it between ``d`` and ``b``; the first whole concurrency at or
    after the crossing (one before it is still dominated). The geometric middle of ``d..b`` when
    the parabola does not cross there."""
    by = {p.conc: p for p in points}
    ts = [math.log(c) for c in (a, d, b)]
    ya, yd, yb = by[a].y, by[d].y, by[b].y
    lo, hi = ts[1], ts[2]
    f = lambda t: _quad_at(ts, [ya, yd, yb], t) - ya  # noqa: E731
    crossing = None
    if f(lo) < 0 < f(hi):
        for _ in range(60):  # bisection: f is a parabola, one sign change on [lo, hi]
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        crossing = math.exp(hi)
    c = math.ceil(crossing - 1e-9) if crossing is not None else round(math.sqrt(d * b))
    return min(max(c, d + 1), b - 1)


MIN_POINTS = 5
"""Points measured (budget allowing) before the tolerance may end placement. Three points give one
parabola, which both gaps share, so it cannot see a knee inside one of them: on vLLM CPU the
parabola through concurrencies 1, 6 and 32 was nearly straight while interactivity fell 3x from
1 to 2, and placement stopped at those three points, 5% of the area away from the dense frontier.
Five points put one inside each first gap, and each gap's bend then has a parabola of its own."""


def next_concurrency(points: Sequence[Measured], budget: int, tolerance: float) -> int | None:
    """Where to measure next, or ``None``: the estimated error is under ``tolerance`` (with at
    least ``MIN_POINTS`` measured), the budget is spent, or no gap has room for another whole
    concurrency."""
    if len(points) >= budget:
        return None
    fs = folds(points)
    gaps = [g for g in gap_errors(points) if not any(f[1] <= g[1] and g[2] <= f[3] for f in fs)]
    total = sum(g[0] for g in gaps) + sum(f[0] for f in fs)
    if len(points) >= MIN_POINTS and total < tolerance:
        return None
    options = [(e, lambda a=a, b=b: min(max(round(math.sqrt(a * b)), a + 1), b - 1)) for e, a, b in gaps if b - a >= 2]
    options += [(e, lambda a=a, d=d, b=b: _frontier_return(points, a, d, b)) for e, a, d, b in fs if b - d >= 2]
    if not options:
        return None
    return max(options, key=lambda o: o[0])[1]()


def adaptive_sweep(measure: Callable[[int], Measured], lo: int, hi: int, budget: int,
                   tolerance: float) -> list[Measured]:
    """Run the whole placement against ``measure`` (a function of concurrency)."""
    pts = [measure(c) for c in initial_concurrencies(lo, hi)]
    while (c := next_concurrency(pts, budget, tolerance)) is not None:
        pts.append(measure(c))
    return sorted(pts, key=lambda p: p.conc)


def dense_ladder(lo: int = 1, hi: int = 256) -> list[int]:
    """Powers of two and their midpoints (1, 2, 3, 4, 6, 8, 12, ...), InferenceX-style dense sweeps."""
    out = set()
    p = 1
    while p <= hi:
        out.update(c for c in (p, p + p // 2) if lo <= c <= hi and c >= 1)
        p *= 2
    return sorted(out)


def pareto(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other beats on both interactivity and throughput, by interactivity."""
    out: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not out or y > out[-1][1]:
            out.append((x, y))
    return sorted(out)


def area_between(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]], grid: int = 400) -> float:
    """Area between two frontiers (their Pareto points ``[(x, y), ...]``, linearly interpolated on a
    log interactivity scale) as a share of the area under ``b`` (the reference), over the common range."""
    ax, ay = zip(*pareto(a))
    bx, by = zip(*pareto(b))
    lo, hi = max(min(ax), min(bx)), min(max(ax), max(bx))
    if hi <= lo:
        return float("inf")
    g = np.exp(np.linspace(math.log(lo), math.log(hi), grid))
    ya = np.interp(np.log(g), np.log(ax), ay)
    yb = np.interp(np.log(g), np.log(bx), by)
    return float(np.trapezoid(np.abs(ya - yb), np.log(g)) / np.trapezoid(yb, np.log(g)))
