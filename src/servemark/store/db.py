"""DuckDB store for runs, points and the tables of other stages: the only module that talks to DuckDB.

The ``points`` table's columns are derived from the field registry (:mod:`servemark.fields`), and
missing columns are added on open, so a new field in the contract is a migration of one line
(``ALTER TABLE ADD COLUMN``) that runs by itself. Each point is written in its own transaction the
moment it completes: a sweep killed half-way keeps every point it finished.

Every write is :meth:`Store.upsert_table` (an Arrow table, one transaction, replace-by-key), for
sweeps, imports, SOL and evals alike. ``point_id`` is the primary key, which is what makes imports
idempotent: an importer derives ``point_id`` from the source row, so importing the same file twice
adds nothing. Reads are :meth:`Store.query` (dict rows), :meth:`Store.fetchnumpy` (columns) and
:meth:`Store.iter_rows` (streamed); other stages never hold the DuckDB connection.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from servemark.errors import ServemarkError
from servemark.point import Point
from servemark.store.owner import owner_alive
from servemark.store.rows import POINT_COLUMNS, POINT_DEFAULTS, point_rows_table, rows_table

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
    "owner": "VARCHAR",  # <host>:<pid>:<start ticks> of the process writing a running run (store/owner.py)
}


LOCK_WAIT_ENV = "SERVEMARK_STORE_WAIT_S"
DEFAULT_LOCK_WAIT_S = 120.0
"""How long opening the store waits for another process's lock before giving up (bounded, reported)."""


def _sql_literal(v: str | bool | int | float) -> str:
    """A scalar default as SQL text (strings quoted, ``'`` doubled; booleans ``TRUE``/``FALSE``)."""
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    return repr(v)


class StoreLockedError(ServemarkError):
    """The store stayed locked by another process for longer than the wait bound."""


def _lock_wait_s() -> float:
    raw = os.environ.get(LOCK_WAIT_ENV)
    if raw is None:
        return DEFAULT_LOCK_WAIT_S
    try:
        val = float(raw)
    except ValueError:
        raise ServemarkError(f"${LOCK_WAIT_ENV}: not a number of seconds: {raw!r}") from None
    if not (0 <= val < 1e6):
        raise ServemarkError(f"${LOCK_WAIT_ENV}: must be between 0 and 1e6 seconds, got {raw!r}")
    return val


def _is_lock_conflict(exc: Exception) -> bool:
    return "Conflicting lock" in str(exc) or "Could not set lock" in str(exc)


def _holder(exc: Exception) -> str:
    m = re.search(r"\(PID (\d+)\)", str(exc))
    return f"PID {m.group(1)}" if m else "another process"


def connect_waiting(path: Path, read_only: bool, wait_s: float | None = None) -> Any:
    """Open the DuckDB file, waiting (with backoff) while another process holds its lock.

    DuckDB's file lock: one process may write, or any number may read (read-only), never both.
    A reader therefore briefly blocks a writer and the other way round; neither fails at once.
    The wait is bounded (``$SERVEMARK_STORE_WAIT_S``, default 120 s) and reported on stderr after
    the first second, so nobody stares at a silent hang.
    """
    wait = _lock_wait_s() if wait_s is None else wait_s
    t0 = time.monotonic()
    delay = 0.05
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise ServemarkError(f"cannot open results store {path}: {exc}") from None
            waited = time.monotonic() - t0
            if waited >= wait:
                raise StoreLockedError(
                    f"results store {path} stayed locked by {_holder(exc)} for {waited:.0f} s "
                    f"(${LOCK_WAIT_ENV} sets the wait)") from None
            if not told and waited >= 1.0:
                print(f"waiting for the results store {path} (locked by {_holder(exc)}, up to {wait:.0f} s)",
                      file=sys.stderr)
                told = True
            time.sleep(min(delay, max(wait - waited, 0.01)))
            delay = min(delay * 1.5, 1.0)


