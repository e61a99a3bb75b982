"""Pareto frontiers: the best throughput a system reaches at each level of interactivity.

A point is on the frontier when no other point of its group is at least as good on both axes and
strictly better on one. Which way is "better" depends on the metric: interactivity and throughput
are higher-better, latencies (TTFT, E2EL, TPOT) and costs lower-better (:func:`higher_is_better`).
All parallel layouts (TP/EP/DP-attention/disaggregated splits) and concurrencies of one group
compete on one frontier, as on the InferenceX site; each frontier point keeps the layout and
concurrency that attains it, because that is the recipe a user would deploy.

Exact duplicates (same x and y) keep only the first one, so a frontier never lists one operating
point twice.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from servemark.fields import direction
from servemark.point import Point

DEFAULT_GROUP: tuple[str, ...] = (
    "model",
    "isl",
    "osl",
    "hardware",
    "engine",
    "precision",
    "spec_method",
    "disagg",
    "workload",
)
"""What makes two points comparable on one frontier (the layout is deliberately not in it; the
workload key is, so a frontier never mixes random prompts with a dataset, sessions or a trace)."""

EXCLUDED_FLAGS: tuple[str, ...] = ("too_many_failures", "no_completed_requests", "nonpositive_throughput")
"""Points with these flags never define a frontier: their throughput is not of the full load."""

_LOWER_BETTER_PARTS = ("ttft", "tpot", "itl", "icl", "e2el", "cost", "usd", "joules", "j_per", "latency")


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: the field registry's for a point field, else by name (derived
    figures such as costs): latencies, costs and energy per token are lower-better."""
    d = direction(metric)
    if d in ("higher", "lower"):
        return d == "higher"
    name = metric.lower()
    if name.endswith("_intvty") or "tput" in name or "per_mw" in name or "throughput" in name:
        return True
    return not any(part in name for part in _LOWER_BETTER_PARTS)


def pareto_indices(
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    x_higher_better: bool = True,
    y_higher_better: bool = True,
) -> list[int]:
    """Indices of the non-dominated points, ordered by ascending x.

    Defaults are the upper-right set (both axes higher-better); for a latency on x pass
    ``x_higher_better=False``. Points with a NaN coordinate never make the frontier.
    """
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"xs and ys differ in length ({x.size} vs {y.size})")
    mask = pareto_mask_grouped(np.zeros(x.size, dtype=np.int64), x, y, x_higher_better, y_higher_better)
    idx = np.flatnonzero(mask)
    order = np.lexsort((idx, x[idx]))
    return [int(i) for i in idx[order]]


def pareto_mask_grouped(
    group_ids: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    x_higher_better: bool = True,
    y_higher_better: bool = True,
) -> np.ndarray:
    """Frontier membership for many groups at once (the vectorised path used at scale).

    Sort by (group, x best-first, y best-first, index); inside a group a point is on the frontier
    exactly when its y beats the best y of everything sorted before it, because only those can
    dominate it. One sort plus a segmented running maximum: O(n log n) for all groups together.
    """
    g = np.asarray(group_ids, dtype=np.int64)
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    n = x.size
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    xk = x if x_higher_better else -x  # now higher is better on both keys
    yk = y if y_higher_better else -y
    valid = np.isfinite(xk) & np.isfinite(yk)
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return mask
    gi, xi, yi = g[idx], xk[idx], yk[idx]
    order = np.lexsort((idx, -yi, -xi, gi))
    gs, ys_sorted = gi[order], yi[order]
    # start of each group in the sorted order
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    # segmented "best y seen before me": shift a running max by one within each group
    prev_best = np.empty_like(ys_sorted)
    bounds = np.r_[starts, gs.size]
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = ys_sorted[a:b]
        run = np.maximum.accumulate(seg)
        prev_best[a] = -np.inf
        prev_best[a + 1 : b] = run[:-1]
    on = ys_sorted > prev_best
    mask[idx[order[on]]] = True
    return mask


def _side(d: dict[str, Any]) -> str:
    bits = [f"TP{d.get('tp') or 1}"]
    if (d.get("ep") or 1) > 1:
        bits.append(f"EP{d['ep']}")
    if d.get("dp_attention"):
        bits.append("DPA")
    workers = d.get("num_workers") or 0
    return (f"{workers}x" if workers > 1 else "") + " ".join(bits)


def layout_label(p: Point) -> str:
    """Short human label of a parallel layout: ``TP8 EP8 DPA``, or ``8P/24D: P TP8 / D TP8 EP8 DPA``."""
    parts = [f"TP{p.tp}"]
    if p.ep and p.ep > 1:
        parts.append(f"EP{p.ep}")
    if p.dp_attention:
        parts.append("DPA")
    if p.pp and p.pp > 1:
        parts.append(f"PP{p.pp}")
    if not p.disagg:
        return " ".join(parts)
    counts = f"{p.num_prefill_gpu}P/{p.num_decode_gpu}D" if p.num_prefill_gpu is not None else "disagg"
    try:
        raw = getattr(p, "workers", "")  # duck-typed callers (e.g. the dashboard) may not carry it
        layout = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        layout = {}
    if isinstance(layout, dict) and isinstance(layout.get("prefill"), dict) and isinstance(layout.get("decode"), dict):
        return f"{counts}: P {_side(layout['prefill'])} / D {_side(layout['decode'])}"
    return f"{counts}: D " + " ".join(parts)


