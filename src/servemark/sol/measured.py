"""Measured points against the SOL: what layout family a point belongs to, and measured / SOL.

A point is compared with the strict frontier of its own deployment size (the GPUs one aggregated
instance, or one decode instance, is sharded over) and its own technique (MTP or not), over
aggregated and disaggregated serving: the most any engine could deliver on that many GPUs at the
point's interactivity. Interactivity is the median one (``median_intvty``, 1/median TPOT), the
statistic every InferenceX row carries.

A fraction above 1 means the bound is wrong (a unit slip, a missing precision, ...): it is
reported as a violation, never clipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from servemark.point import Point
from servemark.recipe.schema import Layout as RecipeLayout
from servemark.sol.frontier import MAX_MTP_K, curves, sol_at
from servemark.sol.hardware import load_catalogue
from servemark.sol.layout import Efficiency, CandidateLayout
from servemark.modelspec.architecture import load_architecture
from servemark.modelspec.catalogue import canonical_name


@dataclass(frozen=True)
class PointConfig:
    """The parts of a measured point the SOL model needs."""

    point_id: str
    model: str
    hardware: str
    precision: str
    isl: int
    osl: int
    n_instance: int
    """GPUs of one aggregated instance, or of one decode instance."""
    tp: int
    ep: int
    dp_attention: bool
    disagg: bool
    mtp: bool
    prefill_per_decode_gpu: float | None
    conc: int
    intvty: float
    tput_per_gpu: float
    range_ratio: float = 0.8
    framework: str = ""
    n_decode_total: int = 0
    """All decode GPUs (aggregated: the instance's GPUs); the concurrency is spread over them."""

    @property
    def batch_per_gpu(self) -> float:
        return self.conc / max(1, self.n_decode_total or self.n_instance)

    def family(self) -> tuple:
        return (self.model, self.hardware, self.precision, self.isl, self.osl, self.n_instance, self.mtp,
                self.range_ratio)

    def own_layouts(self) -> list[CandidateLayout]:
        """The point's own layout (calibrated estimate), one per MTP depth when it uses MTP."""
        ks = range(1, MAX_MTP_K + 1) if self.mtp else [0]
        return [CandidateLayout(n_gpu=self.n_instance, tp=self.tp, ep=self.ep, dp_attention=self.dp_attention,
                       disagg=self.disagg, mtp_k=k,
                       prefill_per_decode_gpu=self.prefill_per_decode_gpu if self.disagg else None) for k in ks]


def strict_layouts(pc: PointConfig) -> list[CandidateLayout]:
    ks = range(1, MAX_MTP_K + 1) if pc.mtp else [0]
    return [CandidateLayout(n_gpu=pc.n_instance, disagg=d, mtp_k=k) for k in ks for d in (False, True)]


# ---- readers ----------------------------------------------------------------------------------
def load_inferencex_rows(folder: str | Path) -> list[PointConfig]:
    """Both InferenceX capture files as PointConfigs (ids: file stem + row index, so a row in both
    files stays two rows). The importer parses the rows; this only reads the Points it returns."""
    from servemark.importers.inferencex import read_points

    out = []
    for name in ("benchmarks.json", "benchmarks-history.json"):
        p = Path(folder) / name
        if not p.exists():
            continue
        out.extend(replace(from_point(pt), point_id=f"{p.stem}:{i}") for i, pt in enumerate(read_points(p)))
    return out


def _from_recipe_layout(p: Point, lay: RecipeLayout) -> PointConfig:
    """A point servemark measured: its layout is the recipe's typed one."""
    if lay.disaggregated:
        dec, pre = lay.decode, lay.prefill
        inst, tp, ep, dpa = dec.gpus_per_worker, dec.tp, dec.ep, dec.dp_attention
        ratio, n_decode_total = pre.gpus / dec.gpus, dec.gpus
    else:
        inst = tp_pp = lay.tp * lay.pp
        tp, ep, dpa, ratio, n_decode_total = lay.tp, lay.ep, lay.dp_attention, None, tp_pp
    return _config(p, inst, tp, ep, dpa, ratio, n_decode_total, mtp=lay.spec_method != "none")


def _config(p: Point, inst: int, tp: int, ep: int, dp_attention: bool, ratio: float | None,
            n_decode_total: int, mtp: bool) -> PointConfig:
    intvty = p.median_intvty or (1.0 / p.median_tpot if p.median_tpot else 0.0)
    rr = p.random_range_ratio if p.random_range_ratio is not None else 1.0
    if p.source == "inferencex" and rr == 1.0:
        rr = 0.8
    return PointConfig(
        point_id=p.point_id, model=p.model, hardware=p.hardware, precision=p.precision or "bf16",
        isl=int(p.isl), osl=int(p.osl), n_instance=int(inst), tp=int(tp), ep=int(ep), dp_attention=bool(dp_attention),
        disagg=bool(p.disagg), mtp=mtp, prefill_per_decode_gpu=ratio, conc=int(p.conc),
        intvty=float(intvty or 0.0), tput_per_gpu=float(p.tput_per_gpu or 0.0), range_ratio=float(rr),
        framework=p.engine, n_decode_total=int(n_decode_total),
    )


def from_point(p: Point) -> PointConfig:
    """A stored point, read from its own fields (no detour through an InferenceX row).

    A point servemark measured carries the recipe's typed layout (``Point.layout``). An imported
    point has the flat fields, and for a disaggregated one the ``workers`` JSON the InferenceX
    importer writes (``{"decode": {"tp", "ep", "dp_attention", "num_workers"}, "prefill": {...}}``):
    one decode instance is the decode GPUs over the decode workers. InferenceX points use its
    request-length range ratio 0.8 when the point does not say."""
    mtp = (p.spec_method or "none") != "none"
    if p.layout:
        try:
            return _from_recipe_layout(p, RecipeLayout.model_validate(p.layout))
        except ValueError:
            pass  # a layout this version cannot read: fall back to the flat fields
    workers: dict[str, Any] = {}
    if p.workers:
        try:
            parsed = json.loads(p.workers)
            workers = parsed if isinstance(parsed, dict) else {}
        except (TypeError, json.JSONDecodeError):
            workers = {}
    dec = workers.get("decode") if isinstance(workers.get("decode"), dict) else {}
    tp = int(dec.get("tp") or p.tp or 1)
    ep = int(dec.get("ep") or p.ep or 1)
    ratio = None
    if p.disagg:
        n_dec = int(p.num_decode_gpu or p.gpu_count or tp)
        n_pre = int(p.num_prefill_gpu or 0)
        n_workers = int(dec.get("num_workers") or 0)
        inst = max(1, n_dec // n_workers) if n_workers else n_dec
        ratio = n_pre / n_dec if (n_pre and n_workers) else None
        n_decode_total = int(p.num_decode_gpu or p.gpu_count or inst)
    else:
        inst = max(1, int(p.tp or 1) * int(p.pp or 1))
        n_decode_total = inst
    return _config(p, inst, tp, ep, bool(dec.get("dp_attention", p.dp_attention)), ratio, n_decode_total, mtp)


# ---- measured / SOL -----------------------------------------------------------------------------
@dataclass
class Fraction:
    point_id: str
    kind: str
    sol_tput_per_gpu: float | None
    fraction: float | None
    note: str
    config: PointConfig | None = None
    layout: str = ""


def supported(pc: PointConfig) -> str:
    """Empty if the SOL model can judge this point, else why not."""
    if not canonical_name(pc.model):
        return f"no shipped model spec for {pc.model!r}"
    if pc.hardware not in load_catalogue():
        return f"hardware {pc.hardware!r} not in the catalogue"
    if not pc.isl or not pc.osl:
        return "isl/osl unknown"
    if pc.intvty <= 0 or pc.tput_per_gpu <= 0:
        return "no interactivity or throughput measured"
    return ""


def fractions(points: Iterable[PointConfig], kind: str = "strict", efficiency: Efficiency | None = None,
              n_points: int = 96) -> list[Fraction]:
    """measured tput_per_gpu / SOL tput_per_gpu at each point's interactivity."""
    pts = list(points)
    out: list[Fraction] = []
    groups: dict[tuple, list[PointConfig]] = {}
    for pc in pts:
        why = supported(pc)
        if why:
            out.append(Fraction(pc.point_id, kind, None, None, why, pc))
            continue
        key = pc.family() if kind == "strict" else pc.family() + (pc.tp, pc.ep, pc.dp_attention, pc.disagg,
                                                                   pc.prefill_per_decode_gpu, pc.framework)
        groups.setdefault(key, []).append(pc)
    for key, members in groups.items():
        pc0 = members[0]
        spec = load_architecture(pc0.model)
        hw = load_catalogue()[pc0.hardware]
        lays = strict_layouts(pc0) if kind == "strict" else pc0.own_layouts()
        eff = None
        if kind == "calibrated":
            from servemark.sol.calibrate import load_fitted
            from servemark.sol.layout import DEFAULT_CALIBRATED

            eff = (efficiency or load_fitted() or DEFAULT_CALIBRATED).for_framework(pc0.framework)
        cs = curves(spec, hw, pc0.precision, pc0.isl, pc0.osl, lays, mode=kind, efficiency=eff,
                    range_ratio=pc0.range_ratio, n_points=n_points)
        sol, lay = sol_at(cs, np.array([m.intvty for m in members]))
        for m, s, l in zip(members, sol, lay):
            if s <= 0:
                note = "VIOLATION: interactivity above anything the bound allows" if kind == "strict" else \
                    "interactivity beyond the estimate's reach"
                if kind == "strict" and hw.measured:
                    note = "interactivity above a bound built from MEASURED peaks: the row's peaks are too low"
                out.append(Fraction(m.point_id, kind, 0.0, float("inf"), note, m))
                continue
            f = m.tput_per_gpu / s
            note = ""
            if kind == "strict" and f > 1.0:
                note = ("above a bound built from MEASURED (not vendor) peaks: the row's peaks are too low"
                        if hw.measured else "VIOLATION: measured above the strict bound")
            out.append(Fraction(m.point_id, kind, float(s), float(f), note, m, l.label() if l else ""))
    return out
