"""DuckDB store for runs and points.

The ``points`` table's columns are derived from the :class:`~servemark.point.Point` dataclass, and
missing columns are added on open, so a new field in the contract is a migration of one line
(``ALTER TABLE ADD COLUMN``) that runs by itself. Each point is written in its own transaction the
moment it completes: a sweep killed half-way keeps every point it finished.

``point_id`` is the primary key and writes are upserts, which is what makes imports idempotent:
an importer derives ``point_id`` from the source row, so importing the same file twice adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

import duckdb

from servemark.errors import ServemarkError
from servemark.point import Point

RUN_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR PRIMARY KEY",
    "name": "VARCHAR",
    "kind": "VARCHAR",  # sweep | import | eval | sol
    "started_at": "VARCHAR",
    "finished_at": "VARCHAR",
    "status": "VARCHAR",  # running | done | failed | interrupted
    "run_dir": "VARCHAR",
    "recipe_hash": "VARCHAR",
    "recipe": "VARCHAR",
    "servemark_version": "VARCHAR",
    "git_sha": "VARCHAR",
    "host": "VARCHAR",
    "cpu": "VARCHAR",
    "gpu_name": "VARCHAR",
    "gpu_driver": "VARCHAR",
    "engine": "VARCHAR",
    "engine_version": "VARCHAR",
    "source_file": "VARCHAR",
    "note": "VARCHAR",
}

JSON_FIELDS = ("flags", "extra")


def _sql_type(type_str: str) -> str:
    t = str(type_str)
    if t.startswith("list") or t.startswith("dict"):
        return "VARCHAR"
    if "bool" in t:
        return "BOOLEAN"
    if "int" in t:
        return "BIGINT"
    if "float" in t:
        return "DOUBLE"
    return "VARCHAR"


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


POINT_COLUMNS: dict[str, str] = {f.name: _sql_type(f.type) for f in fields(Point)}
POINT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Point)
                                  if isinstance(f.default, (str, bool, int, float)) and f.default is not None}
"""Scalar defaults of Point fields: a column added to an existing store is filled with them, so
old rows read as they would have been written (``workload`` = ``random``), not as NULL."""


class Store:
    """A handle on the results database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise ServemarkError(f"no results store at {self.path} (run a sweep or an import first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise ServemarkError(f"cannot open results store {self.path}: {exc}") from exc
        if not read_only:
            self._migrate()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # schema -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        self._ensure_table("runs", RUN_COLUMNS)
        cols = dict(POINT_COLUMNS)
        cols["point_id"] = "VARCHAR PRIMARY KEY"
        self._ensure_table("points", cols, POINT_DEFAULTS)

    def _ensure_table(self, name: str, columns: dict[str, str], defaults: dict[str, Any] | None = None) -> None:
        """Create ``name`` or add the columns it lacks (existing rows get ``defaults``); never
        drops or retypes data."""
        body = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({body})")
        have = {r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()}
        for c, t in columns.items():
            if c not in have:
                d = (defaults or {}).get(c)
                default = "" if d is None else f" DEFAULT {json.dumps(d) if not isinstance(d, str) else _sql_str(d)}"
                self.con.execute(f'ALTER TABLE {name} ADD COLUMN "{c}" {t.replace(" PRIMARY KEY", "")}{default}')

    def ensure_table(self, name: str, columns: dict[str, str]) -> None:
        """For other stages (SOL, evals) that keep their own tables in the same file."""
        self._ensure_table(name, columns)

    # runs ---------------------------------------------------------------------------------
    def upsert_run(self, run: dict[str, Any]) -> None:
        row = {k: run.get(k) for k in RUN_COLUMNS}
        self._upsert("runs", "run_id", row)

    def runs(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM runs ORDER BY started_at")

    # points -------------------------------------------------------------------------------
    def add_point(self, point: Point) -> None:
        """Write one point now, in its own transaction."""
        self.add_points([point])

    def add_points(self, points: Iterable[Point]) -> int:
        rows = [self._point_row(p) for p in points]
        if not rows:
            return 0
        cols = list(POINT_COLUMNS)
        placeholders = ", ".join("?" for _ in cols)
        names = ", ".join(f'"{c}"' for c in cols)
        self.con.execute("BEGIN")
        try:
            ids = [r["point_id"] for r in rows]
            self.con.execute("DELETE FROM points WHERE point_id IN (SELECT unnest(?))", [ids])
            self.con.executemany(
                f"INSERT INTO points ({names}) VALUES ({placeholders})",
                [[r[c] for c in cols] for r in rows],
            )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return len(rows)

    def has_point(self, point_id: str) -> bool:
        return bool(self.con.execute("SELECT 1 FROM points WHERE point_id = ?", [point_id]).fetchone())

    def points(self, where: str = "", params: list[Any] | None = None) -> list[Point]:
        sql = "SELECT * FROM points" + (f" WHERE {where}" if where else "") + " ORDER BY run_id, conc"
        return [Point.from_dict(r) for r in self.query(sql, params or [])]

    def count_points(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM points").fetchone()[0])

    # generic ------------------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _upsert(self, table: str, key: str, row: dict[str, Any]) -> None:
        cols = list(row)
        self.con.execute(f"DELETE FROM {table} WHERE {key} = ?", [row[key]])
        self.con.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )

    @staticmethod
    def _point_row(p: Point) -> dict[str, Any]:
        if not p.point_id:
            raise ValueError("a point needs a point_id before it is stored")
        row = p.to_dict()
        for k in JSON_FIELDS:
            row[k] = json.dumps(row[k], sort_keys=True)
        return row
