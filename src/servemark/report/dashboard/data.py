"""Read the store into the dashboard's payload: columnar, dictionary-encoded, rounded.

Why columnar: 100,000 points as an array of objects repeat every key 100,000 times; one array per
column, with strings replaced by an index into a per-column list of distinct values, is several
times smaller and parses faster in the browser. Floats are rounded to ``SIG_DIGITS`` significant
digits (a chart and a tooltip need no more; the store keeps full precision).

The payload has two parts: the *core* columns every view needs (filters, axes, labels, tooltip),
loaded up front, and the *detail* rows (every non-empty field of the point, its provenance),
written in chunks the page loads only when a point is clicked.
"""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from servemark.analysis.frontier import DEFAULT_GROUP, EXCLUDED_FLAGS, layout_label
from servemark.fields import fields_meta
from servemark.point import POINT_FIELDS
from servemark.store import Store

SIG_DIGITS = 5

STRING_COLUMNS = (
    "model", "engine", "engine_version", "hardware", "precision", "spec_method", "date",
    "run_id", "run_url", "image", "flags", "source", "workers", "scenario",
    "workload", "workload_kind", "interval_method",
)
"""Dictionary-encoded: the column is a list of indexes into its list of distinct values."""

NUMBER_COLUMNS = (
    "isl", "osl", "conc", "tp", "ep", "pp", "dp_attention", "disagg", "gpu_count",
    "num_prefill_gpu", "num_decode_gpu", "failed",
    "mean_intvty", "median_intvty", "p90_intvty", "p99_intvty", "p999_intvty",
    "mean_ttft", "median_ttft", "p90_ttft", "p99_ttft", "p999_ttft",
    "mean_e2el", "median_e2el", "p90_e2el", "p99_e2el", "p999_e2el",
    "tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu",
    "avg_power_w", "joules_per_total_token", "joules_per_input_token", "joules_per_output_token",
    "request_rate", "cache_hit_rate", "goodput_rps", "trials",
    "ceiling_tput_per_gpu", "ceiling_output_tput_per_gpu", "ceiling_intvty", "sol_tput_per_gpu",
    "served_over_ceiling", "ceiling_over_sol", "served_over_sol",
)
"""Numbers (booleans as 0/1); ``null`` where the store has NULL."""

INTERVAL_METRICS = ("median_intvty", "tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu", "median_ttft", "median_e2el")
"""Metrics whose stored interval (``intervals`` JSON, docs/metrics.md "Trials and intervals") the page
draws as error bars: columns ``<metric>_low`` and ``<metric>_high``."""

LATER_COLUMNS = tuple(f"{s}_{m}" for m in ("intvty", "ttft", "e2el") for s in ("mean", "p90", "p999"))
"""Percentiles the default view does not draw: written to ``data/later.js``, which the page loads
after its first chart (or at once when a link asks for them), so 10^5 points draw sooner."""

DETAIL_CHUNK = 2000
"""Points per detail file: small enough to load on a click, few enough files for 10^5 points."""


POPULATION = ("model", "isl", "osl")
"""Group fields the page fixes with its model and ISL/OSL pickers: a series label leaves them out."""
UNLABELLED = {"workload": ["random"]}
"""Group values a series label leaves out: the default workload (InferenceX's random prompts) goes
unsaid, so labels read as before workloads existed; any other workload is named."""


def dashboard_meta() -> dict[str, Any]:
    """The payload's ``meta``: every field's label, unit, direction and format from the field
    registry (:func:`servemark.fields.fields_meta`), the frontier grouping key and the flags that
    keep a point off a frontier (analysis/frontier.py is the one source), and ``population``: the
    grouping fields the page fixes with its pickers. The page hard-codes none of them and draws
    the same frontiers as ``servemark frontier``."""
    meta = fields_meta(DEFAULT_GROUP, EXCLUDED_FLAGS)
    meta["population"] = [f for f in POPULATION if f in DEFAULT_GROUP]
    meta["unlabelled"] = {k: v for k, v in UNLABELLED.items() if k in DEFAULT_GROUP}
    return meta


