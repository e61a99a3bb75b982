"""Fit the calibrated estimate's efficiencies on measured points, with leave-one-GPU-out checks.

The calibrated estimate is the same step model as the strict bound with realistic bytes, the
point's own TP/EP/DP-attention layout, per-op-class rooflines that add up, and a handful of
efficiencies (:class:`~servemark.sol.layout.Efficiency`). Its prediction for a measured point is
the throughput per GPU its own layout reaches at the point's measured interactivity; the error is
``ln(predicted / measured)``. Parameters are fitted by a coordinate search on the median absolute
log error: slow-ish (seconds), deterministic, no SciPy. The hold-out is by GPU, because a model
that has only seen B200s must still say something true about an MI355X.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np

from servemark.sol.frontier import curves
from servemark.sol.hardware import load_catalogue
from servemark.sol.layout import DEFAULT_CALIBRATED, Efficiency
from servemark.sol.measured import PointConfig, supported
from servemark.modelspec.architecture import load_architecture
from servemark.sol.serving import curve

# parameter -> candidate multipliers (or values) tried around the current value
FIT_PARAMS = {
    "eta_hbm": (0.3, 1.0),
    "eta_flops": (0.03, 1.0),
    "eta_prefill": (0.03, 1.0),
    "t_layer_s": (0.0, 300e-6),
    "t_step_s": (0.0, 20e-3),
    "mtp_accept": (0.3, 0.95),
    "t_collective_s": (0.0, 100e-6),
    "internode_latency_x": (1.0, 5.0),  # NCCL over IB/RoCE vs NVLink: a few x, not more
    "amd_scale": (0.3, 1.5),
    "eta_link": (0.1, 1.0),
    "moe_imbalance": (1.0, 3.0),
}
FRAMEWORK_RANGE = (0.5, 1.5)
INFEASIBLE_ABS_LOG_ERR = float(np.log(10.0))
"""Error charged when the estimate cannot run a measured point at all (a layout it thinks does
not fit in memory), so a fit cannot improve by declaring points infeasible."""
FITTED_FILE = "calibrated.json"


def _groups(points: Iterable[PointConfig]) -> dict[tuple, list[PointConfig]]:
    g: dict[tuple, list[PointConfig]] = {}
    for pc in points:
        if supported(pc):
            continue
        key = pc.family() + (pc.tp, pc.ep, pc.dp_attention, pc.disagg, pc.prefill_per_decode_gpu, pc.framework)
        g.setdefault(key, []).append(pc)
    return g


def predict(points: list[PointConfig], eff: Efficiency, n_points: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Predicted tput_per_gpu for each point at its measured interactivity, and the measured one.

    Where the layout cannot reach the measured interactivity at all, the prediction continues
    the fastest point at constant batch (tput scaled by reached / wanted interactivity), so a
    too-slow model is penalised in proportion rather than infinitely."""
    pred: dict[str, float] = {}
    cat = load_catalogue()
    for members in _groups(points).values():
        pc0 = members[0]
        spec = load_architecture(pc0.model)
        cs = curves(spec, cat[pc0.hardware], pc0.precision, pc0.isl, pc0.osl, pc0.own_layouts(),
                    mode="calibrated", efficiency=eff.for_framework(pc0.framework), range_ratio=pc0.range_ratio,
                    n_points=n_points)
        q = np.array([m.intvty for m in members])
        if not cs:
            for m in members:
                pred[m.point_id] = np.nan
            continue
        best = np.zeros_like(q)
        for c in cs:
            order = np.argsort(c.intvty)
            x = np.log(c.intvty[order])
            y = np.log(np.maximum.accumulate(c.tput_per_gpu[order][::-1])[::-1])
            inside = np.exp(np.interp(np.log(q), x, y))
            fastest_i, fastest_t = c.intvty[order][-1], c.tput_per_gpu[order][-1]
            beyond = fastest_t * fastest_i / q
            best = np.maximum(best, np.where(q <= fastest_i, inside, beyond))
        for m, v in zip(members, best):
            pred[m.point_id] = float(v)
    ids = [p.point_id for p in points if p.point_id in pred]
    meas = {p.point_id: p.tput_per_gpu for p in points}
    return np.array([pred[i] for i in ids]), np.array([meas[i] for i in ids])


