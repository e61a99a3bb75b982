"""Frontiers and cost tables straight from the store's columns, for millions of points.

Same definitions as :mod:`servemark.analysis.frontier` and :mod:`servemark.analysis.operating`,
but no :class:`~servemark.point.Point` objects: DuckDB numbers the groups (``dense_rank``), numpy
finds every group's frontier in one sort (:func:`pareto_mask_grouped`), and only the frontier
points - a few per thousand - come back as Python values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from servemark.analysis.cost import cost_per_mtok
from servemark.analysis.frontier import (
    DEFAULT_GROUP,
    EXCLUDED_FLAGS,
    group_label,
    higher_is_better,
    pareto_mask_grouped,
)
from servemark.analysis.interpolate import value_at
from servemark.analysis.prices import TIERS, PriceTable
from servemark.point import POINT_FIELDS
from servemark.store import Store


@dataclass
class GroupFrontier:
    group: dict[str, Any]
    x: np.ndarray
    y: np.ndarray
    conc: np.ndarray
    point_id: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return group_label(self.group)


@dataclass
class FrontierSet:
    x: str
    y: str
    n_points: int
    groups: list[GroupFrontier]


def _check(names: Sequence[str]) -> None:
    for n in names:
        if n not in POINT_FIELDS:
            raise ValueError(f"unknown point field {n!r}")


def frontier_set(
    store: Store,
    group_by: Sequence[str] = DEFAULT_GROUP,
    x: str = "median_intvty",
    y: str = "tput_per_gpu",
    where: str = "",
    params: list[Any] | None = None,
    exclude_flags: Sequence[str] = EXCLUDED_FLAGS,
) -> FrontierSet:
    """Every group's frontier from the points table (all stored points; filter with ``where``).

    As in :func:`~servemark.analysis.frontier.frontiers`, flagged points (``exclude_flags``) are
    left out.
    """
    _check([*group_by, x, y])
    for flag in exclude_flags:
        if not flag.replace("_", "").isalnum():
            raise ValueError(f"bad flag name {flag!r}")
    conds = [f"({where})"] if where else []
    conds += [f"coalesce(flags, '') NOT LIKE '%\"{flag}\"%'" for flag in exclude_flags]
    where = " AND ".join(conds)
    keys = ", ".join(f'"{k}"' for k in group_by)
    # number the groups with a hash DISTINCT (a sort of a million rows by string keys is 10x slower),
    # then materialise group number, coordinates and a row number once; strings stay in DuckDB
    on_keys = " AND ".join(f'p."{k}" IS NOT DISTINCT FROM g."{k}"' for k in group_by)
    pkeys = ", ".join(f'p."{k}"' for k in group_by)
    src = f"(SELECT * FROM points WHERE {where})" if where else "points"
    store.execute(f"CREATE OR REPLACE TEMP TABLE _sm_groups AS SELECT {keys}, row_number() OVER () - 1 AS gid "
                f"FROM (SELECT DISTINCT {keys} FROM {src})", params or [])
    store.execute(
        f'CREATE OR REPLACE TEMP TABLE _sm_frontier_in AS SELECT g.gid, p."{x}" AS x, p."{y}" AS y, p.conc, '
        f"p.point_id, {pkeys}, row_number() OVER () - 1 AS rn FROM {src} p JOIN _sm_groups g ON {on_keys}",
        params or [])
    try:
        cols = store.fetchnumpy("SELECT gid, x, y, conc, rn FROM _sm_frontier_in")
        gid = np.asarray(cols["gid"], dtype=np.int64)
        xs = np.ma.filled(np.ma.asarray(cols["x"], dtype=float), np.nan)
        ys = np.ma.filled(np.ma.asarray(cols["y"], dtype=float), np.nan)
        conc = np.ma.filled(np.ma.asarray(cols["conc"], dtype=float), np.nan)
        rn = np.asarray(cols["rn"], dtype=np.int64)
        mask = pareto_mask_grouped(gid, xs, ys, higher_is_better(x), higher_is_better(y))
        on = np.flatnonzero(mask)
        on = on[np.lexsort((xs[on], gid[on]))]  # by group, then ascending x
        # identities of the frontier rows only (a few per thousand) and the group keys
        ids = {r["rn"]: r["point_id"] for r in store.query(
            "SELECT rn, point_id FROM _sm_frontier_in WHERE rn IN (SELECT unnest(?))", [rn[on].tolist()])}
        groups_rows = [tuple(r.values()) for r in store.query(f"SELECT gid, {keys} FROM _sm_groups ORDER BY gid")]
    finally:
        store.execute("DROP TABLE IF EXISTS _sm_frontier_in")
        store.execute("DROP TABLE IF EXISTS _sm_groups")
    bounds = np.searchsorted(gid[on], np.arange(len(groups_rows) + 1))
    out = []
    for g, row in enumerate(groups_rows):
        sl = on[bounds[g]:bounds[g + 1]]
        out.append(GroupFrontier(dict(zip(group_by, row[1:])), xs[sl], ys[sl], conc[sl],
                                 [ids[int(r)] for r in rn[sl]]))
    return FrontierSet(x, y, int(gid.size), out)


def cost_rows(fs: FrontierSet, at: float, table: PriceTable, tiers: Sequence[str] = TIERS) -> list[dict[str, Any]]:
    """Per group: throughput at ``at`` on its frontier and $/M total tokens per tier."""
    rows = []
    for g in fs.groups:
        r = value_at(g.x, g.y, at)
        row: dict[str, Any] = {**g.group, "label": g.label, "status": r.status, fs.y: r.value}
        hw = str(g.group.get("hardware", ""))
        for t in tiers:
            fig = table.price(hw, t)
            row[f"{t}_total"] = cost_per_mtok(fig.value, r.value) if fig and r.ok else None
        rows.append(row)
    return rows
