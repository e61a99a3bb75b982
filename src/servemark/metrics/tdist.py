"""Student's t quantiles without SciPy: the exact finite series of the t CDF for whole degrees of freedom.

Abramowitz & Stegun 26.7.3-4 give ``A(t|ν) = P(|T| < t)`` as a finite sum in ``θ = atan(t/√ν)``;
the quantile is found by bisection (60 halvings: exact to double precision). Fractional degrees of
freedom (Welch) are rounded down, which widens the interval slightly (conservative).
"""

from __future__ import annotations

import math
from statistics import NormalDist


def _a(t: float, nu: int) -> float:
    th = math.atan(t / math.sqrt(nu))
    c2 = math.cos(th) ** 2
    if nu % 2:  # odd
        if nu == 1:
            return 2 * th / math.pi
        term, s = 1.0, 1.0
        for k in range(2, nu - 1, 2):  # 2/3 c², (2·4)/(3·5) c⁴, ...
            term *= k / (k + 1) * c2
            s += term
        return 2 / math.pi * (th + math.sin(th) * math.cos(th) * s)
    term, s = 1.0, 1.0
    for k in range(1, nu - 2, 2):  # 1/2 c², (1·3)/(2·4) c⁴, ...
        term *= k / (k + 1) * c2
        s += term
    return math.sin(th) * s


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (``df`` > 200: the normal's)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df > 200 or math.isinf(df):
        return NormalDist().inv_cdf(p)
    nu = max(int(math.floor(df)), 1)
    if p < 0.5:
        return -t_ppf(1 - p, df)
    target = 2 * p - 1  # P(|T| < t)
    lo, hi = 0.0, 1.0
    while _a(hi, nu) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _a(mid, nu) < target else (lo, mid)
    return (lo + hi) / 2
