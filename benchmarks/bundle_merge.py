"""Merging many run bundles into one store: the head node's cost of a fleet of Slurm jobs.

Writes N bundles (default 1,000) the way a job's task does (``export_run`` from a store holding
one run, with its request-record Parquet files and an engine log), then times
``import_bundles`` merging them all into one empty store, and again into the same store (the
idempotent re-merge a head node does when a collector runs twice). Prints the figures; asserts
only that every point arrived once.

    .venv/bin/python benchmarks/bundle_merge.py [--bundles 1000] [--points 6] [--requests 64] [--dir PATH]

Points and records are synthetic (a measured sweep's shape: ``--points`` concurrencies per run,
``--requests`` request records per point); everything else (tar, checksums, Parquet, DuckDB) is
the real path.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from servemark.bundles import export_from, import_bundles
from servemark.loadgen.records_io import write_records
from servemark.point import Point
from servemark.records import RequestRecord
from servemark.store import Store


def make_run(store: Store, runs: Path, k: int, n_points: int, n_requests: int, rng: np.random.Generator) -> str:
    rid = f"bench-{k:05d}"
    run_dir = runs / rid
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.json").write_text(json.dumps({"name": f"bench-{k % 20}", "concurrency": [2 ** i for i in range(n_points)]}))
    (run_dir / "engine-L0-server.log").write_text("INFO started\n" * 200)
    points = []
    for i in range(n_points):
        pid, conc = f"{rid}-{i:012x}", 2 ** i
        t0 = rng.uniform(0, 1, n_requests).cumsum()
        recs = [RequestRecord(point_id=pid, request_id=j, scheduled_at=float(t), sent_at=float(t),
                              first_token_at=float(t + 0.05), last_token_at=float(t + 1.0), done_at=float(t + 1.0),
                              prompt_tokens=1024, output_tokens=128)
                for j, t in enumerate(t0)]
        write_records(recs, run_dir / "records" / f"{pid}.parquet")
        intvty = float(rng.uniform(20, 200))
        points.append(Point(run_id=rid, point_id=pid, model="synthetic-70b", engine="vllm", hardware="h200",
                            gpu_count=8, isl=1024, osl=128, conc=conc, num_requests=n_requests, completed=n_requests,
                            median_intvty=intvty, median_tpot=1 / intvty, tput_per_gpu=float(rng.uniform(500, 5000)),
                            date="2026-11-29", extra={"placement": {"server": f"node{k % 64}", "client": f"node{k % 64}"}}))
    store.add_points(points)
    store.upsert_run({"run_id": rid, "name": f"bench-{k % 20}", "kind": "sweep", "status": "done",
                      "started_at": "2026-11-29T00:00:00+00:00", "finished_at": "2026-11-29T01:00:00+00:00",
                      "run_dir": str(run_dir)})
    return rid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Needs only servemark (synthetic runs).")
    ap.add_argument("--bundles", type=int, default=1000)
    ap.add_argument("--points", type=int, default=6, help="points per run (bundle)")
    ap.add_argument("--requests", type=int, default=64, help="request records per point")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.dir or Path(tmp)
        src_runs, bundles_dir = work / "cluster-runs", work / "bundles"
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        paths = []
        with Store(work / "cluster.duckdb") as store:
            for k in range(a.bundles):
                # each job's store holds one run; exporting from one shared store is the same code path
                rid = make_run(store, src_runs, k, a.points, a.requests, rng)
                paths.append(bundles_dir / f"{rid}.tar.gz")
                export_from(store, rid, paths[-1])
        made = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths)
        print(f"wrote {len(paths)} bundles ({a.points} points x {a.requests} request records each), "
              f"{size / 1e6:.1f} MB, in {made:.1f} s (setup, not the figure)")

        t0 = time.perf_counter()
        res = import_bundles(paths, work / "head.duckdb", work / "head-runs")
        merge = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = import_bundles(paths, work / "head.duckdb", work / "head-runs")
        remerge = time.perf_counter() - t0
        with Store(work / "head.duckdb", read_only=True) as s:
            stored = s.count_points()
        assert res.added == stored == a.bundles * a.points and again.added == 0, (res, again, stored)
        print(f"merge {len(paths)} bundles into an empty store: {merge:.2f} s "
              f"({merge / len(paths) * 1e3:.1f} ms per bundle, {stored / merge:,.0f} points/s), {stored} points")
        print(f"re-merge the same {len(paths)} bundles (idempotent, 0 new): {remerge:.2f} s")


if __name__ == "__main__":
    main()
