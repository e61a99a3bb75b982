"""Expansion of a recipe into points: layouts x prefix-cache setting x scenarios x loads.

The load (concurrencies, then request rates) varies fastest so one engine instance serves all
the points of a layout and prefix-cache setting (prefix caching is a server flag, so ``on`` and
``off`` scenarios need an instance each). A trace scenario is one point: the trace sets the load.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields

from servemark.recipe.schema import Layout, Recipe, Scenario


def recipe_hash(recipe: Recipe) -> str:
    """Content hash of what the served points measure; ``ceiling:`` is left out (it adds a
    measurement beside the points and changes none of them), so adding it keeps the identity."""
    blob = json.dumps(recipe.model_dump(mode="json", exclude={"ceiling"}), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class PlannedPoint:
    """One point to measure. It carries the recipe's own :class:`Layout` and :class:`Scenario`
    objects, so the sweep, the stored point and the SOL comparison read one typed layout."""

    index: int
    layout_index: int
    layout: Layout
    scenario: Scenario
    conc: int
    """Closed loop: requests (multi_turn: sessions) in flight; 0 for rate and trace points."""
    num_requests: int
    num_warmup: int
    rate: float | None = None
    """Open loop: mean arrivals per second."""
    prefix_cache: bool = False
    workload: str = "random"
    """The workload's identity key (kind and parameter hash; servemark.recipe.workload.workload_key)."""

    @property
    def engine_key(self) -> tuple[int, bool]:
        """Points with the same key share one engine instance."""
        return (self.layout_index, self.prefix_cache)

    @property
    def load_label(self) -> str:
        if self.rate is not None:
            return f"r={self.rate:g}/s"
        return f"c={self.conc}" if self.conc else "trace"

    @property
    def label(self) -> str:
        return f"L{self.layout_index} {self.scenario.label} {self.load_label}"

    def to_dict(self) -> dict:
        """Plain JSON-ready form (``plan.json``, ``servemark plan``)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "layout": self.layout.model_dump(), "scenario": self.scenario.model_dump(mode="json")}


def loads(recipe: Recipe, sc: Scenario) -> list[tuple[int, float | None]]:
    """(concurrency, rate) of each point of a scenario: concurrencies first, then rates."""
    if sc.workload.kind == "trace":
        return [(0, None)]
    return [(c, None) for c in recipe.concurrencies] + [(0, float(r)) for r in recipe.rates]


def planned_point(recipe: Recipe, index: int, li: int, sc: Scenario, conc: int, rate: float | None) -> PlannedPoint:
    """One point; request counts scale with the load (a rate counts as its ceiling in flight)."""
    wl = sc.workload
    if wl.kind == "multi_turn":
        n = wl.sessions * wl.turns
    elif wl.kind == "trace":
        n = 0  # the trace's length, known once it is read
    else:
        n = recipe.requests_per_point.count(conc or max(1, math.ceil(rate or 1)))
    return PlannedPoint(
        index=index, layout_index=li, layout=recipe.layouts[li], scenario=sc,
        conc=conc, num_requests=n, num_warmup=recipe.warmup.count(conc or max(1, math.ceil(rate or 1))),
        rate=rate, prefix_cache=sc.prefix_cache == "on", workload=sc.workload_key,
    )


def expand(recipe: Recipe) -> list[PlannedPoint]:
    out: list[PlannedPoint] = []
    for li in range(len(recipe.layouts)):
        for cache in ("off", "on"):
            for sc in recipe.scenarios:
                if sc.prefix_cache != cache:
                    continue
                for conc, rate in loads(recipe, sc):
                    out.append(planned_point(recipe, len(out), li, sc, conc, rate))
    return out
