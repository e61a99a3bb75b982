"""Turn a device job's results (``device_run.sh collect``'s ``results.tar.gz``, unpacked) into data/gpu datasets.

One folder per recipe that has points: the store's ``points``/``runs`` as Parquet, each point's
request records, the NVML trace of the sweep (the largest one recorded for that recipe), the
``llama-batched-bench`` output (``ceiling.jsonl``, the engine ceiling) and its command line, the
resolved recipe and launch line, the model's synthesis record, the host description and the sweep log.

    keep_results.py RESULTS_DIR DATA_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def keep(results: Path, data: Path) -> list[str]:
    import pyarrow.parquet as pq

    kept = []
    for export in sorted((results / "export").iterdir()):
        name = export.name
        pts = pq.read_table(export / "points.parquet").to_pylist()
        if not pts:
            continue
        dest = data / name
        (dest / "records").mkdir(parents=True, exist_ok=True)
        shutil.copy2(export / "points.parquet", dest / "points.parquet")
        shutil.copy2(export / "runs.parquet", dest / "runs.parquet")
        runs = {p["run_id"] for p in pts}
        for run_dir in (results / "runs" / name).iterdir():
            if run_dir.name not in runs:
                continue
            for p in pts:
                rec = run_dir / "records" / f"{p['point_id']}.parquet"
                if rec.is_file():
                    shutil.copy2(rec, dest / "records" / rec.name)
            shutil.copy2(run_dir / "recipe.json", dest / "recipe.json")
            shutil.copy2(run_dir / "launch-L0.json", dest / "launch.json")
        traces = sorted((results / "traces").glob(f"{name}-*.json.gz"), key=lambda t: t.stat().st_size)
        if traces:
            shutil.copy2(traces[-1], dest / f"nvml-trace-{traces[-1].name.removeprefix(name + '-')}")
        for i, jl in enumerate(sorted((results / "bench").glob(f"{name}-[0-9].jsonl"))):
            shutil.copy2(jl, dest / ("ceiling.jsonl" if i == 0 else f"ceiling-{i}.jsonl"))
            argv = jl.with_suffix(".argv")
            if argv.is_file():
                (dest / "ceiling-argv.txt").write_text(" ".join(argv.read_text().split("\n")).strip() + "\n")
        model = pts[0]["model"].removesuffix("-synth")
        for s in (results / "logs").glob(f"{model}-synth-*.synth.json"):
            shutil.copy2(s, dest / "synth.json")
        shutil.copy2(results / "logs" / "host.txt", dest / "host.txt")
        log = results / "logs" / f"{name}-sweep.log"
        if log.is_file():
            shutil.copy2(log, dest / "sweep.log")
        kept.append(name)
    return kept


if __name__ == "__main__":
    for n in keep(Path(sys.argv[1]), Path(sys.argv[2])):
        print(n)