ORDER = "hardware, engine, precision, date, conc, point_id"
"""Row order of the payload: the same in core and detail files (row i of chunk c is point c*CHUNK+i)."""


@dataclass
class Payload:
    core: dict[str, Any]
    """JSON-able dict; the big arrays are already JSON text (see :class:`RawJson`)."""
    later: dict[str, Any] = field(default_factory=dict)
    """Columns loaded after the first chart (:data:`LATER_COLUMNS`)."""
    details: list[tuple[int, str]] = field(default_factory=list)
    """``(chunk, json text of {"chunk": i, "columns": {...}})`` per detail file."""


class RawJson(str):
    """JSON text produced by DuckDB, spliced into the output as is (see :func:`to_js`)."""


def _round_sql(col: str, digits: int = SIG_DIGITS) -> str:
    """SQL rounding a DOUBLE to ``digits`` significant digits; NaN/inf become NULL.

    Scaled by an exact power of ten and divided (not multiplied) by it, so the result is the
    double nearest the decimal and prints without binary noise (198.94, not 198.94000000000003).
    """
    e = f"({digits - 1} - floor(log10(abs({col}))))"
    return (f"CASE WHEN {col} IS NULL OR isnan({col}) OR isinf({col}) THEN NULL WHEN {col} = 0 THEN 0 "
            f"WHEN {e} >= 0 THEN round({col} * pow(10, {e})) / pow(10, {e}) "
            f"ELSE round({col} / pow(10, -{e})) * pow(10, -{e}) END")


_TRAILING_ZERO = re.compile(r"(?<=\d)\.0(?=[,\]])")


def _compact(json_text: str) -> str:
    """``1024.0`` -> ``1024`` inside a JSON array of numbers (a fifth of the bytes of integer columns)."""
    return _TRAILING_ZERO.sub("", json_text)


def round_sig(values: Any, digits: int = SIG_DIGITS) -> list[float | None]:
    """Python twin of :func:`_round_sql` for small lists (SOL fractions)."""
    out: list[float | None] = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
        elif v == 0:
            out.append(0.0)
        else:
            out.append(round(v, digits - 1 - int(math.floor(math.log10(abs(v))))))
    return out


def load_payload(store: Store, generated_at: str = "") -> Payload:
    """Everything the site shows, from one store. All per-point work runs inside DuckDB."""
    types = store.column_types("points")
    n = store.count_points()
    str_cols = [c for c in STRING_COLUMNS if c in types]
    num_cols = [c for c in NUMBER_COLUMNS if c in types]
    core_cols: dict[str, Any] = {}
    if n:
        core_cols = _core_columns(store, str_cols, num_cols, types, n)
    later = {c: core_cols.pop(c) for c in LATER_COLUMNS if c in core_cols}
    core: dict[str, Any] = {
        "format": "servemark-dashboard/1",
        "generated_at": generated_at,
        "count": n,
        "sig_digits": SIG_DIGITS,
        "columns": core_cols,
        "later_columns": list(later),
        "detail_chunk": DETAIL_CHUNK,
        "sol": _load_sol(store),
        "meta": dashboard_meta(),
    }
    return Payload(core=core, later={"columns": later}, details=_load_details(store, types) if n else [])


