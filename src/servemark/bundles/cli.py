"""``servemark export bundle RUN --out FILE`` and ``servemark import bundle FILE...``.

Both are plain command functions the CLI root attaches to the ``export`` and ``import`` groups
(``export points`` lives with the other result exports in :mod:`servemark.results.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from servemark import paths

from servemark.cli_options import DB_OPTION as DB

out = Console()


def export_bundle_cmd(
    run_id: str = typer.Argument(..., help="Run to export."),
    out_file: Path = typer.Option(..., "--out", help="Bundle file to write (.tar.gz)."),
    db: Path = DB,
) -> None:
    """Write a run as one bundle: points (Parquet), request records, recipe, plan, logs, checksums."""
    from servemark.bundles import export_run

    m = export_run(db or paths.default_db(), run_id, out_file)
    out.print(f"{out_file}: run {run_id}, {m['points']} point(s), {len(m['files'])} file(s)")


def import_bundle_cmd(
    files: list[Path] = typer.Argument(..., help="Bundles written by `servemark export bundle` or a Slurm job."),
    db: Path = DB,
    runs_dir: Path = typer.Option(None, "--runs-dir", help="Where the runs' records and logs go."),
) -> None:
    """Merge bundles into the store: checksums verified first (a bad bundle is refused, nothing
    is written), points upserted by id (importing twice adds nothing)."""
    from servemark.bundles import import_bundles

    res = import_bundles(files, db or paths.default_db(), runs_dir or paths.default_runs_dir())
    out.print(f"{res.bundles} bundle(s): {res.points} point(s), [bold]{res.added} new[/], runs {', '.join(res.runs)}")
