"""``servemark ceiling RECIPE``: measure only the engine ceiling of a recipe, as a run of its own.

The ceiling stage (:mod:`servemark.ceiling`) renders, runs and parses the engine's offline benchmark
for one layout; this module does what a sweep does around it: resolve the engine's paths, record a
run row (kind ``ceiling``; done, failed or interrupted), and store each command's rows as it
finishes. The sweep calls the same :func:`servemark.ceiling.run.measure_layout` after a layout's
served points when the recipe has ``ceiling:``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from servemark.ceiling import store as cstore
from servemark.ceiling.render import check_supported
from servemark.ceiling.row import CeilingRow
from servemark.ceiling.run import measure_layout
from servemark.errors import ServemarkError
from servemark.executors.runtime import resolve_runtime
from servemark.recipe.expand import recipe_hash
from servemark.recipe.schema import CeilingSpec, Recipe
from servemark.store import Store
from servemark.sweep.provenance import host_info
from servemark.sweep.recipe_run import new_run_id


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_ceiling(recipe: Recipe, db: Path, runs_dir: Path, console: Console | None = None,
                spec: CeilingSpec | None = None) -> tuple[str, list[CeilingRow]]:
    """``servemark ceiling RECIPE``: every layout's ceiling, stored as measured; a run row of kind
    ``ceiling`` records the attempt (done, failed or interrupted) like a sweep's."""
    console = console or Console(stderr=True)
    spec = spec or recipe.ceiling or CeilingSpec()
    for li, lay in enumerate(recipe.layouts):  # every layout renders before anything runs
        try:
            check_supported(recipe, lay)
        except ValueError as exc:
            raise ServemarkError(f"ceiling: layouts.{li}: {exc}") from None
    rt = resolve_runtime(recipe)
    run_id = new_run_id(recipe) + "-ceiling"
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    run_row = {"run_id": run_id, "name": recipe.name, "kind": "ceiling", "started_at": _now(), "status": "running",
               "run_dir": str(run_dir), "recipe_hash": recipe_hash(recipe),
               "recipe": json.dumps(recipe.model_dump(mode="json")), "engine": recipe.engine.name,
               "engine_version": rt.engine_version, **host_info()}
    with Store(db) as st:
        st.upsert_run(run_row)
    console.print(f"ceiling run [bold]{run_id}[/] -> {run_dir}")
    rows: list[CeilingRow] = []

    def store_rows(new: list[CeilingRow]) -> None:
        with Store(db) as st:
            cstore.write(st, new)

    status = "failed"
    try:
        for li, lay in enumerate(recipe.layouts):
            rows += measure_layout(recipe, li, lay, rt, run_id, run_dir, store_rows, console, spec)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        run_row.update(status=status, finished_at=_now())
        with Store(db) as st:
            st.upsert_run(run_row)
    return run_id, rows