def _core_columns(store: Store, str_cols: list[str], num_cols: list[str], types: dict[str, str], n: int) -> dict[str, Any]:
    """One ordered scan (rounding done by DuckDB), then one JSON array per column.

    (Building every array inside DuckDB with ``list(... ORDER BY rn)`` sorts once per column and
    cost twice the CPU at 10^5 points.)
    """
    sel = [f'"{c}"' for c in str_cols]
    for c in num_cols:
        t = types[c]
        sel.append(_round_sql(f'"{c}"') + f' AS "{c}"' if t == "DOUBLE" else f'CAST("{c}" AS BIGINT) AS "{c}"')
    sel += [f'CAST("{c}" AS BIGINT) AS "__lay_{c}"' for c in _LAYOUT_FIELDS if c in types]
    iv_cols = []
    if "intervals" in types:
        for m in INTERVAL_METRICS:
            for side, k in (("low", 0), ("high", 1)):
                expr = f"TRY_CAST(json_extract(\"intervals\", '$.{m}[{k}]') AS DOUBLE)"
                sel.append(_round_sql(expr) + f' AS "{m}_{side}"')
                iv_cols.append(f"{m}_{side}")
    num_cols = num_cols + iv_cols
    data = store.fetchnumpy(f"SELECT {', '.join(sel)} FROM points ORDER BY {ORDER}")
    cols: dict[str, Any] = {}
    for c in str_cols:
        values, codes = _dictionary(data[c])
        # one distinct value: no codes at all (the page expands it); 0.2 MB saved per 10^5 points
        cols[c] = {"values": values, "codes": RawJson(json.dumps(codes.tolist(), separators=(",", ":"))) if len(values) > 1 else 0}
    for c in num_cols:
        arr = np.ma.filled(np.ma.asarray(data[c], dtype="float64"), np.nan)
        finite = np.isfinite(arr)
        if not finite.any():
            continue  # NULL everywhere: the page treats a missing column as all-null
        if finite.all() and (arr == arr[0]).all():
            cols[c] = {"const": _py_number(arr[0])}
            continue
        text = json.dumps(arr.tolist(), separators=(",", ":"), allow_nan=True).replace("NaN", "null")
        cols[c] = RawJson(_compact(text))
    cols["layout"] = _layout_column(data, n)
    return cols


def _py_number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _dictionary(column: Any) -> tuple[list[str], np.ndarray]:
    """Distinct strings (sorted) and each row's index into them; NULL is the empty string."""
    arr = np.array(["" if v is None or v is np.ma.masked else str(v) for v in column], dtype=object)
    if arr.size == 0:
        return [], np.zeros(0, dtype=np.int64)
    values, codes = np.unique(arr.astype(str), return_inverse=True)
    return values.tolist(), codes.ravel()


def _layout_column(data: dict[str, Any], n: int) -> dict[str, Any]:
    """Dictionary-encoded layout labels; one call to the analysis layer per distinct layout."""
    raw = {c: np.ma.filled(np.ma.asarray(data[f"__lay_{c}"], dtype="float64"), np.nan).tolist()
           for c in _LAYOUT_FIELDS if f"__lay_{c}" in data}
    index: dict[tuple, int] = {}
    labels: list[str] = []
    codes: list[int] = []
    keys = list(zip(*raw.values())) if raw else [()] * n
    for key in keys:
        code = index.get(key)
        if code is None:
            vals = {c: (None if math.isnan(v) else int(v)) for c, v in zip(raw, key)}
            code = index[key] = len(labels)
            labels.append(_layout(vals))
        codes.append(code)
    return {"values": labels, "codes": RawJson(json.dumps(codes, separators=(",", ":"))) if len(labels) > 1 else 0}


_LAYOUT_FIELDS = ("tp", "ep", "dp_attention", "pp", "disagg", "num_prefill_gpu", "num_decode_gpu")


def _layout(r: dict[str, Any]) -> str:
    """A parallel-layout label by the analysis layer's rule (``TP8 EP8 DPA``, ``4P/8D decode TP8``)."""
    ns = SimpleNamespace(
        tp=r.get("tp") or 1, ep=r.get("ep") or 1, pp=r.get("pp") or 1, dp_attention=bool(r.get("dp_attention")),
        disagg=bool(r.get("disagg")), num_prefill_gpu=r.get("num_prefill_gpu"), num_decode_gpu=r.get("num_decode_gpu"),
    )
    return layout_label(ns)  # type: ignore[arg-type]


