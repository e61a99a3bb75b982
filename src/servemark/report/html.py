"""A self-contained HTML report: the frontier chart as inline SVG and the point table.

No JavaScript and no external files, so it opens offline from a mail attachment or a CI
artefact. Every string that comes from data goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from pathlib import Path

from servemark.analysis.interpolate import spline_path
from servemark.numfmt import fixed, plain
from servemark.point import Point

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
W, H, ML, MR, MT, MB = 940, 460, 70, 300, 20, 50


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2)]


def series_key(p: Point) -> str:
    return f"{p.model} · {p.engine} · {p.hardware} · {p.precision}"


def _iv(p: Point, name: str) -> tuple[float, float] | None:
    iv = (p.intervals or {}).get(name)
    return (float(iv[0]), float(iv[1])) if iv and iv[0] is not None and iv[1] is not None else None


def frontier_svg(points: list[Point], frontier_ids: set[str], bands: dict[str, dict] | None = None) -> str:
    """The chart: points with their interval as error bars (x and y), frontier lines, and each
    series' confidence band (``analysis.uncertainty.band``) as a shaded area."""
    pts = [p for p in points if p.median_intvty and p.tput_per_gpu]
    if not pts:
        return "<p>No completed points to chart.</p>"
    bands = bands or {}
    x_top = max(max((_iv(p, "median_intvty") or (0, p.median_intvty))[1], p.median_intvty) for p in pts)
    y_top = max(max((_iv(p, "tput_per_gpu") or (0, p.tput_per_gpu))[1], p.tput_per_gpu) for p in pts)
    y_top = max([y_top] + [h for b in bands.values() for h in b.get("high", [])])
    xs = _ticks(0, x_top * 1.05)
    ys = _ticks(0, y_top * 1.05)
    x1, y1 = xs[-1], ys[-1]

    def sx(v: float) -> float:
        return ML + (W - ML - MR) * v / x1

    def sy(v: float) -> float:
        return H - MB - (H - MT - MB) * v / y1

    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           'aria-label="Throughput per GPU against interactivity" font-family="sans-serif" font-size="12">']
    for t in xs:
        out.append(f'<line x1="{sx(t):.1f}" y1="{MT}" x2="{sx(t):.1f}" y2="{H - MB}" stroke="#eee"/>'
                   f'<text x="{sx(t):.1f}" y="{H - MB + 16}" text-anchor="middle">{t:g}</text>')
    for t in ys:
        out.append(f'<line x1="{ML}" y1="{sy(t):.1f}" x2="{W - MR}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{ML - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<line x1="{ML}" y1="{H - MB}" x2="{W - MR}" y2="{H - MB}" stroke="#333"/>'
               f'<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{H - MB}" stroke="#333"/>')
    out.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 12}" text-anchor="middle">Interactivity (tok/s/user, 1 / median TPOT)</text>')
    out.append(f'<text transform="translate(16 {(MT + H - MB) / 2}) rotate(-90)" text-anchor="middle">'
               "Throughput per GPU (input + output tok/s)</text>")
    groups: dict[str, list[Point]] = defaultdict(list)
    for p in pts:
        groups[series_key(p)].append(p)
    for i, (key, gp) in enumerate(sorted(groups.items())):
        c = PALETTE[i % len(PALETTE)]
        b = bands.get(key)
        if b and len(b.get("x", [])) > 1:
            upper = [f"{sx(x):.1f},{sy(h):.1f}" for x, h in zip(b["x"], b["high"])]
            lower = [f"{sx(x):.1f},{sy(lo):.1f}" for x, lo in zip(reversed(b["x"]), reversed(b["low"]))]
            what = e(f"{key}: {b.get('level', 0.95):.0%} band ({b.get('method', '')})")
            out.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{c}" fill-opacity="0.15" '
                       f'stroke="none"><title>{what}</title></polygon>')
        for p in gp:
            yiv, xiv = _iv(p, "tput_per_gpu"), _iv(p, "median_intvty")
            cx, cy = sx(p.median_intvty), sy(p.tput_per_gpu)
            if yiv:
                out.append(f'<path class="errbar" d="M{cx:.1f},{sy(yiv[0]):.1f}V{sy(yiv[1]):.1f}M{cx - 3:.1f},{sy(yiv[0]):.1f}'
                           f'h6M{cx - 3:.1f},{sy(yiv[1]):.1f}h6" stroke="{c}" stroke-width="1" fill="none"/>')
            if xiv:
                out.append(f'<path class="errbar" d="M{sx(xiv[0]):.1f},{cy:.1f}H{sx(xiv[1]):.1f}" stroke="{c}" stroke-width="1" fill="none"/>')
        front = sorted((p for p in gp if p.point_id in frontier_ids), key=lambda p: p.median_intvty)
        if len(front) > 1:
            curve = spline_path([p.median_intvty for p in front], [p.tput_per_gpu for p in front])
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in curve)
            out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for p in gp:
            on = p.point_id in frontier_ids
            yiv = _iv(p, "tput_per_gpu")
            ci = (f" ({p.interval_level or 0.95:.0%} CI {plain(yiv[0], '.1f')}..{plain(yiv[1], '.1f')}, "
                  f"{p.interval_method}, {p.trials} trial(s))") if yiv else ""
            tip = e(f"{key}\n{load_label(p, long=True)}, TP{p.tp}: {p.tput_per_gpu:.1f} tok/s/GPU{ci} at {p.median_intvty:.1f} tok/s/user")
            out.append(f'<circle cx="{sx(p.median_intvty):.1f}" cy="{sy(p.tput_per_gpu):.1f}" r="{5 if on else 3.5}" '
                       f'fill="{c if on else "white"}" stroke="{c}" stroke-width="1.5"><title>{tip}</title></circle>'
                       f'<text x="{sx(p.median_intvty) + 7:.1f}" y="{sy(p.tput_per_gpu) - 6:.1f}" fill="{c}" font-size="10">{e(load_label(p))}</text>')
        ly = MT + 14 + 18 * i
        out.append(f'<rect x="{W - MR + 12}" y="{ly - 9}" width="10" height="10" fill="{c}"/>'
                   f'<text x="{W - MR + 27}" y="{ly}" font-size="11">{e(key)}</text>')
    out.append("</svg>")
    return "".join(out)


