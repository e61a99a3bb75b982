"""Write the recipe for the concurrencies not yet measured in DB; print them (space-separated).

Used by device_run.sh so a second call on a warm machine measures only what the first one did not.
With ``GPU_LANE`` set (a GPU index list such as ``1``), the written recipe pins the engine to those
GPUs (``engine.env.CUDA_VISIBLE_DEVICES``) and a port of their own, so two one-GPU sweeps can share a two-GPU host.

    remaining.py DB RECIPE_IN RECIPE_OUT
"""
import os
import sys
from pathlib import Path

import yaml

db, recipe_in, recipe_out = sys.argv[1:4]
r = yaml.safe_load(Path(recipe_in).read_text())
done: set[int] = set()
if Path(db).exists():
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        done = {c for (c,) in con.execute("SELECT conc FROM points WHERE completed > 0 AND model = ?", [r["model"]["name"]]).fetchall()}
    finally:
        con.close()
r["concurrency"] = [c for c in r["concurrency"] if c not in done]
lane = os.environ.get("GPU_LANE", "").strip()
if lane:
    eng = r.setdefault("engine", {})
    eng.setdefault("env", {})["CUDA_VISIBLE_DEVICES"] = lane
    eng["port"] = 8100 + int(lane.split(",")[0])  # two lanes, two servers: one port each
Path(recipe_out).write_text(yaml.safe_dump(r, sort_keys=False))
print(" ".join(str(c) for c in r["concurrency"]))
