"""Options shared by several commands, defined once so their flag, default and help agree.

Stage CLIs (``servemark/<stage>/cli.py``) import these; nothing here imports a stage or the
root :mod:`servemark.cli`, so the import graph stays root -> stages -> this module.
"""

from __future__ import annotations

from pathlib import Path

import typer

from servemark import paths

DB_HELP = "Results store (DuckDB file). Default: $SERVEMARK_DB or ~/.cache/servemark/servemark.duckdb."

# `--db PATH`: the results store. One option object serves every command (typer copies it).
DB_OPTION = typer.Option(None, "--db", help=DB_HELP)


def db_option(help: str = DB_HELP) -> typer.models.OptionInfo:
    """``--db`` with a command-specific help line (e.g. ``dashboard serve``: only used with --build)."""
    return typer.Option(None, "--db", help=help)


def json_option(help: str = "Print JSON.") -> typer.models.OptionInfo:
    """``--json``: print machine-readable output instead of a table (the help says what is printed)."""
    return typer.Option(False, "--json", help=help)


def db_path(db: Path | None) -> Path:
    """The store a command uses: ``--db`` if given, else $SERVEMARK_DB or the default under home."""
    return db or paths.default_db()


def positive_finite(option: str, value: float) -> float:
    """``value`` when it is a finite number above zero, else a clear error naming ``option``.

    Typer parses ``nan``, ``inf`` and negatives as floats; an interactivity or a length of that kind
    is a typo that would otherwise print an empty or negative table and exit 0.
    """
    import math

    from servemark.errors import ServemarkError

    if not math.isfinite(value) or value <= 0:
        raise ServemarkError(f"{option} must be a finite number above 0, got {value!r}")
    return value


def gpu_counts(option: str, text: str) -> list[int] | None:
    """A comma-separated list of GPU counts (``1,2,8``), each a whole number of at least 1."""
    from servemark.errors import ServemarkError

    if not text.strip():
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1 or int(part) > 1_000_000:
            raise ServemarkError(f"{option}: {part!r} is not a GPU count (a whole number 1..1000000), in {text!r}")
        out.append(int(part))
    return out


def csv_option(help: str = "Print CSV.") -> typer.models.OptionInfo:
    """``--csv``: print CSV instead of a table (exclusive with ``--json``)."""
    return typer.Option(False, "--csv", help=help)


def one_format(as_json: bool, as_csv: bool) -> None:
    """``--json`` and ``--csv`` both given is a usage error (exit 2), never a silent pick."""
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv are exclusive: choose one", param_hint="--json/--csv")