def _load_details(store: Store, types: dict[str, str]) -> list[tuple[int, str]]:
    """Every field of every point, columnar per chunk, built as JSON text by DuckDB.

    A column that is empty (NULL, '', '[]', '{}') in a whole chunk is left out of that chunk.
    """
    fields = [f for f in POINT_FIELDS if f in types]
    inner = [f"(row_number() OVER (ORDER BY {ORDER}) - 1) // {DETAIL_CHUNK} AS chunk",
             f"row_number() OVER (ORDER BY {ORDER}) AS rn"]
    for f in fields:
        if types[f] == "DOUBLE":
            inner.append(f'CASE WHEN isnan("{f}") OR isinf("{f}") THEN NULL ELSE "{f}" END AS "{f}"')
        else:
            inner.append(f'"{f}"')
    outer = ["chunk"]
    for f in fields:
        outer.append(f'to_json(list("{f}" ORDER BY rn)) AS "{f}"')
        outer.append(f'bool_or("{f}" IS NOT NULL AND CAST("{f}" AS VARCHAR) NOT IN (\'\', \'[]\', \'{{}}\')) AS "{f}__any"')
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM points) GROUP BY chunk ORDER BY chunk"
    out: list[tuple[int, str]] = []
    for rec in store.iter_rows(sql, batch=8):
        parts = [f"{json.dumps(f)}:{rec[f]}" for f in fields if rec[f + "__any"]]
        out.append((int(rec["chunk"]), f'{{"chunk":{int(rec["chunk"])},"columns":{{{",".join(parts)}}}}}'))
    return out


def _load_sol(store: Store) -> dict[str, Any] | None:
    """Speed-of-light frontiers and each point's measured / SOL fraction, when the SOL stage ran."""
    if not store.has_table("sol_frontiers"):
        return None
    fr = store.query(
        "SELECT frontier_id, model, hardware, precision, isl, osl, kind, mode, layout, conc,"
        " intvty, tput_per_gpu FROM sol_frontiers ORDER BY frontier_id, intvty")
    lines: dict[str, dict[str, Any]] = {}
    for r in fr:
        line = lines.setdefault(str(r["frontier_id"]), {
            "id": str(r["frontier_id"]),
            **{k: r[k] for k in ("model", "hardware", "precision", "isl", "osl", "kind")},
            "x": [], "y": [], "layout": [],
        })
        line["x"].append(r["intvty"])
        line["y"].append(r["tput_per_gpu"])
        line["layout"].append(r["layout"])  # the layout that attains the bound at this interactivity
    fraction = kind = None
    if store.has_table("sol_point_fractions"):
        # one fraction per point (the first kind by name when the SOL stage wrote several)
        row = store.query(
            f"""SELECT to_json(list(f.fraction ORDER BY p.rn)) AS fraction, to_json(list(coalesce(f.kind, '') ORDER BY p.rn)) AS kind
            FROM (SELECT point_id, row_number() OVER (ORDER BY {ORDER}) AS rn FROM points) p
            LEFT JOIN (SELECT point_id, kind, {_round_sql('fraction', 4)} AS fraction FROM sol_point_fractions
                       WHERE fraction IS NOT NULL QUALIFY row_number() OVER (PARTITION BY point_id ORDER BY kind) = 1) f
            ON f.point_id = p.point_id""")[0]
        if row["fraction"]:
            fraction, kind = RawJson(row["fraction"]), RawJson(row["kind"])
    return {"frontiers": list(lines.values()), "fraction": fraction, "fraction_kind": kind}


def _dump(obj: Any) -> str:
    """JSON text of ``obj`` where :class:`RawJson` values are inserted verbatim."""
    if isinstance(obj, RawJson):
        return str(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dump(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (RawJson, dict, list)) for v in obj):
        return "[" + ",".join(_dump(v) for v in obj) + "]"
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)


def to_js(var: str, obj: Any) -> str:
    """The payload as ``var(JSON.parse("..."));``: a script, so the site opens from ``file://``.

    JSON.parse of a string literal is faster for V8 than an object literal of the same size.
    ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc. inside the JSON, so no string from the
    data can close a script element or start markup even if someone inlines the file into HTML.
    """
    text = obj if isinstance(obj, str) else _dump(obj)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    literal = json.dumps(text, ensure_ascii=False)
    return f"{var}(JSON.parse({literal}));\n"
