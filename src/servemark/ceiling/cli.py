"""``servemark ceiling RECIPE``: the engine ceiling (the engine's own offline benchmark) at the
recipe's batch sizes and lengths, stored beside the served points; ``--dry-run`` prints the
commands, ``--from FILE`` stores a saved benchmark output instead of running one.

After it, every served point of the same configuration shows served ÷ ceiling (and ceiling ÷ SOL
once ``servemark sol check`` ran) in ``servemark report``, the HTML report and the dashboard.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from servemark import paths
from servemark.errors import ServemarkError

ceiling_app = typer.Typer(help="The engine ceiling: each engine's own offline benchmark (docs/ceiling.md).")
console = Console(stderr=True, soft_wrap=True)
out = Console()


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


def _fmt(v: float | None, spec: str = ",.1f") -> str:
    return "-" if v is None else format(v, spec)


def ceiling_table(rows: list[dict], title: str) -> Table:
    """Ceiling per batch beside the served point of the same configuration (newest), with the ratio."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in ("engine", "layout", "ISL/OSL", "batch", "ceiling\ntok/s/GPU", "ceiling out\ntok/s/GPU",
              "ceiling\ntok/s/user", "served\ntok/s/GPU", "served\n÷ ceiling"):
        t.add_column(c, justify="left" if c in ("engine", "layout") else "right")
    for r in rows:
        lay = f"TP{r['tp']}" + (f" EP{r['ep']}" if r["ep"] > 1 else "") + (f" PP{r['pp']}" if r["pp"] > 1 else "")
        ratio = r["served"] / r["tput_per_gpu"] if r.get("served") and r["tput_per_gpu"] else None
        t.add_row(r["engine"], lay, f"{r['isl']}/{r['osl']}", str(r["batch"]), _fmt(r["tput_per_gpu"]),
                  _fmt(r["output_tput_per_gpu"]), _fmt(r["intvty"]), _fmt(r.get("served")), _fmt(ratio, ".2f"))
    return t


def _with_served(db: Path, rows: list) -> list[dict]:
    from servemark.ceiling.row import key_of
    from servemark.store import Store

    served: dict[tuple, float] = {}
    with Store(db, read_only=True) as st:
        for p in st.query("SELECT * FROM points WHERE tput_per_gpu IS NOT NULL ORDER BY started_at"):
            served[key_of(p)] = p["tput_per_gpu"]  # the newest point of a key wins
    return [{**r.to_dict(), "served": served.get(key_of(r.to_dict()))} for r in rows]


@ceiling_app.command("ceiling")
def ceiling(
    recipe: Path = typer.Argument(..., help="Recipe YAML (its `ceiling:` block is used when present)."),
    db: Path = typer.Option(None, "--db", help="Results store (DuckDB). Default: $SERVEMARK_DB or ~/.cache/servemark/servemark.duckdb."),
    runs_dir: Path = typer.Option(None, "--runs-dir", help="Where the run folder (commands' logs, result files) goes."),
    batches: str = typer.Option(None, "--batches", help="Batch sizes, e.g. 1,4,16 (default: ceiling.batches, else the recipe's concurrencies)."),
    from_file: Path = typer.Option(None, "--from", help="Store this saved benchmark output instead of running the benchmark."),
    layout: int = typer.Option(0, "--layout", help="With --from: the recipe layout the output was measured with."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands; run nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored rows (or, with --dry-run, the commands) as JSON."),
) -> None:
    """Measure (or import) the engine ceiling of a recipe and store it beside the served points."""
    from servemark.recipe import load_recipe
    from servemark.recipe.schema import CeilingSpec

    r = load_recipe(recipe)
    spec = (r.ceiling or CeilingSpec()).model_copy(update={"batches": _batches(batches) or (r.ceiling.batches if r.ceiling else None)})
    db = db or paths.default_db()
    if dry_run:
        _dry_run(r, spec, as_json)
        return
    if from_file is not None:
        from servemark.ceiling.run import import_output

        rows = import_output(r, from_file, db, layout, spec.batches)
        title = f"{r.name}: engine ceiling imported from {from_file}"
    else:
        from servemark.ceiling.run import run_ceiling

        _, rows = run_ceiling(r, db, runs_dir or paths.default_runs_dir(), console, spec)
        title = f"{r.name}: engine ceiling"
    if as_json:
        typer.echo(json.dumps([x.to_dict() for x in rows], indent=2, default=str))
        return
    out.print(ceiling_table(_with_served(db, rows), title))
    console.print(f"{len(rows)} ceiling row(s) stored in {db}")


def _dry_run(r, spec, as_json: bool) -> None:
    from types import SimpleNamespace

    from servemark.ceiling.run import commands_for
    from servemark.engines.cli import _model_path, _python

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
