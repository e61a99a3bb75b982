"""``servemark dashboard build`` and ``servemark dashboard serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from servemark.cli_options import DB_OPTION, db_option
from servemark.paths import default_db, home

app = typer.Typer(help="Build the dashboard (a static site that works offline) and serve it.", no_args_is_help=True)


def _default_out() -> Path:
    return home() / "dashboard"


@app.command("build")
def build_cmd(
    db: Optional[Path] = DB_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: $SERVEMARK_HOME/dashboard)."),
) -> None:
    """Write the dashboard for every point in the store: open OUT/index.html or `servemark dashboard serve`."""
    from servemark.report.dashboard.build import build_site

    r = build_site(db or default_db(), out or _default_out())
    typer.echo(f"built {r.out_dir}/index.html: {r.points} points, {r.data_bytes / 1e6:.1f} MB of data, {r.seconds:.2f} s")


@app.command("serve")
def serve_cmd(
    site: Optional[Path] = typer.Option(None, "--dir", help="A built dashboard folder (default: $SERVEMARK_HOME/dashboard)."),
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0 = any free port)."),
    build: bool = typer.Option(False, "--build", help="Build first from --db."),
    db: Optional[Path] = db_option("Results store, with --build."),
    seconds: Optional[float] = typer.Option(None, "--for", help="Stop after this many seconds (default: until Ctrl-C)."),
) -> None:
    """Serve the dashboard on localhost and print its URL."""
    from servemark.report.dashboard.build import build_site
    from servemark.report.dashboard.serve import serve

    folder = site or _default_out()
    if build:
        build_site(db or default_db(), folder)
    serve(folder, port=port, seconds=seconds, announce=lambda url: typer.echo(f"dashboard at {url}  (Ctrl-C stops)", err=False))
