"""``servemark report``: stored runs as a terminal table and one HTML report.

:func:`print_and_write` is also what ``servemark run`` and ``servemark demo`` call at the end of
a sweep, so a fresh run and a later ``report`` of it look the same.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from servemark import paths
from servemark.cli_options import DB_OPTION, db_path, json_option
from servemark.errors import ServemarkError
from servemark.point import Point

out = Console(width=None if Console().is_terminal else 160)

app = typer.Typer()


def print_and_write(points: list[Point], title: str, html_path: Path, trials: dict[str, list[Point]] | None = None) -> Path:
    """Print the points' table (frontier points marked) and write the HTML report with error bars
    and each series' frontier band (bootstrap over ``trials``, or the points' own intervals); its path."""
    from servemark.analysis.frontier import frontiers
    from servemark.analysis.uncertainty import band
    from servemark.report import html, table

    fids = {p.point_id for f in frontiers(points) for p in f.points}
    out.print(table.points_table(points, fids, title=title))
    if table.has_levels(points):
        out.print(table.levels_table(points))
    series: dict[str, list[Point]] = {}
    for p in points:
        series.setdefault(html.series_key(p), []).append(p)
    bands = {k: band(v, trials or {}) for k, v in series.items()}
    sub = f"{len(points)} points; frontier of tok/s/GPU (input+output) vs median tok/s/user per model x engine x hardware x precision"
    return html.write(html_path, points, fids, title, sub, bands)


def finish(points: list[Point], title: str, html_path: Path, as_json: bool = False,
           trials: dict[str, list[Point]] | None = None) -> None:
    """The end of a run: the table (or the points as JSON on stdout) and the HTML report's path."""
    if as_json:
        from servemark.analysis.frontier import frontiers
        from servemark.analysis.output import to_json
        from servemark.report import html

        fids = {p.point_id for f in frontiers(points) for p in f.points}
        path = html.write(html_path, points, fids, title)
        print(to_json([p.to_dict() for p in points]))
        Console(stderr=True).print(f"report: {path}")
        return
    out.print(f"report: {print_and_write(points, title, html_path, trials)}")


@app.command()
def report(
    run_ids: list[str] = typer.Argument(None, help="Runs to report together (default: the latest run with points)."),
    db: Path = DB_OPTION,
    html_out: Path = typer.Option(None, "--html", help="Write the HTML report here."),
    as_json: bool = json_option("Print the points as JSON instead of the table (no HTML written)."),
) -> None:
    """Print stored runs' table and write one HTML report; several runs (e.g. two engines) side by side."""
    from servemark.store import Store

    with Store(db_path(db), read_only=True) as store:
        if not run_ids:
            # the latest measured run that has points: a failed run with none is skipped, not an error
            rows = store.query("SELECT r.run_id FROM runs r WHERE r.kind IN ('sweep', 'external') AND EXISTS "
                               "(SELECT 1 FROM points p WHERE p.run_id = r.run_id) ORDER BY r.started_at DESC LIMIT 1")
            if not rows:
                raise ServemarkError(f"no sweep or bench run with points in {db_path(db)}")
            run_ids = [rows[0]["run_id"]]
        points = []
        for rid in run_ids:
            got = store.points("run_id = ?", [rid])
            if not got:
                raise ServemarkError(f"no points for run {rid!r} in {db_path(db)}")
            points += got
        trials = store.trials_of(p.point_id for p in points)
    if as_json:
        from servemark.analysis.output import to_json

        print(to_json([p.to_dict() for p in points]))
        return
    name = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)} runs"
    default = paths.default_runs_dir() / (run_ids[0] if len(run_ids) == 1 else "compare-" + "-".join(r[-4:] for r in run_ids))
    path = print_and_write(points, f"servemark report: {name}", html_out or default / "report.html", trials)
    out.print(f"report: {path}")
