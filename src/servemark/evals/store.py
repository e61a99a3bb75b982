"""The ``evals`` table and the ``gate_failed`` flag on points.

Evals live in the same DuckDB file as points, in their own table keyed by ``eval_id``. A check
that fails its gate marks the points of its engine config with the flag ``gate_failed`` in the
``points`` table, so every report, frontier and dashboard that shows flags shows it too.
"""

from __future__ import annotations

import json
from typing import Any

from servemark.evals.result import EvalResult
from servemark.store.db import Store

GATE_FLAG = "gate_failed"

EVAL_COLUMNS: dict[str, str] = {
    "eval_id": "VARCHAR PRIMARY KEY",
    "run_id": "VARCHAR",
    "point_ids": "VARCHAR",  # JSON list
    "kind": "VARCHAR",  # gsm8k | agreement
    "score": "DOUBLE",
    "stderr": "DOUBLE",
    "threshold": "DOUBLE",
    "passed": "BOOLEAN",
    "reference": "VARCHAR",
    "n": "BIGINT",
    "details": "VARCHAR",  # JSON
    "created_at": "VARCHAR",
}


def ensure_evals_table(store: Store) -> None:
    store.ensure_table("evals", EVAL_COLUMNS)


def save_eval(store: Store, result: EvalResult) -> None:
    """Write one result now (upsert by ``eval_id``)."""
    ensure_evals_table(store)
    row: dict[str, Any] = {k: getattr(result, k) for k in EVAL_COLUMNS}
    row["point_ids"] = json.dumps(result.point_ids)
    row["details"] = json.dumps(result.details, sort_keys=True, default=str)
    store.upsert_rows("evals", [row], EVAL_COLUMNS, ("eval_id",))


def has_evals_table(store: Store) -> bool:
    return store.has_table("evals")


def evals(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """Stored checks (``point_ids`` and ``details`` decoded); read-only stores are fine."""
    if not has_evals_table(store):
        return []
    sql = "SELECT * FROM evals" + (" WHERE run_id = ?" if run_id else "") + " ORDER BY created_at, kind"
    rows = store.query(sql, [run_id] if run_id else [])
    for r in rows:
        r["point_ids"] = json.loads(r["point_ids"] or "[]")
        r["details"] = json.loads(r["details"] or "{}")
    return rows


def flag_points(store: Store, point_ids: list[str], flag: str = GATE_FLAG) -> int:
    """Add ``flag`` to each stored point (idempotent); returns how many points changed."""
    if not point_ids:
        return 0
    pts = store.points("point_id IN (SELECT unnest(?))", [list(point_ids)])
    changed = [p for p in pts if flag not in p.flags]
    for p in changed:
        p.flags = [*p.flags, flag]
    store.add_points(changed)
    return len(changed)
