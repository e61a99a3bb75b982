"""``servemark runs list|show|rm`` and ``servemark export points``: results out of the store.

Thin: the selections are :mod:`servemark.results.select`, shared with the Python API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from servemark.analysis.output import Col, emit, to_json
from servemark.cli_options import DB_OPTION, csv_option, db_path, json_option

out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)

runs_app = typer.Typer(help="Stored runs: list, show, remove.", no_args_is_help=True)
export_app = typer.Typer(help="Results out of the store as files.", no_args_is_help=True)

RUN_COLS = [Col("run_id", "run"), Col("name", "name"), Col("kind", "kind"), Col("status", "status"),
            Col("started_at", "started"), Col("engine", "engine"), Col("points", "points", "d")]


@runs_app.command("list")
def runs_list(
    kind: Optional[str] = typer.Option(None, "--kind", help="Only runs of this kind: sweep, external, import, ..."),
    db: Path = DB_OPTION,
    as_json: bool = json_option("Print the runs as JSON."),
    as_csv: bool = csv_option(),
) -> None:
    """Runs in the store with their point counts, newest first."""
    from servemark.results.select import run_rows
    from servemark.store import Store

    with Store(db_path(db), read_only=True) as store:
        rows = run_rows(store, kind)
    emit(out, rows, RUN_COLS, f"{len(rows)} run(s) in {db_path(db)}", as_json, as_csv)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="Run id (see `servemark runs list`)."),
    db: Path = DB_OPTION,
    as_json: bool = json_option("Print the run row and its points as JSON."),
) -> None:
    """One run: its row (status, engine, host, recipe) and its points' table."""
    from servemark.analysis.frontier import frontiers
    from servemark.report import table
    from servemark.results.select import run_detail
    from servemark.store import Store

    with Store(db_path(db), read_only=True) as store:
        row = run_detail(store, run_id)
        points = store.points("run_id = ?", [run_id])
    if as_json:
        print(to_json({"run": row, "points": [p.to_dict() for p in points]}))
        return
    for key in ("run_id", "name", "kind", "status", "started_at", "finished_at", "engine", "engine_version", "host", "run_dir"):
        out.print(f"{key:>15}: {row.get(key) or '-'}")
    if points:
        fids = {p.point_id for f in frontiers(points) for p in f.points}
        out.print(table.points_table(points, fids, title=f"{len(points)} point(s)"))
    else:
        out.print("no points")


@runs_app.command("rm")
def runs_rm(
    run_ids: list[str] = typer.Argument(..., help="Runs to remove (their points too)."),
    db: Path = DB_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Remove runs and their points from the store (run folders on disk are left alone)."""
    from servemark.results.select import run_detail
    from servemark.store import Store

    with Store(db_path(db)) as store:
        for rid in run_ids:
            run_detail(store, rid)  # every id must exist before anything is removed
        if not yes and not typer.confirm(f"remove {len(run_ids)} run(s) and their points from {db_path(db)}?"):
            raise typer.Exit(1)
        for rid in run_ids:
            n = store.delete_run(rid)
            err.print(f"removed run {rid} ({n} point(s))")


@export_app.command("points")
def export_points(
    out_file: Path = typer.Option(..., "--out", help="File to write."),
    fmt: str = typer.Option(None, "--format", help="parquet, csv or json (default: from the --out suffix)."),
    run: list[str] = typer.Option(None, "--run", help="Only these runs (repeatable)."),
    model: list[str] = typer.Option(None, "--model", help="Only these models (repeatable)."),
    engine: list[str] = typer.Option(None, "--engine", help="Only these engines (repeatable)."),
    hardware: list[str] = typer.Option(None, "--hardware", help="Only this hardware (repeatable)."),
    precision: list[str] = typer.Option(None, "--precision", help="Only these precisions (repeatable)."),
    scenario: list[str] = typer.Option(None, "--scenario", help="Only these scenarios, e.g. 1024/128 (repeatable)."),
    db: Path = DB_OPTION,
) -> None:
    """Stored points as Parquet, CSV or JSON, one column per point field (docs/metrics.md)."""
    from servemark.results.select import FORMATS, PointFilter, points_table, write_table
    from servemark.store import Store

    fmt = fmt or out_file.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}, got {fmt!r}", param_hint="--format")
    flt = PointFilter(runs=run or [], models=model or [], engines=engine or [], hardware=hardware or [],
                      precisions=precision or [], scenarios=scenario or [])
    with Store(db_path(db), read_only=True) as store:
        table = points_table(store, flt)
    write_table(table, out_file, fmt)
    err.print(f"{out_file}: {table.num_rows} point(s), {table.num_columns} columns ({fmt})")