def group_key(p: Point, group_by: Sequence[str]) -> tuple[Any, ...]:
    return tuple(getattr(p, k) for k in group_by)


def group_label(group: dict[str, Any]) -> str:
    """One readable line for a group, e.g. ``DeepSeek-R1-0528 8192/1024 b200 trt fp4 mtp``."""
    bits: list[str] = []
    if "model" in group:
        bits.append(str(group["model"]))
    if "isl" in group or "osl" in group:
        bits.append(f"{group.get('isl', '?')}/{group.get('osl', '?')}")
    for k, v in group.items():
        if k in ("model", "isl", "osl"):
            continue
        if k == "disagg":
            if v:
                bits.append("disagg")
            continue
        if k == "spec_method" and v in ("none", "", None):
            continue
        if k == "workload" and v in ("random", "", None):
            continue
        bits.append(str(v))
    return " ".join(bits)


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class Frontier:
    """One group's frontier: its points sorted by ascending x."""

    group: dict[str, Any]
    x: str
    y: str
    points: list[Point] = field(default_factory=list)
    n_candidates: int = 0
    """How many points of the group competed (with both coordinates present)."""
    x_higher_better: bool = True
    y_higher_better: bool = True

    @property
    def label(self) -> str:
        return group_label(self.group)

    @property
    def xs(self) -> list[float]:
        return [_num(getattr(p, self.x)) for p in self.points]

    @property
    def ys(self) -> list[float]:
        return [_num(getattr(p, self.y)) for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "label": self.label,
            "x": self.x,
            "y": self.y,
            "x_higher_better": self.x_higher_better,
            "y_higher_better": self.y_higher_better,
            "n_candidates": self.n_candidates,
            "points": [frontier_point_dict(p, self.x, self.y) for p in self.points],
        }


def frontier_point_dict(p: Point, x: str, y: str) -> dict[str, Any]:
    """The compact view of a frontier point: its coordinates, the layout and where it came from."""
    return {
        "point_id": p.point_id,
        "x": _num(getattr(p, x)),
        "y": _num(getattr(p, y)),
        "conc": p.conc,
        "layout": layout_label(p),
        "tp": p.tp,
        "ep": p.ep,
        "dp_attention": p.dp_attention,
        "pp": p.pp,
        "disagg": p.disagg,
        "gpu_count": p.gpu_count,
        "num_prefill_gpu": p.num_prefill_gpu,
        "num_decode_gpu": p.num_decode_gpu,
        "workers": p.workers,
        "tput_per_gpu": p.tput_per_gpu,
        "input_tput_per_gpu": p.input_tput_per_gpu,
        "output_tput_per_gpu": p.output_tput_per_gpu,
        "median_intvty": p.median_intvty,
        "median_ttft": p.median_ttft,
        "median_e2el": p.median_e2el,
        "date": p.date,
        "image": p.image,
        "source": p.source,
        "run_url": p.run_url,
        "flags": list(p.flags),
    }


def frontiers(
    points: Iterable[Point],
    group_by: Sequence[str] = DEFAULT_GROUP,
    x: str = "median_intvty",
    y: str = "tput_per_gpu",
    x_higher_better: bool | None = None,
    y_higher_better: bool | None = None,
    exclude_flags: Sequence[str] = EXCLUDED_FLAGS,
) -> list[Frontier]:
    """One :class:`Frontier` per group, groups in a stable (sorted label) order.

    Directions default to :func:`higher_is_better` of each metric name, so
    ``frontiers(pts, x="median_e2el")`` gives the throughput-vs-latency frontier (lower x better).
    Points carrying any of ``exclude_flags`` are left out (pass ``()`` to keep them).
    """
    xh = higher_is_better(x) if x_higher_better is None else x_higher_better
    yh = higher_is_better(y) if y_higher_better is None else y_higher_better
    bad = set(exclude_flags)
    pts = [p for p in points if not bad.intersection(p.flags)]
    keys: dict[tuple[Any, ...], int] = {}
    gid = np.empty(len(pts), dtype=np.int64)
    for i, p in enumerate(pts):
        gid[i] = keys.setdefault(group_key(p, group_by), len(keys))
    xs = np.array([_num(getattr(p, x)) for p in pts], dtype=float)
    ys = np.array([_num(getattr(p, y)) for p in pts], dtype=float)
    mask = pareto_mask_grouped(gid, xs, ys, xh, yh)
    valid = np.isfinite(xs) & np.isfinite(ys)
    out: list[Frontier] = []
    for key, g in keys.items():
        members = np.flatnonzero(gid == g)
        on = members[mask[members]]
        on = on[np.lexsort((on, xs[on]))]
        out.append(
            Frontier(
                group=dict(zip(group_by, key)),
                x=x,
                y=y,
                points=[pts[i] for i in on],
                n_candidates=int(valid[members].sum()),
                x_higher_better=xh,
                y_higher_better=yh,
            )
        )
    out.sort(key=lambda f: f.label)
    return out