class Store:
    """A handle on the results database. Use as a context manager or call :meth:`close`.

    Opening waits for another process's lock (see :func:`connect_waiting`); hold a handle only as
    long as the work needs, so sweeps and readers take turns.
    """

    def __init__(self, path: str | Path, read_only: bool = False, wait_s: float | None = None):
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise ServemarkError(f"no results store at {self.path} (run a sweep or an import first)")
        if self.path.is_dir():
            raise ServemarkError(f"results store {self.path} is a folder, not a DuckDB file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect_waiting(self.path, read_only, wait_s)
        if not read_only:
            try:
                self._migrate()
            except BaseException:
                self.con.close()
                raise

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
        self._mark_orphaned_runs()
        self._ensure_table("trials", cols, POINT_DEFAULTS)  # one row per trial of a point (docs/metrics.md "Intervals")

    def _mark_orphaned_runs(self) -> None:
        """A ``running`` row whose owner process is gone reads ``interrupted`` (see store/owner.py)."""
        rows = self.con.execute("SELECT run_id, owner FROM runs WHERE status = 'running'").fetchall()
        dead = [rid for rid, owner in rows if not owner_alive(owner)]
        for rid in dead:
            self.con.execute("UPDATE runs SET status = 'interrupted', note = coalesce(note || '; ', '') || "
                             "'owner process gone' WHERE run_id = ?", [rid])

    def _ensure_table(self, name: str, columns: dict[str, str], defaults: dict[str, Any] | None = None) -> None:
        """Create ``name`` or add the columns it lacks (existing rows get ``defaults``, so an old
        point reads as it would have been written, ``workload`` = ``random``, not NULL); never
        drops or retypes data."""
        body = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({body})")
        have = {r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()}
        for c, t in columns.items():
            if c not in have:
                d = (defaults or {}).get(c)
                default = "" if d is None else f" DEFAULT {_sql_literal(d)}"
                self.con.execute(f'ALTER TABLE {name} ADD COLUMN "{c}" {t.replace(" PRIMARY KEY", "")}{default}')

    def ensure_table(self, name: str, columns: dict[str, str]) -> None:
        """For other stages (SOL, evals) that keep their own tables in the same file."""
        self._ensure_table(name, columns)

    # transactions and the one write path --------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` and re-raise: all of the block or none of it."""
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def upsert_table(self, table: pa.Table, name: str = "points", keys: Sequence[str] = ("point_id",)) -> int:
        """Replace-or-insert every row of ``table`` (columns named like table ``name``) in one transaction.

        A stored row whose ``keys`` equal an incoming row's is replaced. Deleting is costly in DuckDB
        (about a minute per million rows here), so a large write deletes only when some key is
        already stored.
        """
        if table.num_rows == 0:
            return 0
        if len(keys) == 1:  # the common case, and the fast one (a hash semi-join)
            clash_sql = f'"{keys[0]}" IN (SELECT "{keys[0]}" FROM _servemark_incoming)'
        else:
            match = " AND ".join(f't."{k}" IS NOT DISTINCT FROM i."{k}"' for k in keys)
            clash_sql = f"EXISTS (SELECT 1 FROM _servemark_incoming i WHERE {match})"
        self.con.register("_servemark_incoming", table)
        try:
            with self.transaction():
                # a small write deletes at once (the count would cost as much as the delete)
                if table.num_rows <= 100 or self.con.execute(
                        f"SELECT count(*) FROM {name} t WHERE {clash_sql}").fetchone()[0]:
                    self.con.execute(f"DELETE FROM {name} t WHERE {clash_sql}")
                self.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _servemark_incoming")
        finally:
            self.con.unregister("_servemark_incoming")
        return table.num_rows

    def upsert_rows(self, name: str, rows: Sequence[dict[str, Any]], columns: dict[str, str],
                    keys: Sequence[str]) -> int:
        """Dict rows into table ``name`` (declared by ``columns``), replacing rows with the same ``keys``."""
        return self.upsert_table(rows_table(rows, columns), name, keys)

    def replace_where(self, name: str, key: str, value: Any, rows: Sequence[dict[str, Any]],
                      columns: dict[str, str]) -> int:
        """Make ``rows`` the only rows of ``name`` whose ``key`` is ``value`` (none left when empty)."""
        with self.transaction():
            self.con.execute(f'DELETE FROM {name} WHERE "{key}" = ?', [value])
            if rows:
                self.con.register("_servemark_incoming", rows_table(rows, columns))
                try:
                    self.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _servemark_incoming")
                finally:
                    self.con.unregister("_servemark_incoming")
        return len(rows)

    # runs ---------------------------------------------------------------------------------
    def upsert_run(self, run: dict[str, Any]) -> None:
        self.upsert_runs([run])

    def upsert_runs(self, runs: Sequence[dict[str, Any]]) -> int:
        return self.upsert_rows("runs", runs, RUN_COLUMNS, ("run_id",))

    def runs(self) -> list[dict[str, Any]]:
        """Run rows; a ``running`` row whose owner is gone reads ``interrupted`` (also on a read-only handle)."""
        rows = self.query("SELECT * FROM runs ORDER BY started_at")
        for r in rows:
            if r.get("status") == "running" and not owner_alive(r.get("owner")):
                r["status"] = "interrupted"
        return rows

    def delete_run(self, run_id: str) -> int:
        """Remove a run row and its points in one transaction; the number of points removed.

        Rows other stages keyed by point (SOL fractions, evals) are theirs to keep or drop.
        """
        with self.transaction():
            n = int(self.con.execute("SELECT count(*) FROM points WHERE run_id = ?", [run_id]).fetchone()[0])
            self.con.execute("DELETE FROM points WHERE run_id = ?", [run_id])
            self.con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
        return n

    # points -------------------------------------------------------------------------------
    def add_point(self, point: Point) -> None:
        """Write one point now, in its own transaction."""
        self.add_points([point])

    def add_points(self, points: Iterable[Point]) -> int:
        """Upsert points by ``point_id`` (the same Arrow path for one point or a million)."""
        return self.upsert_table(point_rows_table(list(points)))

    def add_trials(self, trials: Iterable[Point]) -> int:
        """Upsert trial rows (table ``trials``, the point columns; key ``point_id``, the trial's own id)."""
        return self.upsert_table(point_rows_table(list(trials)), "trials")

    def trials(self, where: str = "", params: list[Any] | None = None) -> list[Point]:
        """Stored trial rows (empty when no sweep ran more than one window per point)."""
        if not self.has_table("trials"):
            return []
        sql = "SELECT * FROM trials" + (f" WHERE {where}" if where else "") + " ORDER BY run_id, conc, trial"
        return [Point.from_dict(r) for r in self.query(sql, params or [])]

    def trials_of(self, point_ids: Iterable[str]) -> dict[str, list[Point]]:
        """Trial rows of the given points, by the point they are trials of (points without trials absent)."""
        ids = list(point_ids)
        out: dict[str, list[Point]] = {}
        if not ids or not self.has_table("trials"):
            return out
        for t in self.trials("trial_of IN (SELECT unnest(?))", [ids]):
            out.setdefault(t.trial_of, []).append(t)
        return out

    def has_point(self, point_id: str) -> bool:
        return bool(self.con.execute("SELECT 1 FROM points WHERE point_id = ?", [point_id]).fetchone())

    def points(self, where: str = "", params: list[Any] | None = None) -> list[Point]:
        sql = ("SELECT * FROM points" + (f" WHERE {where}" if where else "")
               + " ORDER BY run_id, request_rate IS NOT NULL, conc, request_rate")  # closed loop, then open
        return [Point.from_dict(r) for r in self.query(sql, params or [])]

    def existing_points(self, point_ids: Iterable[str]) -> dict[str, Point]:
        """The stored points among ``point_ids``, by id."""
        ids = list(point_ids)
        if not ids:
            return {}
        rows = self.query("SELECT * FROM points WHERE point_id IN (SELECT unnest(?))", [ids])
        return {r["point_id"]: Point.from_dict(r) for r in rows}

    def count_points(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM points").fetchone()[0])

    def read_columns(self, columns: Sequence[str], where: str = "", params: list[Any] | None = None) -> dict[str, np.ndarray]:
        """Selected point columns as numpy arrays (no Point objects: the path used at scale)."""
        for c in columns:
            if c not in POINT_COLUMNS:
                raise ValueError(f"unknown point column {c!r}")
        names = ", ".join(f'"{c}"' for c in columns)
        return self.fetchnumpy(f"SELECT {names} FROM points" + (f" WHERE {where}" if where else ""), params)

    # generic reads (and scratch work) -------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """The result as an Arrow table (exports, the Python API's DataFrames)."""
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def fetchnumpy(self, sql: str, params: list[Any] | None = None) -> dict[str, np.ndarray]:
        """The result as one numpy array per column."""
        return self.con.execute(sql, params or []).fetchnumpy()

    def iter_rows(self, sql: str, params: list[Any] | None = None, batch: int = 8) -> Iterator[dict[str, Any]]:
        """The result row by row, fetched ``batch`` rows at a time (for results too big to hold at once)."""
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch):
            for row in rows:
                yield dict(zip(names, row))

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """A statement with no result: settings, and TEMP tables for analysis at scale."""
        self.con.execute(sql, params or [])

    def has_table(self, name: str) -> bool:
        rows = self.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [name])
        return bool(rows and rows[0]["n"])

    def column_types(self, table: str = "points") -> dict[str, str]:
        return {r["column_name"]: r["data_type"] for r in self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table])}
