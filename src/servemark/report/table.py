"""The terminal table of a run's points, frontier points marked."""

from __future__ import annotations

from rich.table import Table

from servemark.point import Point


def _f(v: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if v is None else format(v * scale, spec)


def _ci(p: Point, name: str) -> str:
    iv = (p.intervals or {}).get(name)
    return "-" if not iv else f"{iv[0]:.1f}..{iv[1]:.1f}"


def points_table(points: list[Point], frontier_ids: set[str], title: str = "") -> Table:
    t = Table(title=title, header_style="bold", title_justify="left")
    t.add_column("conc", justify="right")
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
    t.add_column("frontier")
    t.add_column("flags")
    for p in sorted(points, key=lambda p: (p.model, p.engine, p.conc)):
        t.add_row(
            str(p.conc), _f(p.tput_per_gpu, ".1f"), _ci(p, "tput_per_gpu"), _f(p.output_tput_per_gpu, ".1f"), _f(p.median_intvty, ".1f"),
            _f(p.median_ttft, ".0f", 1e3), _f(p.p99_ttft, ".0f", 1e3), _f(p.median_tpot, ".1f", 1e3),
            _f(p.median_e2el, ".2f"), f"{p.completed}/{p.num_requests}", _f(p.joules_per_total_token, ".3f"),
            "●" if p.point_id in frontier_ids else "", ", ".join(p.flags),
        )
    return t