def load_label(p: Point, long: bool = False) -> str:
    """A point's load: ``c4`` / ``conc 4`` closed loop, ``r2/s`` / ``rate 2/s`` open loop."""
    if p.request_rate is not None:
        return f"rate {fixed(p.request_rate, 3)}/s" if long else f"r{fixed(p.request_rate, 3)}/s"
    return f"conc {p.conc}" if long else f"c{p.conc}"


def _cell(v: object, spec: str = "", scale: float = 1.0) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return plain(v * scale, spec or ".3g")
    return html.escape(str(v))


COLUMNS = [
    ("load", "conc / rate", "", 1.0), ("tput_per_gpu", "tok/s/GPU", ".1f", 1.0), ("output_tput_per_gpu", "out tok/s/GPU", ".1f", 1.0),
    ("median_intvty", "tok/s/user", ".1f", 1.0), ("median_ttft", "TTFT p50 (ms)", ".0f", 1e3),
    ("p99_ttft", "TTFT p99 (ms)", ".0f", 1e3), ("median_tpot", "TPOT p50 (ms)", ".1f", 1e3),
    ("median_itl", "ITL p50 (ms)", ".1f", 1e3), ("median_e2el", "E2EL p50 (s)", ".2f", 1.0),
    ("completed", "ok", "", 1.0), ("failed", "failed", "", 1.0), ("joules_per_total_token", "J/token", ".3f", 1.0),
]


def ci_text(p: Point, name: str, spec: str = ".1f", scale: float = 1.0) -> str:
    """``lo..hi`` of a point's interval of ``name`` (``-`` without one)."""
    iv = _iv(p, name)
    return "-" if iv is None else f"{plain(iv[0] * scale, spec)}..{plain(iv[1] * scale, spec)}"


