"""The identity of a point: what makes two measurements the same planned measurement.

Identity = recipe content hash + model + engine + layout + scenario (ISL/OSL and whatever else
the scenario holds) + workload (kind and parameter hash, prefix cache on or off) + load
(concurrency, or the request rate of an open-loop point) + trial index (+ the probe number of an
SLO-search probe, which is not a planned point). Resume and frontiers therefore never mix two
workloads or two loads. Resume, bundles and import
de-duplication all key on it, so it is one function: extend :func:`identity` when a point gains
a dimension, and every user follows.

Trials: trial ``t`` of a point is measured under the key of ``trial=t`` and stored in the
``trials`` table; the point itself (the summary of its trials, in ``points``) keeps the key of
trial 0, so a one-trial point has the id it always had and its single trial row shares it.

A point's id is ``<run id>-<key>``: stable for one run (a requeued Slurm job or ``--resume``
computes the same ids and measures only what is missing) while two runs of the same recipe stay
two sets of measurements.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from servemark.recipe.expand import PlannedPoint, recipe_hash
from servemark.recipe.schema import Recipe

KEY_CHARS = 12


def identity(recipe: Recipe, pp: PlannedPoint, trial: int = 0, rhash: str | None = None,
             probe: int | None = None) -> dict[str, Any]:
    """The fields that name one planned measurement, as a plain dict (also kept for provenance)."""
    eng = recipe.engine.name + (f"-{recipe.engine.build}" if recipe.engine.build else "")
    plain = pp.to_dict()  # layout and scenario as plain JSON values
    ident = {
        "recipe_hash": rhash or recipe_hash(recipe),
        "model": recipe.model.name,
        "engine": eng,
        "layout": plain["layout"],
        "scenario": plain["scenario"],
        "workload": {"key": pp.workload, "prefix_cache": pp.prefix_cache},
        "load": {"conc": pp.conc, "rate": pp.rate},
        "trial": trial,
    }
    if probe is not None:
        ident["slo_probe"] = probe
    return ident


def point_key(recipe: Recipe, pp: PlannedPoint, trial: int = 0, rhash: str | None = None,
              probe: int | None = None) -> str:
    blob = json.dumps(identity(recipe, pp, trial, rhash, probe), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:KEY_CHARS]


def point_id(run_id: str, key: str) -> str:
    return f"{run_id}-{key}"


def planned_ids(recipe: Recipe, planned: list[PlannedPoint], run_id: str) -> dict[int, str]:
    """Planned point index -> its point id in run ``run_id``."""
    rhash = recipe_hash(recipe)
    return {pp.index: point_id(run_id, point_key(recipe, pp, rhash=rhash)) for pp in planned}
