"""Python objects -> Arrow tables with exactly a table's columns, the shape every store write takes.

All writes go through :meth:`servemark.store.Store.upsert_table` as whole Arrow tables: one point
from a sweep or a million from an import or a benchmark take the same path (``executemany`` cost
~10 ms a point; Arrow is a single DuckDB scan).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import pyarrow as pa

from servemark.fields import FIELDS, JSON_FIELDS
from servemark.point import POINT_FIELDS, Point

POINT_COLUMNS: dict[str, str] = {f.name: f.store_type for f in FIELDS}
"""The ``points`` table: one column per registry field (primary key ``point_id``)."""

POINT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS
                                  if isinstance(f.default, (str, bool, int, float))}
"""Scalar registry defaults: a column added to an existing store fills old rows with them."""

_ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}


_PY_CASTS = {"VARCHAR": str, "BIGINT": int, "DOUBLE": float, "BOOLEAN": bool}


def arrow_type(sql: str) -> pa.DataType:
    """Arrow type of a DuckDB column type as the store declares them (``BIGINT PRIMARY KEY`` -> int64)."""
    return _ARROW_TYPES[sql.split()[0]]


def column(values: list[Any], sql: str, name: str) -> pa.Array:
    """One typed Arrow column; values of another Python type are cast as DuckDB's inserts did
    (``1`` into VARCHAR is ``'1'``, ``True`` into BIGINT is ``1``), so no point is lost to a type."""
    try:
        return pa.array(values, type=arrow_type(sql))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        cast = _PY_CASTS[sql.split()[0]]
        try:
            return pa.array([None if v is None else cast(v) for v in values], type=arrow_type(sql))
        except (TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"column {name!r} ({sql}): cannot store {values[:3]!r}...: {exc}") from exc


def shallow_dict(p: Point) -> dict[str, Any]:
    """Like ``Point.to_dict`` without ``asdict``'s deep copy (ten times faster on thousands)."""
    return {f: getattr(p, f) for f in POINT_FIELDS}


def point_rows_table(points: Sequence[Point]) -> pa.Table:
    """An Arrow table with exactly the store's point columns (JSON fields serialised)."""
    cols: dict[str, list[Any]] = {c: [] for c in POINT_COLUMNS}
    for p in points:
        if not p.point_id:
            raise ValueError("a point needs a point_id before it is stored")
        d = shallow_dict(p)
        for c in POINT_COLUMNS:
            v = d[c]
            cols[c].append(json.dumps(v, sort_keys=True) if c in JSON_FIELDS else v)
    return pa.table({c: column(v, POINT_COLUMNS[c], c) for c, v in cols.items()})


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> pa.Table:
    """Dict rows -> an Arrow table of ``columns`` (name -> DuckDB type); absent keys are NULL."""
    return pa.table({c: column([r.get(c) for r in rows], t, c) for c, t in columns.items()})
