#!/usr/bin/env python3
"""How good is the speed-of-light model against the 1,897 real InferenceX rows? Prints:

1. the share of rows at or below the strict bound (target 100 %) and any violation;
2. the achieved fraction of SOL per GPU (median, p90, max of measured / strict SOL);
3. the calibrated estimate's error: in-sample, and leave-one-GPU-out (fit on 8 GPUs, predict the
   9th) median and p90 of |ln(predicted / measured)| tput_per_gpu at the point's own layout and
   concurrency (target: median <= 20 %, i.e. |ln| <= 0.18);
4. predictions per second: layouts x batch sizes evaluated per second in a config search.

Usage: python benchmarks/sol_accuracy.py [--data ../shared/data/inferencex] [--quick] [--write]
``--write`` stores the efficiencies fitted on all rows as the package's calibrated.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from servemark.sol.calibrate import abs_log_errors, fit, leave_one_gpu_out, save_fitted  # noqa: E402
from servemark.sol.frontier import curves, pareto, FrontierPoint  # noqa: E402
from servemark.sol.hardware import load_catalogue  # noqa: E402
from servemark.sol.layout import DEFAULT_CALIBRATED, CandidateLayout  # noqa: E402
from servemark.sol.measured import fractions, load_inferencex_rows  # noqa: E402
from servemark.modelspec.architecture import load_architecture  # noqa: E402


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Needs InferenceX result files (benchmarks.json): --data, default ../shared/data/inferencex "
                                        "beside the checkout; tests/data/inferencex holds a vendored copy.")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "inferencex"),
                    help="folder with InferenceX benchmarks.json")
    ap.add_argument("--quick", action="store_true", help="skip the leave-one-GPU-out fits")
    ap.add_argument("--write", action="store_true", help="write the all-rows fit to sol/data/calibrated.json")
    args = ap.parse_args()
    rows = load_inferencex_rows(args.data)
    if not rows:
        print(f"no InferenceX rows under {args.data}")
        return 1
    print(f"InferenceX rows: {len(rows)} ({', '.join(sorted({r.hardware for r in rows}))})")

    # 1-2. strict bound -------------------------------------------------------------------
    t = time.perf_counter()
    fr = fractions(rows, kind="strict")
    dt = time.perf_counter() - t
    judged = [f for f in fr if f.fraction is not None]
    below = [f for f in judged if f.fraction <= 1.0]
    print(f"\n[strict] rows at or below the strict bound: {len(below)}/{len(fr)} = {pct(len(below) / len(fr))}"
          f"  ({dt:.2f} s for all rows)")
    for f in sorted((f for f in judged if f.fraction > 1.0), key=lambda f: -f.fraction)[:10]:
        c = f.config
        print(f"  VIOLATION {f.point_id}: {c.hardware} {c.precision} {c.framework} conc {c.conc} "
              f"measured {c.tput_per_gpu:.0f} > SOL {f.sol_tput_per_gpu:.0f} tok/s/GPU at {c.intvty:.1f} tok/s/user")
    print("[strict] achieved fraction of SOL (measured / strict SOL at the point's interactivity):")
    print(f"  {'hardware':8s} {'n':>5s} {'median':>8s} {'p90':>8s} {'max':>8s}")
    by: dict[str, list[float]] = {}
    for f in judged:
        by.setdefault(f.config.hardware, []).append(f.fraction)
    for hw, v in sorted(by.items()):
        print(f"  {hw:8s} {len(v):5d} {pct(np.median(v)):>8s} {pct(np.percentile(v, 90)):>8s} {pct(max(v)):>8s}")

    # 3. calibrated estimate -------------------------------------------------------------
    t = time.perf_counter()
    eff = fit(rows)
    dt = time.perf_counter() - t
    e = abs_log_errors(rows, eff)
    e0 = abs_log_errors(rows, DEFAULT_CALIBRATED)
    print(f"\n[calibrated] unfitted defaults: median |ln err| {np.median(e0):.3f}")
    print(f"[calibrated] fitted on all rows ({dt:.0f} s): median |ln err| {np.median(e):.3f} "
          f"(x{math.exp(np.median(e)):.2f}), p90 {np.percentile(e, 90):.3f} (x{math.exp(np.percentile(e, 90)):.2f})")
    print("  efficiencies: " + ", ".join(f"{k}={v:.3g}" for k, v in asdict(eff).items() if isinstance(v, float)))
    print("  engine multipliers: " + ", ".join(f"{k}={v:.3g}" for k, v in eff.framework_scale))
    logo = None
    if not args.quick:
        t = time.perf_counter()
        logo = leave_one_gpu_out(rows)
        dt = time.perf_counter() - t
        print(f"[calibrated] leave-one-GPU-out ({dt:.0f} s): held-out |ln(pred/meas)| per GPU")
        print(f"  {'held out':8s} {'n':>5s} {'median':>8s} {'p90':>8s}")
        for hw, d in logo.items():
            print(f"  {hw:8s} {d['n']:5d} {d['median_abs_log_err']:8.3f} {d['p90_abs_log_err']:8.3f}")
        a = logo["all"]
        print(f"  pooled held-out: median {a['median_abs_log_err']:.3f} (= {pct(math.exp(a['median_abs_log_err']) - 1)} "
              f"off), p90 {a['p90_abs_log_err']:.3f} (= {pct(math.exp(a['p90_abs_log_err']) - 1)} off); "
              f"target median <= 20%: {'MET' if math.exp(a['median_abs_log_err']) - 1 <= 0.20 else 'NOT MET'}")

    # 4. speed -------------------------------------------------------------------------------
    spec = load_architecture("deepseek-r1")
    hw = load_catalogue()["gb200"]
    lays = [CandidateLayout(n_gpu=n, tp=tp, ep=ep, dp_attention=dpa, disagg=dis, mtp_k=k)
            for n in (4, 8, 16, 24, 32, 48, 64, 72) for tp in (1, n) for ep in (1, n) for dpa in (False, True)
            for dis in (False, True) for k in (0, 1, 2, 3)]
    for mode in ("strict", "calibrated"):
        t = time.perf_counter()
        cs = curves(spec, hw, "fp4", 1024, 1024, lays, mode=mode, efficiency=None if mode == "strict" else eff,
                    n_points=64)
        pts = [FrontierPoint(float(i), float(tp_), float(c), cv.layout)
               for cv in cs for i, tp_, c in zip(cv.intvty, cv.tput_per_gpu, cv.conc)]
        hull = pareto(pts)
        dt = time.perf_counter() - t
        print(f"\n[speed] {mode}: {len(lays)} layouts x 64 batch sizes = {len(pts)} predictions in {dt:.2f} s "
              f"-> {len(pts) / dt:,.0f} predictions/s, {len(lays) / dt:,.0f} layouts/s; hull {len(hull)} points")
    if args.write:
        out = REPO / "src" / "servemark" / "sol" / "data" / "calibrated.json"
        meta = {"fitted_on": "InferenceX DeepSeek-R1 rows (../shared/data/inferencex), all GPUs",
                "rows": len(rows), "in_sample_median_abs_log_err": float(np.median(e)),
                "in_sample_p90_abs_log_err": float(np.percentile(e, 90))}
        if logo:
            meta["leave_one_gpu_out"] = logo
        save_fitted(eff, out, meta)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
