"""The Python API: servemark from a notebook or a script, without the command line.

Small on purpose; each function is the CLI's own code path with plain arguments::

    import servemark.api as sm

    store = sm.open_store()                      # $SERVEMARK_DB or the default store
    table = sm.points(store, models=["gemma-3-270m"])   # pyarrow.Table, one column per field
    df = sm.points_df(store)                     # pandas (or polars=True) when installed
    res = sm.bench("http://127.0.0.1:8000", isl=512, osl=128, concurrency=[1, 4, 16])
    res = sm.run_recipe("recipes/my.yaml")

Points are the stored fields of docs/metrics.md. Writes go through :class:`servemark.store.Store`
(``store.add_points``), the same path as sweeps and imports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from servemark import paths
from servemark.point import Point
from servemark.recipe.schema import Recipe
from servemark.results.select import PointFilter, points_table
from servemark.store import Store
from servemark.sweep.recipe_run import SweepOptions, SweepResult

__all__ = ["open_store", "points", "points_df", "point_objects", "run_recipe", "bench", "Point", "Store"]

API_KEY_ENV = "SERVEMARK_API_KEY"


def open_store(path: str | Path | None = None, read_only: bool = False) -> Store:
    """The results store (``$SERVEMARK_DB`` or the default under ``~/.cache/servemark``).

    Use it as a context manager or call ``close()``; DuckDB allows one writing process at a time.
    """
    return Store(Path(path) if path else paths.default_db(), read_only=read_only)


def _filter(runs: list[str] | None, models: list[str] | None, engines: list[str] | None,
            hardware: list[str] | None, precisions: list[str] | None, scenarios: list[str] | None) -> PointFilter:
    return PointFilter(runs=list(runs or []), models=list(models or []), engines=list(engines or []),
                       hardware=list(hardware or []), precisions=list(precisions or []), scenarios=list(scenarios or []))


def points(store: Store, *, runs: list[str] | None = None, models: list[str] | None = None,
           engines: list[str] | None = None, hardware: list[str] | None = None,
           precisions: list[str] | None = None, scenarios: list[str] | None = None) -> pa.Table:
    """Stored points as an Arrow table; each filter matches any of its values (``export points`` uses it)."""
    return points_table(store, _filter(runs, models, engines, hardware, precisions, scenarios))


def points_df(store: Store, *, polars: bool = False, **filters: Any) -> Any:
    """Stored points as a pandas DataFrame, or a polars one with ``polars=True`` (whichever is installed)."""
    table = points(store, **filters)
    try:
        if polars:
            import polars as pl

            return pl.from_arrow(table)
        return table.to_pandas()
    except ImportError as exc:
        raise ImportError(f"points_df needs {'polars' if polars else 'pandas'} installed ({exc}); "
                          "points() returns the Arrow table without it") from None


def point_objects(store: Store, **filters: Any) -> list[Point]:
    """Stored points as :class:`~servemark.point.Point` objects (what the analysis functions take)."""
    where, params = _filter(**{k: filters.get(k) for k in
                               ("runs", "models", "engines", "hardware", "precisions", "scenarios")}).where()
    return store.points(where, params)


def _options(db: str | Path | None, runs_dir: str | Path | None, endpoint: str | None, kind: str,
             workers: int) -> SweepOptions:
    return SweepOptions(db=Path(db) if db else paths.default_db(),
                        runs_dir=Path(runs_dir) if runs_dir else paths.default_runs_dir(),
                        api_key=os.environ.get(API_KEY_ENV), workers=workers, endpoint=endpoint, kind=kind)


def run_recipe(recipe: str | Path | Recipe | dict[str, Any], *, endpoint: str | None = None,
               db: str | Path | None = None, runs_dir: str | Path | None = None, workers: int = 1) -> SweepResult:
    """Run a recipe (a file, a dict or a :class:`Recipe`) as ``servemark run`` does; its points."""
    from servemark.engines.check import load_recipe, parse_recipe
    from servemark.sweep import recipe_run

    if isinstance(recipe, dict):
        recipe = parse_recipe(recipe, "<dict>")
    elif not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    return recipe_run.run_recipe(recipe, _options(db, runs_dir, endpoint, "sweep", workers))


def bench(url: str, *, model: str | None = None, tokenizer: str | None = None, isl: int = 1024, osl: int = 128,
          concurrency: list[int] | None = None, rates: list[float] | None = None, num_prompts: int | None = None,
          api: str = "completions", db: str | Path | None = None, runs_dir: str | Path | None = None,
          **flags: Any) -> SweepResult:
    """Benchmark a running server as ``servemark bench URL`` does (run kind ``external``).

    Further keywords are :class:`servemark.sweep.bench.BenchFlags` fields (``hardware``, ``gpus``, ...).
    """
    from servemark.sweep import recipe_run
    from servemark.sweep.bench import BenchFlags, bench_recipe, pick_model

    bf = BenchFlags(url=url, model=model, tokenizer=tokenizer, isl=isl, osl=osl, concurrency=list(concurrency or []),
                    rates=list(rates or []), num_prompts=num_prompts, api=api, **flags)
    recipe = bench_recipe(bf, pick_model(url, model, os.environ.get(API_KEY_ENV)))
    return recipe_run.run_recipe(recipe, _options(db, runs_dir, url, "external", 1))
