"""Analysis at scale: 1,000,000 synthetic points in 1,000 groups -> ingest, all frontiers, a cost table.

Target (issue 4): under 10 s in total on the 2-core development machine. Prints each stage's time.

    .venv/bin/python benchmarks/analysis_scale.py [--points 1000000] [--groups 1000] [--db PATH]

Points are synthetic but shaped like real sweeps: per group a throughput-vs-interactivity trade-off
(throughput falls as interactivity rises) with multiplicative noise, so frontiers hold a few dozen
points each. The store is a real DuckDB file (a temporary one unless --db is given).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from servemark.analysis.prices import load_prices
from servemark.analysis.scale import cost_rows, frontier_set
from servemark.store import Store

HARDWARE = ["h100", "h200", "b200", "b300", "gb200", "gb300", "mi300x", "mi325x", "mi355x", "rtx6000pro"]
ENGINES = ["vllm", "sglang", "trt", "dynamo-trt", "dynamo-sglang", "atom", "mori-sglang", "llama.cpp", "tgi", "lmdeploy"]
PRECISIONS = ["fp4", "fp8", "bf16", "int4", "fp6", "mxfp4", "nvfp4", "int8", "fp16", "w4a8"]


def synthesise(n: int, groups: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    g = np.arange(n) % groups
    hw = pa.DictionaryArray.from_arrays(pa.array(g % 10, pa.int32()), pa.array(HARDWARE)).cast(pa.string())
    eng = pa.DictionaryArray.from_arrays(pa.array((g // 10) % 10, pa.int32()), pa.array(ENGINES)).cast(pa.string())
    prec = pa.DictionaryArray.from_arrays(pa.array((g // 100) % 10, pa.int32()), pa.array(PRECISIONS)).cast(pa.string())
    scale = 500.0 + 50.0 * (g % 37)
    intvty = rng.uniform(5.0, 200.0, n)
    tput = scale * 200.0 / intvty * rng.lognormal(0.0, 0.15, n)
    conc = np.maximum(1, (tput / intvty * 8).astype(np.int64))
    ids = pc.binary_join_element_wise("syn-", pc.cast(pa.array(np.arange(n)), pa.string()), "")
    run = pc.binary_join_element_wise("run-", pc.cast(pa.array(np.arange(n) // 1000), pa.string()), "")

    def const(v: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([v])).cast(pa.string())

    cols = {
        "point_id": ids, "run_id": run,
        "model": const("synthetic-70b"), "hardware": hw, "engine": eng, "precision": prec,
        "spec_method": const("none"), "disagg": np.zeros(n, dtype=bool),
        "isl": np.full(n, 1024, dtype=np.int64), "osl": np.full(n, 1024, dtype=np.int64),
        "conc": conc, "tp": np.full(n, 8, dtype=np.int64), "ep": np.ones(n, dtype=np.int64),
        "gpu_count": np.full(n, 8, dtype=np.int64), "date": const("2026-11-22"),
        "median_intvty": intvty, "median_tpot": 1.0 / intvty, "tput_per_gpu": tput,
        "output_tput_per_gpu": tput / 2, "input_tput_per_gpu": tput / 2,
        "source": const("synthetic"), "flags": const("[]"), "extra": const("{}"),
    }
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in cols.items()})


class Clock:
    """Wall and CPU seconds since the previous lap (CPU shows the work when the host is busy)."""

    def __init__(self) -> None:
        self.w, self.c = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = (w - self.w, c - self.c)
        self.w, self.c = w, c
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Needs only servemark (synthetic points).")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=1_000)
    ap.add_argument("--at", type=float, default=35.0, help="interactivity of the cost table (tok/s/user)")
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "scale.duckdb"
        clock = Clock()
        table = synthesise(args.points, args.groups)
        t_syn = clock.lap()
        with Store(db) as store:
            store.upsert_table(table)
            t_ing = clock.lap()
            fs = frontier_set(store)
            t_fr = clock.lap()
            rows = cost_rows(fs, args.at, load_prices())
            t_cost = clock.lap()
            stored = store.count_points()
        on = sum(len(g.x) for g in fs.groups)
        ok = sum(r["status"] == "ok" for r in rows)
        print(f"points stored            {stored:,} in {len(fs.groups):,} groups")
        print("stage                      wall s   CPU s (this process, all threads)")
        print(f"synthesise (numpy/arrow)  {t_syn[0]:7.2f} {t_syn[1]:7.2f}")
        print(f"ingest (DuckDB upsert)    {t_ing[0]:7.2f} {t_ing[1]:7.2f}")
        print(f"all frontiers             {t_fr[0]:7.2f} {t_fr[1]:7.2f}   ({on:,} frontier points, {on / len(fs.groups):.1f} per group)")
        print(f"cost table at {args.at:<5g}       {t_cost[0]:7.2f} {t_cost[1]:7.2f}   ({ok:,} of {len(rows):,} groups in range)")
        total = [t_ing[i] + t_fr[i] + t_cost[i] for i in (0, 1)]
        print(f"ingest + frontiers + cost {total[0]:7.2f} {total[1]:7.2f}   (target < 10 s wall)")


if __name__ == "__main__":
    main()
