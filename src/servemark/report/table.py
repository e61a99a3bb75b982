"""The terminal table of a run's points, frontier points marked."""

from __future__ import annotations

from rich.table import Table

from servemark.numfmt import fixed, plain
from servemark.point import Point


def _f(v: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if v is None else plain(v * scale, spec)


def _load(p: Point) -> str:
    """Closed loop: the concurrency; open loop: the arrival rate."""
    return f"{fixed(p.request_rate, 3)}/s" if p.request_rate is not None else str(p.conc)


def points_table(points: list[Point], frontier_ids: set[str], title: str = "") -> Table:
    t = Table(title=title, header_style="bold", title_justify="left")
    t.add_column("conc\nor rate", justify="right")
    t.add_column("tok/s/GPU\n(in+out)", justify="right")
    t.add_column("out tok/s\n/GPU", justify="right")
    t.add_column("tok/s/user\n(1/TPOT p50)", justify="right")
    t.add_column("TTFT p50\nms", justify="right")
    t.add_column("TTFT p99\nms", justify="right")
    t.add_column("TPOT p50\nms", justify="right")
    t.add_column("E2EL p50\ns", justify="right")
    t.add_column("ok/req", justify="right")
    t.add_column("J/tok", justify="right")
    t.add_column("frontier")
    t.add_column("flags")
    for p in sorted(points, key=lambda p: (p.model, p.engine, p.request_rate is not None, p.conc, p.request_rate or 0)):
        t.add_row(
            _load(p), _f(p.tput_per_gpu, ".1f"), _f(p.output_tput_per_gpu, ".1f"), _f(p.median_intvty, ".1f"),
            _f(p.median_ttft, ".0f", 1e3), _f(p.p99_ttft, ".0f", 1e3), _f(p.median_tpot, ".1f", 1e3),
            _f(p.median_e2el, ".2f"), f"{p.completed}/{p.num_requests}", _f(p.joules_per_total_token, ".3f"),
            "●" if p.point_id in frontier_ids else "", ", ".join(p.flags),
        )
    return t
