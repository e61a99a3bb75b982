"""Engine ceilings in the store: table ``engine_ceilings``, one row per key (the newest wins).

Columns are :class:`~servemark.ceiling.row.CeilingRow`'s fields (``argv`` and ``raw`` as JSON
text). Rows are replaced by their key fields (:data:`~servemark.ceiling.row.KEY_FIELDS`), written
through the store's one write path, and the served points that share a key get the ceiling and its
ratios copied in at once (:func:`servemark.ceiling.levels.refresh`).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, Iterable

from servemark.ceiling.row import KEY_FIELDS, CeilingRow, key_of
from servemark.fields import Field

TABLE = "engine_ceilings"


def _sql_type(type_str: str) -> str:
    return Field("", type_str, None, "", "").store_type


COLUMNS: dict[str, str] = {f.name: _sql_type(str(f.type)) for f in fields(CeilingRow)}


def write(store: Any, rows: Iterable[CeilingRow]) -> int:
    """Upsert ``rows`` by key, then refresh the matching points' level fields; returns rows written."""
    from servemark.ceiling import levels

    out = []
    for r in rows:
        d = r.to_dict()
        d["argv"] = json.dumps(d["argv"])
        d["raw"] = json.dumps(d["raw"], sort_keys=True)
        out.append(d)
    if not out:
        return 0
    store.ensure_table(TABLE, COLUMNS)
    n = store.upsert_rows(TABLE, out, COLUMNS, KEY_FIELDS)
    levels.refresh(store)
    return n


def read(store: Any) -> list[CeilingRow]:
    if not store.has_table(TABLE):
        return []
    return [CeilingRow.from_dict(r) for r in store.query(
        f"SELECT * FROM {TABLE} ORDER BY model, engine, hardware, precision, tp, ep, pp, isl, osl, batch")]


def with_served(store: Any, rows: list[CeilingRow]) -> list[dict[str, Any]]:
    """Ceiling rows as dicts with ``served``: the newest served point's ``tput_per_gpu`` of the same key."""
    served: dict[tuple, float] = {}
    for p in store.query("SELECT * FROM points WHERE tput_per_gpu IS NOT NULL ORDER BY started_at"):
        served[key_of(p)] = p["tput_per_gpu"]  # the newest point of a key wins
    return [{**r.to_dict(), "served": served.get(key_of(r.to_dict()))} for r in rows]
