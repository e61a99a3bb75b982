"""Rendering analysis rows: rich tables for people, JSON and CSV for programs.

Every command builds plain rows (dicts) once and hands them here, so the table, ``--json`` and
``--csv`` always show the same numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from servemark.redact import printable

from servemark.numfmt import plain


@dataclass
class Col:
    key: str
    header: str
    spec: str = ""
    """``format`` spec for numbers (``.1f``); empty: ``str()``."""


def fmt(v: Any, spec: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float) or (spec and isinstance(v, int)):
        return plain(v, spec)
    return str(v)


def table(rows: Sequence[dict[str, Any]], cols: Sequence[Col], title: str = "") -> Table:
    """Cells and title are plain text (no rich markup) with control characters made visible:
    names come from imported files, which must not drive the terminal."""
    t = Table(title=Text(printable(title)), header_style="bold", title_justify="left")
    for c in cols:
        t.add_column(c.header, justify="right" if c.spec else "left")
    for r in rows:
        t.add_row(*(Text(printable(fmt(r.get(c.key), c.spec))) for c in cols))
    return t


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def to_json(data: Any) -> str:
    return json.dumps(_jsonable(data), indent=2, default=str)


def to_csv(rows: Sequence[dict[str, Any]], keys: Sequence[str] | None = None) -> str:
    if keys is None:
        keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(keys), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else printable(v) if isinstance(v, str) else v)
                    for k, v in r.items()})
    return buf.getvalue()


def emit(out: Console, rows: Sequence[dict[str, Any]], cols: Sequence[Col], title: str,
         as_json: bool, as_csv: bool, json_data: Any = None) -> None:
    """Print ``rows`` as a table, or JSON (``json_data`` if given), or CSV (both: a usage error)."""
    from servemark.cli_options import one_format

    one_format(as_json, as_csv)
    if as_json:
        print(to_json(rows if json_data is None else json_data))
    elif as_csv:
        print(to_csv(rows), end="")
    else:
        out.print(table(rows, cols, title))
