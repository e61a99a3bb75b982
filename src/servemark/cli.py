"""The servemark command line: the composition root.

Each stage owns its commands in its own module (``servemark/<stage>/cli.py``) and exports a Typer
``app``; this file only assembles them, one line per stage, and turns a
:class:`~servemark.errors.ServemarkError` anywhere into a one-line message and a non-zero exit,
never a traceback. No stage imports this module (``tests/test_import_graph.py`` checks it), so a
stage's commands can be tested on their own app. Options several stages share (``--db``,
``--json``) are defined once in :mod:`servemark.cli_options`.
"""

from __future__ import annotations

import signal
import sys

import typer
from rich.console import Console
from rich.markup import escape

from servemark import __version__
from servemark.analysis import cli as analysis_cli
from servemark.bundles import cli as bundles_cli
from servemark.calibration import cli as calibration_cli
from servemark.engine_envs import cli as engine_envs_cli
from servemark.errors import ServemarkError
from servemark.redact import printable, scrub
from servemark.evals import cli as evals_cli
from servemark.importers import cli as importers_cli
from servemark.models import cli as models_cli
from servemark.peers import cli as peers_cli
from servemark.report import cli as report_cli
from servemark.report.dashboard import cli as dashboard_cli
from servemark.results import cli as results_cli
from servemark.sol import cli as sol_cli
from servemark.sweep import cli as sweep_cli
from servemark.sweep import plan as sweep_plan
from servemark.sweep import slurm_cli

err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="servemark",
    help="Benchmark LLM serving: start real engines, sweep concurrency, store every point, "
    "and turn them into throughput-vs-interactivity frontiers, cost, energy and speed of light.",
    no_args_is_help=True,
    add_completion=True,
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


# top-level commands, in the order `servemark --help` lists them
app.add_typer(sweep_cli.app)  # run, bench, demo, ceiling
app.add_typer(report_cli.app)  # report
app.add_typer(calibration_cli.app)  # calibrate
app.add_typer(analysis_cli.app)  # frontier, cost, compare, history, gate
app.add_typer(sweep_plan.app)  # plan
app.add_typer(peers_cli.app)  # conformance
app.add_typer(sol_cli.gpu_data_app)  # gpu-data
app.add_typer(slurm_cli.app)  # submit, job-task
# command groups
app.add_typer(engine_envs_cli.app, name="engine")
app.add_typer(models_cli.app, name="model")
importers_cli.import_app.command("bundle")(bundles_cli.import_bundle_cmd)
app.add_typer(importers_cli.import_app, name="import")
app.add_typer(peers_cli.peer_app, name="peer")
app.add_typer(sol_cli.app, name="sol")
app.add_typer(evals_cli.app, name="eval")
app.add_typer(dashboard_cli.app, name="dashboard")
app.add_typer(results_cli.runs_app, name="runs")
results_cli.export_app.command("bundle")(bundles_cli.export_bundle_cmd)
app.add_typer(results_cli.export_app, name="export")  # export points, export bundle


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, ``timeout``, a CI cancel): handled exactly like Ctrl-C."""


_TERMINATED: list[int] = []


def _on_sigterm(signum: int, frame: object) -> None:
    _TERMINATED.append(signum)  # remembered: code on the way may re-raise a plain KeyboardInterrupt
    raise Terminated()


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except ServemarkError as exc:
        err_console.print(f"[bold red]error:[/] {escape(printable(scrub(str(exc)) or ''))}", highlight=False)
        sys.exit(exc.exit_code)
    except SystemExit as exc:  # Typer turns KeyboardInterrupt into exit 130 itself
        if exc.code == 130:
            err_console.print("[yellow]terminated[/]" if _TERMINATED else "[yellow]interrupted[/]")
            sys.exit(143 if _TERMINATED else 130)
        raise
    except KeyboardInterrupt:
        if _TERMINATED:
            err_console.print("[yellow]terminated[/]")
            sys.exit(143)
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
