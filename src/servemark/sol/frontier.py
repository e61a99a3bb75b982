"""The SOL frontier: best throughput per GPU at each interactivity over layouts and batch sizes.

``sol_frontier`` sweeps the decode batch of every layout up to its memory cap (aggregated and
disaggregated, MTP depths), and keeps the upper-right Pareto hull. ``sol_at`` reads the frontier
at given interactivities: the most throughput per GPU any swept configuration delivers at an
interactivity at least that high (so the answer never decreases as you ask for less speed).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import numpy as np

from servemark.errors import ServemarkError
from servemark.sol.hardware import Accelerator, load_catalogue
from servemark.sol.layout import DEFAULT_CALIBRATED, STRICT, Efficiency, CandidateLayout
from servemark.modelspec.architecture import ModelArchitecture, load_architecture
from servemark.sol.serving import Curve, curve

MAX_MTP_K = 3
"""Deepest draft the strict bound considers (InferenceX's DeepSeek MTP recipes go to 3)."""


class FrontierPoint(NamedTuple):
    intvty: float
    """tok/s/user"""
    tput_per_gpu: float
    """tok/s/GPU, input + output"""
    conc: float
    layout: CandidateLayout


def default_layouts(spec: ModelArchitecture, hw: Accelerator, mtp: bool | None = None,
                    gpu_counts: Sequence[int] | None = None) -> list[CandidateLayout]:
    """Aggregated and disaggregated layouts over GPU counts 1..domain (powers of two and the
    domain size), with MTP depths 0..3 when the model has MTP layers."""
    if gpu_counts is None:
        dom = max(1, hw.domain)
        gpu_counts = sorted({c for c in (1, 2, 4, 8, 16, 32, 64) if c <= max(dom, 8)} | {dom})
    ks = [0]
    if (spec.mtp_layers if mtp is None else mtp):
        ks = list(range(0, MAX_MTP_K + 1))
    out = []
    for n in gpu_counts:
        moe = spec.is_moe
        for k in ks:
            for disagg in (False, True):
                out.append(CandidateLayout(n_gpu=n, tp=n, ep=n if moe else 1, dp_attention=moe and n > 1,
                                  disagg=disagg, mtp_k=k))
                if moe and n > 1:
                    out.append(CandidateLayout(n_gpu=n, tp=n, ep=1, dp_attention=False, disagg=disagg, mtp_k=k))
    return out


def _resolve(model: str | ModelArchitecture, hw: str | Accelerator) -> tuple[ModelArchitecture, Accelerator]:
    spec = model if isinstance(model, ModelArchitecture) else load_architecture(model)
    acc = hw if isinstance(hw, Accelerator) else load_catalogue()[hw]
    return spec, acc


def _efficiency(mode: str, efficiency: Efficiency | None) -> Efficiency:
    if mode == "strict":
        return STRICT
    if mode == "calibrated":
        return efficiency or _fitted_or_default()
    raise ServemarkError(f"unknown SOL mode {mode!r} (strict or calibrated)")


def _fitted_or_default() -> Efficiency:
    from servemark.sol.calibrate import load_fitted

    return load_fitted() or DEFAULT_CALIBRATED


def curves(model: str | ModelArchitecture, hw: str | Accelerator, precision: str, isl: float, osl: float,
           layouts: Iterable[CandidateLayout] | None = None, mode: str = "strict", efficiency: Efficiency | None = None,
           range_ratio: float = 0.8, n_points: int = 64) -> list[Curve]:
    spec, acc = _resolve(model, hw)
    eff = _efficiency(mode, efficiency)
    lays = list(layouts) if layouts is not None else default_layouts(spec, acc)
    out = [curve(spec, acc, precision, isl, osl, lay, eff, range_ratio, n_points) for lay in lays]
    return [c for c in out if c.feasible and len(c.intvty)]


def pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """Upper-right hull: keep a point unless another has >= interactivity and > throughput."""
    pts = sorted(points, key=lambda p: (-p.intvty, -p.tput_per_gpu))
    out: list[FrontierPoint] = []
    best = -np.inf
    for p in pts:
        if p.tput_per_gpu > best:
            out.append(p)
            best = p.tput_per_gpu
    return sorted(out, key=lambda p: p.intvty)


def sol_frontier(model: str | ModelArchitecture, hw: str | Accelerator, precision: str, isl: float, osl: float,
                 layouts: Iterable[CandidateLayout] | None = None, mode: str = "strict",
                 efficiency: Efficiency | None = None, range_ratio: float = 0.8,
                 n_points: int = 64) -> list[FrontierPoint]:
    """The SOL frontier as (intvty tok/s/user, tput_per_gpu tok/s/GPU, conc, layout), by intvty."""
    cs = curves(model, hw, precision, isl, osl, layouts, mode, efficiency, range_ratio, n_points)
    pts = [FrontierPoint(float(i), float(t), float(c), cv.layout)
           for cv in cs for i, t, c in zip(cv.intvty, cv.tput_per_gpu, cv.conc)]
    return pareto(pts)


def curve_at(cv: Curve, intvty: np.ndarray) -> np.ndarray:
    """Best throughput this curve reaches at interactivity >= each query (0 where unreachable).

    Between samples the curve is interpolated linearly in log-log space."""
    q = np.asarray(intvty, dtype=float)
    order = np.argsort(cv.intvty)
    x = np.log(cv.intvty[order])
    # running max from the fast end: a point also serves every slower interactivity
    y = np.maximum.accumulate(cv.tput_per_gpu[order][::-1])[::-1]
    ly = np.log(np.maximum(y, 1e-300))
    out = np.exp(np.interp(np.log(np.maximum(q, 1e-300)), x, ly, left=ly[0], right=-np.inf))
    return np.where(q > cv.intvty.max() * (1 + 1e-12), 0.0, out)


def sol_at(curves_: list[Curve], intvty: Sequence[float] | np.ndarray) -> tuple[np.ndarray, list[CandidateLayout | None]]:
    """SOL throughput per GPU at each interactivity, and the layout attaining it."""
    q = np.asarray(intvty, dtype=float)
    if not curves_:
        return np.zeros_like(q), [None] * len(q)
    stack = np.vstack([curve_at(c, q) for c in curves_])
    idx = stack.argmax(axis=0)
    best = stack[idx, np.arange(len(q))]
    return best, [curves_[i].layout if best[j] > 0 else None for j, i in enumerate(idx)]
