"""Which run a sweep writes to and which of its points are already measured.

A new run gets a fresh id. ``--resume [RUN]`` continues a run (the newest unfinished run of the
same recipe when no id is given) and ``run_id`` (what a Slurm job passes, so a requeued job
finds its own run) creates the run or continues it. Either way the recipe must hash to the run's
recipe: resuming with a changed recipe would mix two experiments in one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servemark.errors import ServemarkError
from servemark.recipe.schema import Recipe
from servemark.store import Store
from servemark.store.owner import owned_here_and_alive

LATEST = "latest"


@dataclass
class RunState:
    run_id: str
    row: dict[str, Any] | None = None
    """The stored run row when the run exists already."""
    done: set[str] = field(default_factory=set)
    """Point ids of this run already in the store."""


def resolve(store: Store, recipe: Recipe, rhash: str, new_id: str, resume: str | None = None,
            run_id: str | None = None) -> RunState:
    if resume:
        rid = _latest(store, recipe, rhash) if resume == LATEST else resume
        row = _row(store, rid)
        if row is None:
            raise ServemarkError(f"--resume: no run {rid!r} in {store.path}")
        if row.get("status") == "running" and owned_here_and_alive(row.get("owner")):
            raise ServemarkError(f"--resume: run {rid} is still being measured (owner {row.get('owner')}); "
                                 "two sweeps must not write one run")
    else:
        rid = run_id or new_id
        row = _row(store, rid)
    if row is not None and row.get("recipe_hash") != rhash:
        raise ServemarkError(
            f"run {rid} was made from another recipe (hash {row.get('recipe_hash')}, this one {rhash}); "
            "start a new run instead of resuming it"
        )
    done = {r["point_id"] for r in store.query("SELECT point_id FROM points WHERE run_id = ?", [rid])} if row else set()
    return RunState(rid, row, done)


def _row(store: Store, rid: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM runs WHERE run_id = ?", [rid])
    return rows[0] if rows else None


def _latest(store: Store, recipe: Recipe, rhash: str) -> str:
    rows = store.query(
        "SELECT run_id FROM runs WHERE kind = 'sweep' AND name = ? AND recipe_hash = ? AND status <> 'done' "
        "ORDER BY started_at DESC LIMIT 1", [recipe.name, rhash])
    if not rows:
        raise ServemarkError(f"--resume: no unfinished run of recipe {recipe.name!r} (hash {rhash}) in {store.path}")
    return rows[0]["run_id"]
