"""``servemark submit RECIPE... [--array]`` and the job's own entry point ``servemark job-task``."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from servemark import paths
from servemark.errors import ServemarkError

console = Console(stderr=True, soft_wrap=True)
app = typer.Typer()


@app.command()
def submit(
    recipes: list[Path] = typer.Argument(..., help="Recipe YAML files with executor.kind: slurm."),
    array: bool = typer.Option(False, "--array", help="One job array, a task per recipe x layout (one engine start each)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Array tasks running at once (%N); default executor.slurm.array_limit."),
    detach: bool = typer.Option(False, "--detach", help="Submit and return; later `servemark import bundle RUNS/<run>/bundle*.tar.gz`."),
    db: Path = typer.Option(None, "--db", help="Results store the points are merged into. Default: $SERVEMARK_DB or ~/.cache/servemark/servemark.duckdb."),
    runs_dir: Path = typer.Option(None, "--runs-dir", help="Run folders; must be on storage the cluster's nodes share."),
) -> None:
    """Fan recipes out over a Slurm cluster, follow the job(s), merge every point into the store.

    Without --array each recipe is one job (all its layouts, one after the other). Ctrl-C cancels
    the jobs (scancel) and keeps what they measured.
    """
    from servemark.sweep.slurm_job import run_job, write_job
    from servemark.engines.check import load_recipe
    from servemark.sweep.recipe_run import new_run_id

    loaded = [load_recipe(r) for r in recipes]
    for path, r in zip(recipes, loaded):
        if r.executor.kind != "slurm":
            raise ServemarkError(f"{path}: executor.kind: submit needs kind slurm, got {r.executor.kind}")
        if limit and r.executor.slurm:
            r.executor.slurm.array_limit = limit
    rdir, store = runs_dir or paths.default_runs_dir(), db or paths.default_db()
    dirs = [Path(r).resolve().parent for r in recipes]
    groups = [list(zip(loaded, dirs))] if array else [[(r, d)] for r, d in zip(loaded, dirs)]
    total = 0
    for pairs in groups:
        group = [r for r, _ in pairs]
        job = write_job(group, rdir, [new_run_id(r) for r in group], array=array,
                        recipe_dirs=[d for _, d in pairs])
        by_run = run_job(job, store, rdir, console, detach=detach)
        total += sum(len(v) for v in by_run.values())
        for rid, pts in by_run.items():
            typer.echo(f"{rid}: {len(pts)} point(s)")
    if not detach:
        typer.echo(f"{total} point(s) in {store}")


@app.command("job-task", hidden=True)
def job_task(
    job_dir: Path = typer.Argument(..., help="The job folder servemark wrote (tasks.json)."),
    index: int = typer.Argument(0, help="Task index (the array task id)."),
) -> None:
    """Inside a Slurm allocation: run one task of a job servemark submitted (its batch script calls this)."""
    from servemark.executors.placement import IN_JOB_ENV
    from servemark.sweep.slurm_job import run_task

    if os.environ.get(IN_JOB_ENV) != "1" or not os.environ.get("SLURM_JOB_ID"):
        raise ServemarkError("job-task runs inside the Slurm job servemark submitted, not by hand")
    run_task(job_dir, index, console)