def predict_at_conc(points: list[PointConfig], eff: Efficiency,
                    groups: dict[tuple, list[PointConfig]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted (tput_per_gpu, intvty) for each point from its own layout AND concurrency, with
    the measured tput_per_gpu: the point-matched check of roofline.md D.7. MTP points take the
    draft depth (1..3) that gives the most throughput."""
    cat = load_catalogue()
    pred_t: dict[str, float] = {}
    pred_i: dict[str, float] = {}
    for members in (groups if groups is not None else _groups(points)).values():
        pc0 = members[0]
        spec = load_architecture(pc0.model)
        hw = cat[pc0.hardware]
        eff_fw = eff.for_framework(pc0.framework)
        b = np.array([m.batch_per_gpu for m in members])
        best_t = np.full(len(b), np.nan)
        best_i = np.full(len(b), np.nan)
        for lay in pc0.own_layouts():
            c = curve(spec, hw, pc0.precision, pc0.isl, pc0.osl, lay, eff_fw, pc0.range_ratio, batch_per_gpu=b)
            if not c.feasible:
                continue
            better = ~(c.tput_per_gpu <= best_t)
            best_t = np.where(better, c.tput_per_gpu, best_t)
            best_i = np.where(better, c.intvty, best_i)
        for m, t, i in zip(members, best_t, best_i):
            pred_t[m.point_id], pred_i[m.point_id] = float(t), float(i)
    ids = [p for p in points if p.point_id in pred_t]
    return (np.array([pred_t[p.point_id] for p in ids]), np.array([pred_i[p.point_id] for p in ids]),
            np.array([p.tput_per_gpu for p in ids]))


def abs_log_errors(points: list[PointConfig], eff: Efficiency, n_points: int = 40,
                   how: str = "conc", groups: dict | None = None) -> np.ndarray:
    """|ln(pred / measured)| of tput_per_gpu per point; ``how`` = ``conc`` (same layout and
    concurrency) or ``intvty`` (same layout, at the measured interactivity)."""
    if how == "conc":
        pred, _, meas = predict_at_conc(points, eff, groups)
    else:
        pred, meas = predict(points, eff, n_points)
    bad = ~(np.isfinite(pred) & (pred > 0))
    err = np.abs(np.log(np.where(bad, 1.0, pred) / meas))
    return np.where(bad, INFEASIBLE_ABS_LOG_ERR, err)


def _loss(points: list[PointConfig], eff: Efficiency, n_points: int, groups: dict | None = None) -> float:
    e = abs_log_errors(points, eff, n_points, how="conc", groups=groups)
    return float(np.median(e)) if len(e) else np.inf


def fit(points: list[PointConfig], start: Efficiency = DEFAULT_CALIBRATED, rounds: int = 2,
        steps: int = 4, n_points: int = 32, params: Iterable[str] = tuple(FIT_PARAMS),
        per_framework: bool = True) -> Efficiency:
    """Coordinate search: each round tries ``steps`` values of each parameter across its range,
    then narrows the range around the best."""
    best = start
    groups = _groups(points)
    best_loss = _loss(points, best, n_points, groups)
    full = {k: FIT_PARAMS[k] for k in params}
    if per_framework:
        for fw in sorted({p.framework for p in points if p.framework}):
            full[f"fw:{fw}"] = FRAMEWORK_RANGE
    ranges = dict(full)
    for _ in range(rounds):
        for name, (lo, hi) in ranges.items():
            for v in np.linspace(lo, hi, steps):
                cand = _set(best, name, float(v))
                loss = _loss(points, cand, n_points, groups)
                if loss < best_loss - 1e-9:
                    best, best_loss = cand, loss
        ranges = {k: (max(full[k][0], _get(best, k) - (hi - lo) / 4),
                      min(full[k][1], _get(best, k) + (hi - lo) / 4)) for k, (lo, hi) in ranges.items()}
    return best


def _get(eff: Efficiency, name: str) -> float:
    if name.startswith("fw:"):
        return dict(eff.framework_scale).get(name[3:], 1.0)
    return getattr(eff, name)


def _set(eff: Efficiency, name: str, value: float) -> Efficiency:
    if name.startswith("fw:"):
        d = dict(eff.framework_scale)
        d[name[3:]] = value
        return replace(eff, framework_scale=tuple(sorted(d.items())))
    return replace(eff, **{name: value})


def leave_one_gpu_out(points: list[PointConfig], **fit_kw) -> dict[str, dict[str, float]]:
    """Fit on every GPU but one, measure the error on that one. Keys: hardware; values:
    median and p90 absolute log error, count, and the pooled figures under ``"all"``."""
    hws = sorted({p.hardware for p in points if not supported(p)})
    out: dict[str, dict[str, float]] = {}
    pooled: list[np.ndarray] = []
    for hw in hws:
        train = [p for p in points if p.hardware != hw]
        test = [p for p in points if p.hardware == hw]
        eff = fit(train, **fit_kw)
        e = abs_log_errors(test, eff, how="conc")
        pooled.append(e)
        out[hw] = {"n": len(e), "median_abs_log_err": float(np.median(e)), "p90_abs_log_err": float(np.percentile(e, 90))}
    allv = np.concatenate(pooled) if pooled else np.zeros(0)
    if len(allv):
        out["all"] = {"n": len(allv), "median_abs_log_err": float(np.median(allv)),
                      "p90_abs_log_err": float(np.percentile(allv, 90))}
    return out


def load_fitted(path: str | Path | None = None) -> Efficiency | None:
    """The shipped fitted efficiencies (written by ``benchmarks/sol_accuracy.py --write``)."""
    try:
        text = Path(path).read_text() if path else (resources.files("servemark.sol") / "data" / FITTED_FILE).read_text()
    except (FileNotFoundError, OSError):
        return None
    d = json.loads(text)
    fields = set(asdict(Efficiency()))
    kw = {k: v for k, v in d.get("efficiency", d).items() if k in fields}
    if "framework_scale" in kw:
        kw["framework_scale"] = tuple((str(a), float(b)) for a, b in kw["framework_scale"])
    return Efficiency(**kw)


def save_fitted(eff: Efficiency, path: str | Path, meta: dict | None = None) -> None:
    Path(path).write_text(json.dumps({"efficiency": asdict(eff), **(meta or {})}, indent=2) + "\n")
