"""Expansion of a recipe into points: layouts x scenarios x concurrencies, in that order.

Concurrency varies fastest so one engine instance (one layout) serves all its points.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

from servemark.recipe.schema import Layout, Recipe, Scenario


def recipe_hash(recipe: Recipe) -> str:
    blob = json.dumps(recipe.model_dump(mode="json"), sort_keys=True).encode()
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

    @property
    def label(self) -> str:
        return f"L{self.layout_index} {self.scenario.isl}/{self.scenario.osl} c={self.conc}"

    def to_dict(self) -> dict:
        """Plain JSON-ready form (``plan.json``, ``servemark plan``)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "layout": self.layout.model_dump(), "scenario": self.scenario.model_dump()}


def expand(recipe: Recipe) -> list[PlannedPoint]:
    out: list[PlannedPoint] = []
    for li, lay in enumerate(recipe.layouts):
        for sc in recipe.scenarios:
            for conc in recipe.concurrencies:
                out.append(
                    PlannedPoint(
                        index=len(out),
                        layout_index=li,
                        layout=lay,
                        scenario=sc,
                        conc=conc,
                        num_requests=recipe.requests_per_point.count(conc),
                        num_warmup=recipe.warmup.count(conc),
                    )
                )
    return out
