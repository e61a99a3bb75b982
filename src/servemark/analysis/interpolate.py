"""Monotone interpolation along a frontier, never beyond the measured range.

"What throughput does B200 reach at 50 tok/s/user?" is answered between measured frontier points.
The interpolant is Steffen's monotone cubic Hermite spline (M. Steffen, A&A 239, 443, 1990) with
the end-slope rule that d3's ``curveMonotoneX`` uses, which is what the InferenceX site draws and
interpolates with, so servemark's numbers agree with the site's on the same points. Monotone means
no overshoot: a value always lies between the two measured neighbours around it.

Outside ``[min x, max x]`` the answer is ``below_range``/``above_range`` with no value: a frontier
says nothing about operating points nobody measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np

Status = Literal["ok", "below_range", "above_range", "empty"]


@dataclass
class Interp:
    """An interpolated value and the measured neighbours it came from."""

    value: float | None
    status: Status
    x: float
    lo: tuple[float, float] | None = None
    """(x, y) of the measured knot at or below ``x`` (None outside the range)."""
    hi: tuple[float, float] | None = None
    """(x, y) of the measured knot at or above ``x``."""
    lo_index: int | None = None
    hi_index: int | None = None
    x_min: float | None = None
    x_max: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sign(v: float) -> float:
    return float(v > 0) - float(v < 0)


def steffen_slopes(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Tangents at every knot (xs strictly increasing).

    Interior: ``(sign(s0)+sign(s1)) * min(|s0|, |s1|, |p|/2)`` with ``p`` the slope of the
    parabola through the three knots; ends: ``(3 s - m_neighbour) / 2`` (d3 ``slope2``).
    """
    n = xs.size
    m = np.zeros(n)
    if n < 2:
        return m
    h = np.diff(xs)
    s = np.diff(ys) / h
    if n == 2:
        m[:] = s[0]
        return m
    for i in range(1, n - 1):
        h0, h1, s0, s1 = h[i - 1], h[i], s[i - 1], s[i]
        p = (s0 * h1 + s1 * h0) / (h0 + h1)
        m[i] = (_sign(s0) + _sign(s1)) * min(abs(s0), abs(s1), 0.5 * abs(p))
    m[0] = (3 * s[0] - m[1]) / 2
    m[-1] = (3 * s[-1] - m[-2]) / 2
    return m


def _clean(xs: Sequence[float], ys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Finite pairs sorted by x; for repeated x keep the first y (a frontier has none)."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"xs and ys differ in length ({x.size} vs {y.size})")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size > 1:
        first = np.r_[True, np.diff(x) > 0]
        x, y = x[first], y[first]
    return x, y


def value_at(xs: Sequence[float], ys: Sequence[float], x: float) -> Interp:
    """The monotone-spline value at ``x`` through the knots ``(xs, ys)``; never extrapolates."""
    kx, ky = _clean(xs, ys)
    x = float(x)
    if kx.size == 0 or not math.isfinite(x):
        return Interp(None, "empty", x)
    lo_x, hi_x = float(kx[0]), float(kx[-1])
    if x < lo_x:
        return Interp(None, "below_range", x, hi=(lo_x, float(ky[0])), hi_index=0, x_min=lo_x, x_max=hi_x)
    if x > hi_x:
        n = kx.size - 1
        return Interp(None, "above_range", x, lo=(hi_x, float(ky[-1])), lo_index=n, x_min=lo_x, x_max=hi_x)
    j = int(np.searchsorted(kx, x, side="left"))
    if kx[j] == x:  # on a knot: the measured value itself
        knot = (float(kx[j]), float(ky[j]))
        return Interp(float(ky[j]), "ok", x, lo=knot, hi=knot, lo_index=j, hi_index=j, x_min=lo_x, x_max=hi_x)
    i = j - 1
    m = steffen_slopes(kx, ky)
    h = kx[j] - kx[i]
    t = (x - kx[i]) / h
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t * t * (3 - 2 * t)
    h11 = t * t * (t - 1)
    v = h00 * ky[i] + h10 * h * m[i] + h01 * ky[j] + h11 * h * m[j]
    # monotone by construction; the clamp only absorbs floating-point rounding at the knots
    v = float(min(max(v, min(ky[i], ky[j])), max(ky[i], ky[j])))
    return Interp(
        v, "ok", x,
        lo=(float(kx[i]), float(ky[i])), hi=(float(kx[j]), float(ky[j])),
        lo_index=i, hi_index=j, x_min=lo_x, x_max=hi_x,
    )


def spline_path(xs: Sequence[float], ys: Sequence[float], per_segment: int = 16) -> list[tuple[float, float]]:
    """The monotone spline through the knots as a polyline to draw: ``per_segment`` steps between
    neighbouring knots, the knots themselves included. A chart that joins the knots with straight
    lines shows a different frontier from the one ``value_at`` (and so ``frontier --at`` and the
    band) reads: below or above the chord by up to several percent where the slope changes."""
    kx, ky = _clean(xs, ys)
    if kx.size < 2:
        return [(float(x), float(y)) for x, y in zip(kx, ky)]
    out = [(float(kx[0]), float(ky[0]))]
    for i in range(kx.size - 1):
        for step in range(1, per_segment + 1):
            x = float(kx[i] + (kx[i + 1] - kx[i]) * step / per_segment)
            v = value_at(kx, ky, x).value
            out.append((x, float(ky[i + 1]) if v is None else v))
    return out
