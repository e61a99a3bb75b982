"""The terminal table of a run's points, frontier points marked."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from servemark.numfmt import fixed, plain
from servemark.point import Point
from servemark.redact import printable


def _f(v: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if v is None else plain(v * scale, spec)


def _load(p: Point) -> str:
    """Closed loop: the concurrency; open loop: the arrival rate; a trace sets its own load."""
    if p.request_rate is not None:
        return f"{fixed(p.request_rate, 3)}/s"
    return str(p.conc) if p.conc else "trace"


def _ci(p: Point, name: str) -> str:
    iv = (p.intervals or {}).get(name)
    return "-" if not iv else f"{plain(iv[0], '.1f')}..{plain(iv[1], '.1f')}"


def points_table(points: list[Point], frontier_ids: set[str], title: str = "") -> Table:
    """One row per point; workload, cache and SLO columns appear only when some point has them."""
    t = Table(title=Text(printable(title)), header_style="bold", title_justify="left")
    workloads = any(p.workload != "random" for p in points)
    cache = any(p.cached_tokens is not None for p in points)
    slo = any(p.slo_met is not None for p in points)
    if workloads:
        t.add_column("workload")
    t.add_column("conc\nor rate", justify="right")
    t.add_column("tok/s/GPU\n(in+out)", justify="right")
    t.add_column("95% CI", justify="right")
    t.add_column("out tok/s\n/GPU", justify="right")
    t.add_column("tok/s/user\n(1/TPOT p50)", justify="right")
    t.add_column("TTFT p50\nms", justify="right")
    t.add_column("TTFT p99\nms", justify="right")
    t.add_column("TPOT p50\nms", justify="right")
    t.add_column("E2EL p50\ns", justify="right")
    t.add_column("ok/req", justify="right")
    t.add_column("J/tok", justify="right")
    if cache:
        t.add_column("cache\nhit", justify="right")
    if slo:
        t.add_column("goodput\nreq/s", justify="right")
        t.add_column("SLO")
    t.add_column("frontier")
    t.add_column("flags")
    for p in sorted(points, key=lambda p: (p.model, p.engine, p.workload, p.request_rate or 0, p.conc)):
        row = [Text(printable(p.scenario or p.workload))] if workloads else []
        row += [
            _load(p), _f(p.tput_per_gpu, ".1f"), _ci(p, "tput_per_gpu"), _f(p.output_tput_per_gpu, ".1f"), _f(p.median_intvty, ".1f"),
            _f(p.median_ttft, ".0f", 1e3), _f(p.p99_ttft, ".0f", 1e3), _f(p.median_tpot, ".1f", 1e3),
            _f(p.median_e2el, ".2f"), f"{p.completed}/{p.num_requests}", _f(p.joules_per_total_token, ".3f"),
        ]
        if cache:
            row.append(_f(p.cache_hit_rate, ".0%"))
        if slo:
            row += [_f(p.goodput_rps, ".2f"), "-" if p.slo_met is None else ("met" if p.slo_met else "missed")]
        row += ["●" if p.point_id in frontier_ids else "", Text(printable(", ".join(p.flags)))]
        t.add_row(*row)
    return t


LEVEL_COLUMNS = (
    ("conc", "conc", "", "batch = concurrency"),
    ("sol_tput_per_gpu", "SOL\ntok/s/GPU", ".1f", "speed of light (strict, at the point's interactivity)"),
    ("ceiling_tput_per_gpu", "ceiling\ntok/s/GPU", ".1f", "engine's own offline benchmark"),
    ("tput_per_gpu", "served\ntok/s/GPU", ".1f", "through the server"),
    ("ceiling_over_sol", "ceiling\n÷ SOL", ".3f", ""),
    ("served_over_ceiling", "served\n÷ ceiling", ".2f", ""),
    ("served_over_sol", "served\n÷ SOL", ".3f", ""),
    ("ceiling_intvty", "ceiling\ntok/s/user", ".1f", ""),
    ("median_intvty", "served\ntok/s/user", ".1f", ""),
)
"""The three-level view (docs/ceiling.md): one row per point, the levels and the ratios between them."""


def has_levels(points: list[Point]) -> bool:
    return any(p.ceiling_tput_per_gpu is not None or p.sol_tput_per_gpu is not None for p in points)


def levels_table(points: list[Point], title: str = "") -> Table:
    """Speed of light -> engine ceiling -> served, per point; '-' where a level was not measured."""
    t = Table(title=Text(printable(title or "Where the throughput goes: speed of light -> engine ceiling -> served")),
              header_style="bold", title_justify="left")
    t.add_column("engine", justify="left")
    for _, head, _, _ in LEVEL_COLUMNS:
        t.add_column(head, justify="right")
    for p in sorted(points, key=lambda p: (p.model, p.engine, p.isl, p.osl, p.conc)):
        t.add_row(Text(printable(p.engine)), *[str(getattr(p, k)) if not spec else _f(getattr(p, k), spec) for k, _, spec, _ in LEVEL_COLUMNS])
    return t


def ceiling_table(rows: list[dict], title: str) -> Table:
    """Ceiling per batch beside the served point of the same configuration (newest), with the ratio."""
    t = Table(title=Text(printable(title)), title_justify="left", header_style="bold")
    for c in ("engine", "layout", "ISL/OSL", "batch", "ceiling\ntok/s/GPU", "ceiling out\ntok/s/GPU",
              "ceiling\ntok/s/user", "served\ntok/s/GPU", "served\n÷ ceiling"):
        t.add_column(c, justify="left" if c in ("engine", "layout") else "right")
    for r in rows:
        lay = f"TP{r['tp']}" + (f" EP{r['ep']}" if r["ep"] > 1 else "") + (f" PP{r['pp']}" if r["pp"] > 1 else "")
        ratio = r["served"] / r["tput_per_gpu"] if r.get("served") and r["tput_per_gpu"] else None
        t.add_row(Text(printable(r["engine"])), lay, f"{r['isl']}/{r['osl']}", str(r["batch"]), _f(r["tput_per_gpu"], ",.1f"),
                  _f(r["output_tput_per_gpu"], ",.1f"), _f(r["intvty"], ",.1f"), _f(r.get("served"), ",.1f"), _f(ratio, ".2f"))
    return t
