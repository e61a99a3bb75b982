"""How close to its scheduled time servemark sends each request of a replayed trace.

A Mooncake-format trace (default 2,000 requests, 5 ms apart) replayed against the calibration
server through the sweep runner; prints the send lag (sent - scheduled) p50/p99/max in ms, and
beside it the scheduler's wake lag (timer fired - scheduled), the client's own event-loop lag p99
from the monitor in the same run and the load average: on a busy machine the loop lag is what the
OS imposed, and the send lag cannot be below it.

    python benchmarks/workload_trace_timing.py [--requests N] [--gap-ms G]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console

from servemark.calibration.plan import CalibrationPlan
from servemark.calibration.process import CalibrationServer
from servemark.loadgen.records_io import read_records
from servemark.engines.check import parse_recipe
from servemark.sweep.recipe_run import SweepOptions, run_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--gap-ms", type=float, default=5.0)
    ap.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the demo model's)")
    a = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = [{"timestamp": a.gap_ms * i, "input_length": 64, "output_length": 2, "hash_ids": [i % 16]}
                for i in range(a.requests)]
        (tmp / "trace.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
        model = {"name": "gemma-3-270m", "path": "auto", "served_name": "calibration"}
        if a.tokenizer:
            model["tokenizer"] = a.tokenizer
        recipe = parse_recipe({"name": "trace-timing", "model": model, "engine": {"name": "vllm"},
                               "scenarios": [{"workload": {"kind": "trace", "path": "trace.jsonl"}}],
                               "warmup": {"per_conc": 0, "min": 4}})
        with CalibrationServer(CalibrationPlan(ttft_ms=2, itl_ms=1, record_truth=False)) as srv:
            opts = SweepOptions(db=tmp / "t.duckdb", runs_dir=tmp / "runs", endpoint=srv.base_url, recipe_dir=tmp)
            res = run_recipe(recipe, opts, Console(stderr=True, quiet=True))
        (p,) = res.points
        recs = [r for r in read_records(res.run_dir / "records" / f"{p.point_id}.parquet") if not r.warmup]
    lag = np.array([r.sent_at - r.scheduled_at for r in recs]) * 1e3
    print(f"trace replay: {len(recs)} requests {a.gap_ms:g} ms apart against the calibration server "
          f"({p.failed} failed)")
    print(f"send lag (sent - scheduled): p50 {np.percentile(lag, 50):.3f} ms, p99 {np.percentile(lag, 99):.3f} ms, "
          f"max {lag.max():.3f} ms")
    c = p.extra["client"]
    print(f"scheduler wake lag (fired - scheduled): p50 {c['schedule_lag_p50_ms']:.3f} ms, p99 {c['schedule_lag_p99_ms']:.3f} ms, "
          f"max {c['schedule_lag_max_ms']:.3f} ms")
    print(f"client event-loop lag p99 {p.extra['client']['loop_lag_p99_ms']:.3f} ms (machine load shows here); "
          f"load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after, {os.cpu_count()} CPUs")
    print(f"FIGURE trace send lag p99: {np.percentile(lag, 99):.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
