"""Chaos benchmark: sweeps through injected faults and kills, and what survived.

Every sweep is the real ``servemark`` CLI with the calibration engine (a real local subprocess
started by the sweep) and a real DuckDB file. Faults: request faults of the calibration server
(HTTP 500, dropped connection, malformed SSE, stall), a misbehaving server (usage inflated,
garbage, 10^18, negative; a 401 that echoes the API key), engine deaths (restarted once), another
process holding the store (writer and reader), and servemark itself killed (SIGKILL, SIGTERM,
SIGINT) then resumed. Prints: faults injected / survived, points planned / stored / lost,
orphaned processes, tracebacks, secrets leaked. Targets: 0 lost, 0 orphaned, 0 tracebacks.

    PYTHONPATH=src python benchmarks/chaos.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fault_support import (HOLD, calib_recipe, cli, engine_pids, has_traceback, kill_group_of, start_cli,  # noqa: E402
                           store_rows, wait_for_points, wait_gone, write_recipe)

KEY = "sk-" + secrets.token_hex(16)
"""A fresh fake API key each run: a server echoes it, and no stored or printed output may hold it."""


@dataclass
class Tally:
    injected: int = 0
    survived: int = 0
    planned: int = 0
    stored: int = 0
    orphans: int = 0
    tracebacks: int = 0
    leaks: int = 0
    notes: list[str] = field(default_factory=list)


def _outcome(t: Tally, name: str, tmp: Path, faults: int, planned: int, outs: list[str], port: int,
             ok: bool) -> None:
    db = tmp / "s.duckdb"
    stored = store_rows(db, "SELECT count(DISTINCT point_id) FROM points WHERE source = 'servemark'")[0][0] \
        if db.exists() else 0
    dupes = store_rows(db, "SELECT count(*) - count(DISTINCT point_id) FROM points")[0][0] if db.exists() else 0
    orphans = wait_gone(engine_pids(port), 20)
    kill_group_of(orphans)
    tb = sum(has_traceback(o) for o in outs)
    leak = sum(KEY in o for o in outs) + sum(KEY.encode() in f.read_bytes() for f in tmp.rglob("*") if f.is_file())
    good = ok and stored == planned and not orphans and not tb and not leak and not dupes
    t.injected += faults
    t.survived += faults if good else 0
    t.planned += planned
    t.stored += min(stored, planned)
    t.orphans += len(orphans)
    t.tracebacks += tb
    t.leaks += leak
    t.notes.append(f"{name:<28} faults {faults:>2}  points {stored}/{planned}  "
                   f"{'survived' if good else 'NOT SURVIVED'}" + (f"  orphans {len(orphans)}" if orphans else "")
                   + (f"  duplicates {dupes}" if dupes else ""))


def request_faults(t: Tally, tmp: Path) -> None:
    faults = {"http_500": [2, 11], "drop": [5], "malformed": [8], "stall": [14],
              "usage_inflated": [17], "usage_garbage": [20], "usage_huge": [23], "usage_negative": [26],
              "echo_key_401": [29, 30]}
    rec = calib_recipe("chaos-requests", conc=[1, 2, 4], faults=faults, stall_s=0.5)
    rec["max_failure_rate"] = 1.0
    p = cli(tmp, "run", str(write_recipe(tmp, rec)), SERVEMARK_API_KEY=KEY)
    _outcome(t, "request + usage faults", tmp, sum(map(len, faults.values())), 3, [p.stdout + p.stderr],
             rec["engine"]["port"], p.returncode == 0)


def engine_death(t: Tally, tmp: Path) -> None:
    rec = calib_recipe("chaos-death", conc=[1, 2, 4], faults={"die": [9]}, die_marker=str(tmp / "died"),
                       child_processes=2)
    p = cli(tmp, "run", str(write_recipe(tmp, rec)))
    _outcome(t, "engine death (restart once)", tmp, 1, 3, [p.stdout + p.stderr], rec["engine"]["port"],
             p.returncode == 0)


def store_held(t: Tally, tmp: Path, mode: str) -> None:
    rec = calib_recipe(f"chaos-lock-{mode}", conc=[1, 2, 4, 8], ttft_ms=50)
    db = tmp / "s.duckdb"
    sweep = start_cli(tmp, "run", str(write_recipe(tmp, rec)))
    holds = 0
    try:
        for _ in range(2):
            if not wait_for_points(db, holds + 1, 120):
                break
            h = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "3", mode], stdout=subprocess.PIPE, text=True)
            h.stdout.readline()
            holds += 1
            h.wait(30)
        out, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    _outcome(t, f"store held ({'writer' if mode == 'rw' else 'reader'})", tmp, holds, 4, [out],
             rec["engine"]["port"], sweep.returncode == 0)


def servemark_killed(t: Tally, tmp: Path, sig: signal.Signals) -> None:
    rec = calib_recipe(f"chaos-{sig.name.lower()}", conc=[1, 2, 4, 8], ttft_ms=40, itl_ms=10, child_processes=2,
                       parent_watch=False)
    path = write_recipe(tmp, rec)
    db = tmp / "s.duckdb"
    sweep = start_cli(tmp, "run", str(path))
    try:
        wait_for_points(db, 2, 120)
        sweep.send_signal(sig)
        out, _ = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
    orphans = wait_gone(engine_pids(rec["engine"]["port"]), 20)  # before the resume starts a new engine
    t.orphans += len(orphans)
    kill_group_of(orphans)
    p = cli(tmp, "run", str(path), "--resume")
    _outcome(t, f"servemark {sig.name} + resume", tmp, 1, 4, [out, p.stdout + p.stderr], rec["engine"]["port"],
             p.returncode == 0 and not orphans)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    t = Tally()
    t0 = time.monotonic()
    for _ in range(a.rounds):
        for fn in (request_faults, engine_death, lambda t, d: store_held(t, d, "rw"), lambda t, d: store_held(t, d, "ro"),
                   lambda t, d: servemark_killed(t, d, signal.SIGKILL), lambda t, d: servemark_killed(t, d, signal.SIGTERM),
                   lambda t, d: servemark_killed(t, d, signal.SIGINT)):
            with tempfile.TemporaryDirectory(prefix="servemark-chaos-") as d:
                fn(t, Path(d))
    for n in t.notes:
        print(n)
    print(json.dumps({
        "faults_injected": t.injected, "faults_survived": t.survived,
        "points_planned": t.planned, "points_stored": t.stored, "points_lost": t.planned - t.stored,
        "orphaned_processes": t.orphans, "tracebacks": t.tracebacks, "secrets_leaked": t.leaks,
        "wall_s": round(time.monotonic() - t0, 1)}, indent=2))


if __name__ == "__main__":
    main()
