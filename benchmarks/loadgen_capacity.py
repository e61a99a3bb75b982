"""How much load can servemark's client drive, how precisely, and how does the peer compare?

Both clients run against the same calibration server (one process, its own CPU), which writes
every chunk at planned times and records when it really did. Per client and level it prints:

* token events/s actually delivered (server truth: chunks / span of chunk send times),
* the client's CPU cost per token event (user+system of the client process over its load phase
  only; the peer's import, tokenizer and dataset build are not charged) and the rate one core
  would sustain at that cost,
* the per-chunk timing error: client timestamp - server send time (ms, p50/p99), on the shared
  monotonic clock,
* failures.

The peer is ``vllm bench serve``'s client (vLLM's Python package, run with the vLLM environment's
Python through ``benchmarks/_vllm_peer.py``). Ratios are servemark / peer.

Run: ``.venv/bin/python benchmarks/loadgen_capacity.py [--quick] [--peer-python PATH]``.
Figures depend on the host and on whatever else runs on it; the script prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from servemark.calibration import CalibrationPlan, CalibrationServer
from servemark.calibration.measure import timing_errors
from servemark.loadgen import LoadSpec, run_load
from servemark.workload import Prompt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _peer_env import PEER_NEEDS, add_peer_args, resolve_peer  # noqa: E402

PEER_TOKENIZER = ""
"""Set from --peer-tokenizer (default: the demo model's folder) in main()."""


def delivered_rate(truth: dict[str, Any]) -> tuple[float, int]:
    times = [t for r in truth["requests"].values() for t in r["chunk_ns"]]
    if len(times) < 2:
        return 0.0, len(times)
    return len(times) / ((max(times) - min(times)) / 1e9), len(times)


def pct(a: list[float], q: float) -> float | None:
    return float(np.percentile(a, q)) if a else None


def run_servemark(srv: CalibrationServer, conc: int, n: int, osl: int, workers: int = 1) -> dict[str, Any]:
    srv.reset()
    spec = LoadSpec(base_url=srv.base_url, model="calibration", num_requests=n, num_warmup=0,
                    prompts=[Prompt(token_ids=list(range(16)), client_tokens=16, max_tokens=osl)],
                    concurrency=conc, workers=workers, point_id=f"sm{conc}", timeout_s=600,
                    ramp_up_s=0.0 if conc <= 256 else conc / 4000.0)
    t0 = os.times()
    res = run_load(spec)
    t1 = os.times()
    cpu = (t1.user + t1.system) - (t0.user + t0.system)
    if workers > 1:
        cpu = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    truth = srv.truth()
    rate, events = delivered_rate(truth)
    err = timing_errors(res.records, truth["requests"])
    failed = sum(1 for r in res.records if not r.ok)
    return {"client": f"servemark(w={workers})", "conc": conc, "events": events, "events_per_s": rate,
            "cpu_s": cpu, "us_per_event": cpu / events * 1e6 if events else None,
            "err_p50_ms": err["chunk"]["p50_ms"], "err_p99_ms": err["chunk"]["p99_ms"], "failed": failed,
            "loop_lag_p99_ms": res.client.get("loop_lag_p99_ms")}


def run_peer(srv: CalibrationServer, conc: int, n: int, osl: int, peer_python: str) -> dict[str, Any]:
    srv.reset()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [peer_python, str(HERE / "_vllm_peer.py"), "--backend", "vllm", "--base-url", srv.base_url,
               "--endpoint", "/v1/completions", "--model", "calibration", "--tokenizer", PEER_TOKENIZER,
               "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", str(osl),
               "--num-prompts", str(n), "--max-concurrency", str(conc), "--ignore-eos", "--disable-tqdm",
               "--ready-check-timeout-sec", "0", "--save-result", "--save-detailed", "--result-dir", tmp,
               "--result-filename", "peer.json", "--percentile-metrics", "ttft,tpot,itl,e2el"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("PEER_JSON ")), None)
        if line is None:
            raise SystemExit(f"peer failed (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        summary = json.loads(line[len("PEER_JSON "):])
        detail = json.loads((Path(tmp) / "peer.json").read_text())
    truth = srv.truth()
    rate, events = delivered_rate(truth)
    # the peer's absolute chunk times: start + ttft + cumsum(itl), on the same perf_counter clock
    by_index = {int(k.rsplit("-", 1)[1]): v for k, v in truth["requests"].items() if k.rsplit("-", 1)[-1].isdigit()}
    errs: list[float] = []
    for i, (st, ttft, itl) in enumerate(zip(detail["start_times"], detail["ttfts"], detail["itls"])):
        t = by_index.get(i)
        if t is None or not ttft or len(itl) + 1 != len(t["chunk_ns"]):
            continue
        peer_times = st + ttft + np.concatenate([[0.0], np.cumsum(itl)])
        errs.extend(((peer_times - np.asarray(t["chunk_ns"]) / 1e9) * 1e3).tolist())
    cpu = summary.get("client_cpu_s")
    return {"client": "vllm bench serve", "conc": conc, "events": events, "events_per_s": rate, "cpu_s": cpu,
            "us_per_event": cpu / events * 1e6 if events and cpu is not None else None,
            "err_p50_ms": pct(errs, 50), "err_p99_ms": pct(errs, 99), "failed": summary.get("failed"),
            "loop_lag_p99_ms": None}


def show(row: dict[str, Any]) -> None:
    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    per_core = 1e6 / row["us_per_event"] if row.get("us_per_event") else None
    print(f"  {row['client']:<18} conc {row['conc']:>5}  delivered {f(row['events_per_s'], 0):>7} ev/s  "
          f"client {f(row['us_per_event'], 1):>6} us/ev (= {f(per_core, 0):>7} ev/s per core)  "
          f"chunk err p50 {f(row['err_p50_ms'])} p99 {f(row['err_p99_ms'])} ms  failed {row['failed']}", flush=True)


def main() -> None:
    global PEER_TOKENIZER
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="The peer comparison " + PEER_NEEDS
                                 + "; without them (or with --no-peer) only servemark's client is measured.")
    ap.add_argument("--quick", action="store_true", help="smaller levels (a minute or two)")
    add_peer_args(ap)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    a.peer_python, PEER_TOKENIZER = resolve_peer(a)
    peer = not a.no_peer and bool(a.peer_python and PEER_TOKENIZER)
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; peer: "
          f"{'vllm bench serve via ' + a.peer_python if peer else 'not available (' + PEER_NEEDS + ')'}")
    out: dict[str, list[dict[str, Any]]] = {}

    # 1. token-event rate: many short gaps (2 ms per token, 128 tokens)
    rate_levels = [16, 64] if a.quick else [16, 64, 256]
    print("\n[1] token-event rate (itl 2 ms, osl 128)")
    with CalibrationServer(CalibrationPlan(ttft_ms=5, itl_ms=2, tokens_per_chunk=[1])) as srv:
        for c in rate_levels:
            rows = [run_servemark(srv, c, 2 * c, 128)]
            if peer:
                rows.append(run_peer(srv, c, 2 * c, 128, a.peer_python))
            for r in rows:
                show(r)
            out.setdefault("rate", []).extend(rows)

    # 2. timing error with 1,000 concurrent streams (100 ms per token)
    n1k = 300 if a.quick else 1000
    print(f"\n[2] timing error at {n1k} concurrent streams (itl 100 ms, osl 32)")
    with CalibrationServer(CalibrationPlan(ttft_ms=20, itl_ms=100, tokens_per_chunk=[1], record_truth=True)) as srv:
        rows = [run_servemark(srv, n1k, n1k, 32)]
        if peer:
            rows.append(run_peer(srv, n1k, n1k, 32, a.peer_python))
        for r in rows:
            show(r)
        out["streams_1k"] = rows

    # 3. many concurrent streams without errors (500 ms per token, 8 tokens)
    n4k = 1024 if a.quick else 4096
    print(f"\n[3] {n4k} concurrent streams (itl 500 ms, osl 8)")
    with CalibrationServer(CalibrationPlan(ttft_ms=50, itl_ms=500, tokens_per_chunk=[1])) as srv:
        rows = [run_servemark(srv, n4k, n4k, 8)]
        if peer:
            rows.append(run_peer(srv, n4k, n4k, 8, a.peer_python))
        for r in rows:
            show(r)
        out["streams_4k"] = rows

    if peer:
        print("\nratios (servemark / vllm bench serve):")
        for key, rows in out.items():
            sm = [r for r in rows if r["client"].startswith("servemark")]
            pe = [r for r in rows if r["client"] == "vllm bench serve"]
            for s, p in zip(sm, pe):
                cpu_ratio = (p["us_per_event"] / s["us_per_event"]) if s["us_per_event"] and p["us_per_event"] else None
                print(f"  {key:<10} conc {s['conc']:>5}: delivered ev/s x{s['events_per_s'] / p['events_per_s']:.2f}, "
                      f"events per client CPU-second x{cpu_ratio:.2f}" if cpu_ratio else "", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    print("JSON " + json.dumps(out))


if __name__ == "__main__":
    main()
