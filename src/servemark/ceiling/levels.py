"""Copy the engine ceiling and the speed of light onto the served points, with the ratios.

Each point then carries its three levels (``sol_tput_per_gpu`` >= ``ceiling_tput_per_gpu`` >=
``tput_per_gpu`` when all is well) and the ratios between them, as ordinary point fields: the
report, the HTML page, the dashboard and CSV exports read them like any other metric. The tables
``engine_ceilings`` (this stage) and ``sol_point_fractions`` (``servemark sol check``) stay the
source; :func:`refresh` recomputes the copies from them and is called whenever either is written
and after a sweep stores its points. Ratio definitions (docs/metrics.md, one place each):

- ``served_over_ceiling = tput_per_gpu / ceiling_tput_per_gpu``
- ``ceiling_over_sol = ceiling_tput_per_gpu / sol_tput_per_gpu``
- ``served_over_sol = tput_per_gpu / sol_tput_per_gpu``
A ratio is NULL when a level is missing or not positive.

The work is three SQL statements inside DuckDB (no Python loop over points), so refreshing a
store of 10^5 imported points costs a scan, not a rewrite.
"""

from __future__ import annotations

from typing import Any

from servemark.ceiling.row import KEY_FIELDS

LEVEL_FIELDS = ("ceiling_tput_per_gpu", "ceiling_output_tput_per_gpu", "ceiling_intvty", "ceiling_tool",
                "sol_tput_per_gpu", "served_over_ceiling", "ceiling_over_sol", "served_over_sol")

_POINT_SIDE = {"batch": "conc"}
_EMPTY = {"ceiling_tool": "''"}
_DEFAULTS = {"tp": "1", "ep": "1", "pp": "1", "dp_attention": "false", "spec_method": "'none'"}
"""NULL in an imported point means the default (no parallelism, no speculative decoding)."""


def _join_on() -> str:
    parts = []
    for k in KEY_FIELDS:
        pk, ck = f"p.{_POINT_SIDE.get(k, k)}", f"c.{k}"
        if k in _DEFAULTS:
            pk, ck = f"coalesce({pk}, {_DEFAULTS[k]})", f"coalesce({ck}, {_DEFAULTS[k]})"
        parts.append(f"{pk} = {ck}")
    return " AND ".join(parts)


def _ratio(num: str, den: str) -> str:
    return f"CASE WHEN {den} > 0 AND {num} IS NOT NULL THEN {num} / {den} END"


def refresh(store: Any, where: str = "", params: list[Any] | None = None) -> None:
    """Recompute the level fields of the points selected by ``where`` (all when empty)."""
    from servemark.ceiling.store import TABLE

    have = store.column_types("points")
    if not all(f in have for f in LEVEL_FIELDS):
        return  # a read-only or foreign store without the fields: nothing to copy into
    params = list(params or [])
    sel = f"point_id IN (SELECT point_id FROM points WHERE {where})" if where else "TRUE"
    sel_p = f"p.{sel}" if where else "TRUE"
    with store.transaction():
        empty = ", ".join(f"{f} = {_EMPTY.get(f, 'NULL')}" for f in LEVEL_FIELDS)
        store.execute(f"UPDATE points SET {empty} WHERE {sel}", params)
        if store.has_table(TABLE):
            store.execute(
                f"""UPDATE points AS p SET ceiling_tput_per_gpu = c.tput_per_gpu,
                    ceiling_output_tput_per_gpu = c.output_tput_per_gpu, ceiling_intvty = c.intvty,
                    ceiling_tool = c.tool FROM {TABLE} AS c WHERE {_join_on()} AND {sel_p}""",
                params)
        if store.has_table("sol_point_fractions"):
            store.execute(
                f"""UPDATE points AS p SET sol_tput_per_gpu = f.sol_tput_per_gpu FROM (
                    SELECT point_id, sol_tput_per_gpu FROM sol_point_fractions
                    WHERE sol_tput_per_gpu IS NOT NULL AND fraction IS NOT NULL
                    QUALIFY row_number() OVER (PARTITION BY point_id ORDER BY kind <> 'strict', kind) = 1) AS f
                    WHERE p.point_id = f.point_id AND {sel_p}""", params)
        store.execute(
            f"""UPDATE points SET served_over_ceiling = {_ratio('tput_per_gpu', 'ceiling_tput_per_gpu')},
                ceiling_over_sol = {_ratio('ceiling_tput_per_gpu', 'sol_tput_per_gpu')},
                served_over_sol = {_ratio('tput_per_gpu', 'sol_tput_per_gpu')} WHERE {sel}""", params)
