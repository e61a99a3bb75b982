"""The servemark command line: one typer app, sub-apps per stage.

Each stage owns its commands in its own module (``servemark/<stage>/cli.py``) and is attached
here, so this file only wires. A :class:`~servemark.errors.ServemarkError` anywhere becomes a
one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from servemark import __version__
from servemark.errors import ServemarkError

err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="servemark",
    help="Benchmark LLM serving: start real engines, sweep concurrency, store every point, "
    "and turn them into throughput-vs-interactivity frontiers, cost, energy and speed of light.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"servemark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """servemark: LLM serving benchmarks you can trust."""


def _attach() -> None:
    # stage command modules register themselves on `app`; keep one line per stage
    from servemark import commands  # noqa: F401  (core: demo, run, engine, model, report)
    from servemark.calibration import cli as _calibration_cli  # noqa: F401  (calibrate)
    from servemark.analysis import cli as _analysis_cli  # noqa: F401  (frontier, cost, compare, history, import)
    from servemark.sol import cli as _sol_cli  # noqa: F401  (sol)
    from servemark.evals import cli as _evals_cli  # noqa: F401  (eval gsm8k|agreement)
    from servemark.report.dashboard import cli as _dashboard  # noqa: F401
    from servemark.engines import cli as _engines_cli  # noqa: F401  (plan)
    from servemark.models import cli as _models_cli  # noqa: F401  (model synth)
    from servemark.ceiling.cli import ceiling_app

    app.add_typer(ceiling_app)  # (ceiling)


def main() -> None:
    _attach()
    try:
        app()
    except ServemarkError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
