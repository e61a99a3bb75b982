"""SLO search: the highest request rate (or concurrency) whose point meets the recipe's SLO.

Bisection between a load that meets the SLO and one that misses it: probe ``low`` and ``high``
first, then the middle (geometric for rates, since latency grows with load roughly by ratios;
integer midpoint for concurrency) until the bracket is within ``tolerance``. Every probe is a real
point, measured and stored like any other (``extra.slo_search`` says which search and probe it
was), and the number of probes is printed with the answer. Monotonicity is assumed: a load above
one that missed the SLO is not probed.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from rich.console import Console

from servemark.point import Point
from servemark.recipe.expand import PlannedPoint, planned_point
from servemark.recipe.schema import Recipe, Scenario


def slo_search(recipe: Recipe, sc: Scenario, li: int, measure: Callable[[PlannedPoint, dict[str, Any]], Point],
               next_index: list[int], console: Console) -> dict:
    """Run the search for one scenario on the running engine; returns the outcome (also printed)."""
    s = recipe.slo_search
    assert s is not None and recipe.slo is not None
    by_rate = s.over == "rate"
    probes: list[tuple[float, bool]] = []

    def probe(load: float) -> bool:
        conc, rate = (0, float(load)) if by_rate else (int(load), None)
        pp = planned_point(recipe, next_index[0], li, sc, conc, rate)
        next_index[0] += 1
        pt = measure(pp, {"slo_search": {"over": s.over, "probe": len(probes) + 1, "load": load}})
        ok = bool(pt.slo_met)
        probes.append((load, ok))
        return ok

    def narrow_enough(lo: float, hi: float) -> bool:
        return (hi - lo) <= 1 if not by_rate else (hi - lo) / lo < s.tolerance

    best: float | None = None
    if probe(s.low):
        best = s.low
        if probe(s.high):
            best = s.high
        else:
            lo, hi = s.low, s.high
            while not narrow_enough(lo, hi) and len(probes) < s.max_probes:
                mid = math.sqrt(lo * hi) if by_rate else float((int(lo) + int(hi)) // 2)
                if probe(mid):
                    lo = best = mid
                else:
                    hi = mid
    unit = "req/s" if by_rate else "in flight"
    where = f"{sc.label}: " if sc.label else ""
    if best is None:
        console.print(f"SLO search {where}even {s.low:g} {unit} misses the SLO ({len(probes)} probe(s))")
    else:
        console.print(f"SLO search {where}highest {s.over} meeting the SLO: [bold]{best:.4g}[/] {unit} "
                      f"({len(probes)} probes)")
    return {"best": best, "probes": probes}
