"""How often the regression gate cries wolf, and how often it catches a real slowdown.

On the simulated engine (``servemark.calibration.simulated``, in-process, virtual time; each run is
a whole sweep measured through ``metrics.summarize`` exactly as ``servemark run`` stores it):

- A/A: two runs of the same engine; the gate's false-alarm rate (target <= 5%);
- A/B: B slower by 2, 3, 5, 10%; the detection rate per effect size (target >= 90% at 5% with 3 trials);
- the trials per run needed to detect a 3% slowdown 90% of the time.

The gate is ``servemark gate``'s function (``analysis.uncertainty.gate`` on ``value_estimate`` of
each run): one-sided, 95% confidence, ``--max-regression`` as given (default 0: any significant
regression). Noise: per-request log-normal 5%, per-trial (between runs) 1% unless told otherwise.

    python benchmarks/gate_power.py [--reps 100] [--trial-noise 0.01] [--max-regression 0]
"""

from __future__ import annotations

import argparse
import time

from servemark.analysis.uncertainty import gate, value_estimate
from servemark.calibration.simulated import SimModel, simulate_run

CONCS = (4, 8, 16, 32, 64)
AT = 90.0


def _estimate(m: SimModel, trials: int, seed: int, tag: str):
    pts, rows = simulate_run(m, tag, CONCS, trials=trials, isl=64, osl=16, per_conc=4, seed=seed)
    by = {}
    for r in rows:
        by.setdefault(r.trial_of, []).append(r)
    return value_estimate(pts, AT, by)


def rate(effect: float, trials: int, reps: int, args: argparse.Namespace, salt: int) -> float:
    hits = 0
    for r in range(reps):
        a = _estimate(SimModel(noise=args.noise, trial_noise=args.trial_noise), trials, salt * 10**6 + 2 * r, "a")
        b = _estimate(SimModel(noise=args.noise, trial_noise=args.trial_noise, slowdown=1 + effect), trials,
                      salt * 10**6 + 2 * r + 1, "b")
        hits += bool(gate(a, b, args.max_regression)["failed"])
    return hits / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--trial-noise", type=float, default=0.01)
    ap.add_argument("--max-regression", type=float, default=0.0)
    ap.add_argument("--trials", type=int, nargs="*", default=[1, 2, 3, 5])
    ap.add_argument("--no-search", action="store_true", help="skip the search for the trials a 3%% slowdown needs")
    args = ap.parse_args()
    t0 = time.perf_counter()
    print(f"simulated engine: request noise {args.noise:.0%}, trial noise {args.trial_noise:.0%}; gate one-sided 95%, "
          f"max regression {args.max_regression:.0%}, at {AT:g} tok/s/user; {args.reps} repetitions per cell")
    effects = (0.0, 0.02, 0.03, 0.05, 0.10)
    print(f"{'trials':>6} " + " ".join(f"{'A/A' if e == 0 else f'B -{e:.0%}':>8}" for e in effects))
    table = {}
    for n in args.trials:
        row = [rate(e, n, args.reps, args, salt=int(e * 1000) + 100 * n) for e in effects]
        table[n] = row
        print(f"{n:>6} " + " ".join(f"{v:>8.0%}" for v in row), flush=True)
    print("(A/A column: false-alarm rate; B columns: detection rate)")
    need = None
    for n in () if args.no_search else (2, 3, 4, 5, 6, 8, 10):
        d = table[n][2] if n in table else rate(0.03, n, args.reps, args, salt=30 + 100 * n)
        print(f"  3% slowdown, {n} trials: detected {d:.0%}", flush=True)
        if d >= 0.9:
            need = n
            break
    if not args.no_search:
        print(f"trials needed to detect 3% at >= 90%: {need if need else '> 10'}")
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
