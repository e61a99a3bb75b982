"""SOL results in the store: frontiers for the dashboard overlay, and measured / SOL per point.

Tables (the dashboard reads these names and columns):
``sol_frontiers(frontier_id, model, hardware, precision, isl, osl, kind, mode, layout, conc,
intvty, tput_per_gpu, created_at)`` -- ``kind`` is strict or calibrated, ``mode`` agg or disagg;
``sol_point_fractions(point_id, kind, sol_tput_per_gpu, fraction, note, ...)`` -- ``fraction`` is
measured tput_per_gpu / SOL tput_per_gpu at the point's interactivity, NULL when the model cannot
judge the point (the note says why), above 1 only for a violation (never clipped).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Iterable

from servemark.sol.frontier import FrontierPoint
from servemark.sol.measured import Fraction

FRONTIER_COLUMNS = {
    "frontier_id": "VARCHAR", "model": "VARCHAR", "hardware": "VARCHAR", "precision": "VARCHAR",
    "isl": "BIGINT", "osl": "BIGINT", "kind": "VARCHAR", "mode": "VARCHAR", "layout": "VARCHAR",
    "conc": "DOUBLE", "intvty": "DOUBLE", "tput_per_gpu": "DOUBLE", "created_at": "VARCHAR",
    "n_gpu": "BIGINT", "mtp_k": "BIGINT", "catalogue_version": "VARCHAR",
}
FRACTION_COLUMNS = {
    "point_id": "VARCHAR", "kind": "VARCHAR", "sol_tput_per_gpu": "DOUBLE", "fraction": "DOUBLE",
    "note": "VARCHAR", "layout": "VARCHAR", "intvty": "DOUBLE", "tput_per_gpu": "DOUBLE",
    "hardware": "VARCHAR", "created_at": "VARCHAR",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def frontier_id(model: str, hardware: str, precision: str, isl: int, osl: int, kind: str) -> str:
    key = f"{model}|{hardware}|{precision}|{isl}|{osl}|{kind}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def ensure_tables(store) -> None:
    store.ensure_table("sol_frontiers", FRONTIER_COLUMNS)
    store.ensure_table("sol_point_fractions", FRACTION_COLUMNS)


def write_frontier(store, model: str, hardware: str, precision: str, isl: int, osl: int, kind: str,
                   points: list[FrontierPoint], catalogue_version: str = "") -> str:
    """Replace the frontier of this (model, hardware, precision, isl, osl, kind)."""
    ensure_tables(store)
    fid = frontier_id(model, hardware, precision, isl, osl, kind)
    now = _now()
    rows = [dict(zip(FRONTIER_COLUMNS, [
        fid, model, hardware, precision, int(isl), int(osl), kind, "disagg" if p.layout.disagg else "agg",
        p.layout.label(), float(p.conc), float(p.intvty), float(p.tput_per_gpu), now, int(p.layout.n_gpu),
        int(p.layout.mtp_k), catalogue_version])) for p in points]
    store.replace_where("sol_frontiers", "frontier_id", fid, rows, FRONTIER_COLUMNS)
    return fid


def write_fractions(store, fractions: Iterable[Fraction]) -> int:
    """Upsert by (point_id, kind)."""
    ensure_tables(store)
    now = _now()
    rows = []
    for f in fractions:
        c = f.config
        frac = f.fraction if (f.fraction is None or f.fraction != float("inf")) else None
        note = f.note
        rows.append(dict(zip(FRACTION_COLUMNS, [
            f.point_id, f.kind, f.sol_tput_per_gpu, frac, note, f.layout,
            c.intvty if c else None, c.tput_per_gpu if c else None, c.hardware if c else None, now])))
    n = store.upsert_rows("sol_point_fractions", rows, FRACTION_COLUMNS, ("point_id", "kind"))
    from servemark.ceiling import levels

    levels.refresh(store)  # the points' sol_tput_per_gpu and ratios (docs/ceiling.md)
    return n
