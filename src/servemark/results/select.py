"""Selecting stored points and runs with plain filters: one place builds the SQL for the CLI
(``runs``, ``export points``) and the Python API (:mod:`servemark.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from servemark.errors import ServemarkError
from servemark.store import Store

FORMATS = ("parquet", "csv", "json")


@dataclass
class PointFilter:
    """Point filters; each given list matches any of its values, all given filters must match."""

    runs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    hardware: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    def where(self) -> tuple[str, list[Any]]:
        parts, params = [], []
        for column, values in (("run_id", self.runs), ("model", self.models), ("engine", self.engines),
                               ("hardware", self.hardware), ("precision", self.precisions), ("scenario", self.scenarios)):
            if values:
                parts.append(f'"{column}" IN (SELECT unnest(?))')
                params.append(list(values))
        return " AND ".join(parts), params


def points_table(store: Store, flt: PointFilter | None = None) -> pa.Table:
    """The selected points as an Arrow table, one column per stored field."""
    where, params = (flt or PointFilter()).where()
    sql = "SELECT * FROM points" + (f" WHERE {where}" if where else "") + " ORDER BY run_id, point_id"
    return store.arrow(sql, params)


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs, maps) as JSON text: CSV has no nested values."""
    import json

    cols = []
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_nested(col.type):
            col = pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write ``table`` as Parquet, CSV or JSON (an array of row objects)."""
    import json

    if fmt not in FORMATS:
        raise ServemarkError(f"--format: one of {', '.join(FORMATS)}, got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(_flat(table), path)
    else:
        path.write_text(json.dumps(table.to_pylist(), indent=1, default=str))


def run_rows(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Runs with their point counts, newest first."""
    sql = ("SELECT r.run_id, r.name, r.kind, r.status, r.started_at, r.engine, r.host, count(p.point_id) AS points "
           "FROM runs r LEFT JOIN points p ON p.run_id = r.run_id" + (" WHERE r.kind = ?" if kind else "")
           + " GROUP BY ALL ORDER BY r.started_at DESC NULLS LAST, r.run_id")
    return store.query(sql, [kind] if kind else [])


def run_detail(store: Store, run_id: str) -> dict[str, Any]:
    rows = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        raise ServemarkError(f"no run {run_id!r} in {store.path}")
    return rows[0]