def levels_section(points: list[Point]) -> str:
    """The three-level table (speed of light -> engine ceiling -> served) with the ratios, when any
    point has a ceiling or a SOL figure; else nothing (docs/ceiling.md)."""
    from servemark.report.table import LEVEL_COLUMNS, has_levels

    if not has_levels(points):
        return ""
    e = html.escape
    head = "<th>series</th>" + "".join(f"<th title=\"{e(tip)}\">{e(label.replace(chr(10), ' '))}</th>"
                                       for _, label, _, tip in LEVEL_COLUMNS)
    rows = []
    for p in sorted(points, key=lambda p: (series_key(p), p.isl, p.osl, p.conc)):
        cells = "".join(f"<td>{_cell(getattr(p, k), spec)}</td>" for k, _, spec, _ in LEVEL_COLUMNS)
        rows.append(f"<tr><td class=\"l\">{e(series_key(p))}</td>{cells}</tr>")
    return ("<h2>Where the throughput goes: speed of light → engine ceiling → served</h2>"
            "<p class=\"sub\">Speed of light: the hardware bound (servemark sol check). Engine ceiling: the engine's "
            "own offline benchmark at batch = concurrency, same model, build, layout and lengths, no server "
            "(servemark ceiling). Served: what the load generator measured through the API. Ratios: served ÷ "
            "ceiling is what serving keeps of the engine's throughput; ceiling ÷ SOL how close the kernels come to "
            "the hardware. Definitions: docs/metrics.md.</p>"
            f"<table class=\"levels\"><tr>{head}</tr>{''.join(rows)}</table>")


def render(points: list[Point], frontier_ids: set[str], title: str, subtitle: str = "",
           bands: dict[str, dict] | None = None) -> str:
    e = html.escape
    head = ("".join(f"<th>{e(label)}</th>" for _, label, _, _ in COLUMNS[:2]) + "<th>tok/s/GPU CI</th>"
            + "".join(f"<th>{e(label)}</th>" for _, label, _, _ in COLUMNS[2:4]) + "<th>tok/s/user CI</th>"
            + "".join(f"<th>{e(label)}</th>" for _, label, _, _ in COLUMNS[4:])
            + "<th>trials</th><th>interval</th><th>series</th><th>frontier</th><th>flags</th>")
    rows = []
    for p in sorted(points, key=lambda p: (series_key(p), p.request_rate is not None, p.conc, p.request_rate or 0)):
        cell = [f"<td>{_cell(load_label(p, long=True) if k == 'load' else getattr(p, k), spec, sc)}</td>"
                for k, _, spec, sc in COLUMNS]
        cells = ("".join(cell[:2]) + f"<td>{e(ci_text(p, 'tput_per_gpu'))}</td>" + "".join(cell[2:4])
                 + f"<td>{e(ci_text(p, 'median_intvty'))}</td>" + "".join(cell[4:])
                 + f"<td>{p.trials}</td><td>{e(p.interval_method or '-')}</td>")
        rows.append(f"<tr>{cells}<td>{e(series_key(p))}</td><td>{'●' if p.point_id in frontier_ids else ''}</td>"
                    f"<td>{e(', '.join(p.flags))}</td></tr>")
    prov = sorted({(p.run_id, p.engine_version, p.git_sha, p.host, p.cpu, p.gpu_name) for p in points})
    prov_rows = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in prov)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ddd;padding:3px 7px;text-align:right}}th{{background:#f4f4f4}}
td:nth-last-child(-n+3){{text-align:left}}table.levels td{{text-align:right}}table.levels td.l{{text-align:left}}.sub{{color:#666}}</style></head><body>
<h1>{e(title)}</h1><p class="sub">{e(subtitle)}</p>
<h2>Throughput per GPU vs interactivity</h2>
<p class="sub">Filled points and lines: the Pareto frontier (no other point has both higher throughput and higher interactivity), drawn along the monotone spline that <code>servemark frontier --at</code> reads values from.
Bars: each point's {_level(points)} confidence interval; shaded: the frontier's confidence band ({_band_methods(bands)}; docs/metrics.md "Trials and intervals").</p>
{frontier_svg(points, frontier_ids, bands)}
<h2>Points</h2><table><tr>{head}</tr>{''.join(rows)}</table>
{levels_section(points)}
<h2>Provenance</h2><table><tr><th>run</th><th>engine version</th><th>servemark git</th><th>host</th><th>CPU</th><th>GPU</th></tr>{prov_rows}</table>
<p class="sub">Definitions: docs/metrics.md. Generated by servemark.</p>
</body></html>"""


def _level(points: list[Point]) -> str:
    levels = {p.interval_level for p in points if p.interval_level}
    return ", ".join(f"{v:.0%}" for v in sorted(levels)) or "95%"


def _band_methods(bands: dict[str, dict] | None) -> str:
    return html.escape(", ".join(sorted({b.get("method", "") for b in (bands or {}).values()} - {""})) or "none")


def write(path: Path, points: list[Point], frontier_ids: set[str], title: str, subtitle: str = "",
          bands: dict[str, dict] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(points, frontier_ids, title, subtitle, bands))
    return path
