"""Expansion of a recipe into points: layouts x scenarios x loads (concurrencies, then rates).

The load varies fastest so one engine instance (one layout) serves all its points.
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
    num_requests: int
    num_warmup: int
    rate: float | None = None
    """Open loop: mean arrivals per second (``conc`` is then 0: no cap on requests in flight)."""

    @property
    def load_label(self) -> str:
        return f"r={self.rate:g}/s" if self.rate is not None else f"c={self.conc}"

    @property
    def label(self) -> str:
        return f"L{self.layout_index} {self.scenario.isl}/{self.scenario.osl} {self.load_label}"

    def to_dict(self) -> dict:
        """Plain JSON-ready form (``plan.json``, ``servemark plan``)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "layout": self.layout.model_dump(), "scenario": self.scenario.model_dump()}


def expand(recipe: Recipe) -> list[PlannedPoint]:
    out: list[PlannedPoint] = []
    for li, lay in enumerate(recipe.layouts):
        for sc in recipe.scenarios:
            for conc, rate in loads(recipe):
                in_flight = conc or max(1, math.ceil(rate or 1))  # a rate counts as its ceiling in flight
                out.append(
                    PlannedPoint(
                        index=len(out),
                        layout_index=li,
                        layout=lay,
                        scenario=sc,
                        conc=conc,
                        num_requests=recipe.requests_per_point.count(in_flight),
                        num_warmup=recipe.warmup.count(in_flight),
                        rate=rate,
                    )
                )
    return out


def loads(recipe: Recipe) -> list[tuple[int, float | None]]:
    """(concurrency, rate) of each point of a scenario: concurrencies first, then rates."""
    return [(c, None) for c in recipe.concurrencies] + [(0, float(r)) for r in recipe.rates]
