"""The report's frontier line and its confidence band describe the same frontier.

The points are the README picture's: a real `servemark demo` run on vLLM CPU (one trial a point,
bootstrap-over-requests intervals), whose frontier turns sharply at conc 4. The chart joined the
knots with straight lines, ~3% above the monotone spline that `frontier --at` and the band read
from, and the band stopped at 14.5 tok/s/user, short of c1 at 16.1.
"""

from __future__ import annotations

import re

import numpy as np

from servemark.analysis.frontier import frontiers
from servemark.analysis.interpolate import spline_path, value_at
from servemark.analysis.uncertainty import band
from servemark.point import Point
from servemark.report import html

# conc, tok/s/user (low, high), tok/s/GPU (low, high): the demo run in docs/img/report.png
DEMO = [
    (1, 16.1, (15.5, 16.7), 56.7, (55.2, 58.3)),
    (2, 6.4, (5.9, 7.1), 51.2, (50.7, 51.8)),
    (4, 4.6, (4.6, 4.9), 67.3, (65.3, 69.2)),
    (8, 3.2, (3.1, 3.2), 75.4, (75.4, 75.5)),
    (16, 1.5, (1.4, 1.8), 87.4, (85.6, 89.3)),
]


def _points() -> list[Point]:
    return [Point(run_id="demo", point_id=f"demo-c{c}", model="gemma-3-270m", engine="vllm-cpu", hardware="cpu",
                  precision="bf16", conc=c, isl=256, osl=64, median_intvty=x, tput_per_gpu=y, trials=1,
                  intervals={"median_intvty": list(xi), "tput_per_gpu": list(yi)},
                  interval_method="bootstrap_requests", interval_level=0.95)
            for c, x, xi, y, yi in DEMO]


def _pairs(attr: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (v.split(",") for v in attr.split())]


def test_spline_path_runs_through_the_knots_along_value_at() -> None:
    xs, ys = [1.5, 3.2, 4.6, 16.1], [87.4, 75.4, 67.3, 56.7]
    path = spline_path(xs, ys, per_segment=8)
    assert len(path) == 1 + 3 * 8
    assert {(x, y) for x, y in zip(xs, ys)} <= set(path)
    for x, y in path:
        assert y == value_at(xs, ys, x).value
    chord = np.interp(10.0, [4.6, 16.1], [67.3, 56.7])
    assert value_at(xs, ys, 10.0).value < chord - 1  # the case the chart got wrong: the spline is well below the chord


def test_band_spans_the_frontier_and_holds_the_drawn_line() -> None:
    pts = _points()
    b = band(pts)
    front = frontiers(pts, (), "median_intvty", "tput_per_gpu")[0]
    assert b["x"][0] == min(front.xs) and b["x"][-1] == max(front.xs)
    svg = html.frontier_svg(pts, {p.point_id for p in front.points}, {html.series_key(pts[0]): b})
    line = _pairs(re.search(r'<polyline points="([^"]+)"', svg).group(1))
    poly = _pairs(re.search(r'<polygon class="band" points="([^"]+)"', svg).group(1))
    n = len(poly) // 2
    upper, lower = poly[:n], poly[n:][::-1]
    ux = [p[0] for p in upper]
    assert abs(min(ux) - min(p[0] for p in line)) < 1 and abs(max(ux) - max(p[0] for p in line)) < 1
    outside = []
    for x, y in line:
        top = np.interp(x, ux, [p[1] for p in upper])  # SVG y grows downwards: the upper edge has the smaller y
        bottom = np.interp(x, ux, [p[1] for p in lower])
        if not top - 1.5 <= y <= bottom + 1.5:
            outside.append((x, y, top, bottom))
    assert outside == []
    # the drawn line is the spline itself: pixels back to data by the two end knots' positions
    (px0, py0), (px1, py1) = line[0], line[-1]
    (x0, y0), (x1, y1) = (front.xs[0], front.ys[0]), (front.xs[-1], front.ys[-1])
    off = []
    for px, py in line:
        x = x0 + (px - px0) * (x1 - x0) / (px1 - px0)
        y = y0 + (py - py0) * (y1 - y0) / (py1 - py0)
        want = value_at(front.xs, front.ys, x).value
        if abs(y - want) > 0.01 * want:
            off.append((round(x, 2), round(y, 1), round(want, 1)))
    assert len(line) > 3 * len(front.xs) and off == []
