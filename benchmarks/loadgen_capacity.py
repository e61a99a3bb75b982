"""How much load can each client drive, how precisely: servemark against the strongest peers.

Every client runs against the same calibration server (one process, its own event loop), which
writes every chunk at planned times and records when it really did. Per client and number of
concurrent streams (closed loop, one wave of requests) it prints:

* delivered token events/s (server truth: chunks / span of chunk send times),
* events per client CPU-second: the CPU of the client's whole process tree (servemark: this process
  and its workers; a peer: its process and all it starts), sampled every 50 ms and charged only
  between the server's first request receipt and its last chunk, the same window for every client
  (start-up, tokenizer and dataset build are not charged),
* the timing error: TTFT p50 / p99 as the client reports it minus the true TTFT p50 / p99
  (server receipt to first chunk), in ms — the same measure for every client, since peers do not
  expose per-chunk timestamps on servemark's clock,
* failed requests; for servemark also its per-chunk timing error (its stamp minus the server's
  send time, p50 / p99), which it can measure because it sends a request id the server keys its
  truth by.

Peers: ``vllm bench serve`` (vLLM CPU environment), AIPerf (multi-process: its workers are
processes) and GuideLLM, each from ``servemark peer install``; a missing one is skipped.

Run: ``python benchmarks/loadgen_capacity.py [--quick] [--levels 16,256,1024,4096] [--clients ...]``.
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

from servemark.calibration import CalibrationPlan, CalibrationServer
from servemark.peers import install
from servemark.peers.conformance import import_peer, measured_truth
from servemark.peers.run import CpuSampler, Workload, run_peer
from servemark.peers.tokenizer import write as write_tokenizer

ISL, OSL = 16, 16
PLAN = CalibrationPlan(ttft_ms=50, itl_ms=200, tokens_per_chunk=[1])
"""200 ms per token: at 4,096 streams the server offers ~20,000 token events/s."""
CLIENTS = ("servemark", "servemark-w2", "vllm-bench", "aiperf", "guidellm")


def delivered(truth: dict[str, Any]) -> tuple[float, int]:
    times = [t for r in truth["requests"].values() for t in r["chunk_ns"]]
    if len(times) < 2:
        return 0.0, len(times)
    return len(times) / ((max(times) - min(times)) / 1e9), len(times)


def ttft_errors(p50: float | None, p99: float | None, truth: dict[str, Any]) -> tuple[float | None, float | None]:
    t50, t99 = truth.get("median_ttft"), truth.get("p99_ttft")
    e50 = (p50 - t50) * 1e3 if p50 is not None and t50 is not None else None
    e99 = (p99 - t99) * 1e3 if p99 is not None and t99 is not None else None
    return e50, e99


def load_window(srv: CalibrationServer) -> tuple[float, float]:
    """The load phase on the server's clock: first request received to last chunk sent (s)."""
    reqs = srv.truth()["requests"].values()
    start = min(r["received_ns"] for r in reqs) / 1e9
    end = max(max(r["chunk_ns"] or [r["received_ns"]]) for r in reqs) / 1e9
    return start, end


SELF_LOAD = """
import json, sys
import urllib.request
from servemark.calibration.measure import timing_errors
from servemark.loadgen import LoadSpec, run_load
from servemark.metrics import summarize
from servemark.workload import Prompt
a = json.loads(sys.argv[1])
spec = LoadSpec(base_url=a["url"], model="calibration", num_requests=a["n"], num_warmup=0,
                prompts=[Prompt(token_ids=list(range(a["isl"])), client_tokens=a["isl"], max_tokens=a["osl"])],
                concurrency=a["n"], workers=a["workers"], point_id="cap", timeout_s=600,
                ramp_up_s=0.0 if a["n"] <= 256 else a["n"] / 4000.0)
res = run_load(spec)
s = summarize(res.records, client=res.client)
truth = json.loads(urllib.request.urlopen(a["url"] + "/calibration/truth").read())
chunk = timing_errors(res.records, truth["requests"])["chunk"]
print("SELF_JSON " + json.dumps({"p50": s["median_ttft"], "p99": s["p99_ttft"], "failed": s["failed"],
                                 "chunk_err_p50_ms": chunk["p50_ms"], "chunk_err_p99_ms": chunk["p99_ms"]}))
"""


def run_servemark(srv: CalibrationServer, streams: int, workers: int) -> dict[str, Any]:
    """servemark's client in its own process, sampled from outside exactly like a peer."""
    args = json.dumps({"url": srv.base_url, "n": streams, "isl": ISL, "osl": OSL, "workers": workers})
    proc = subprocess.Popen([sys.executable, "-c", SELF_LOAD, args], stdout=subprocess.PIPE, text=True)
    with CpuSampler(proc.pid) as cpu:
        out, _ = proc.communicate(timeout=900)
    line = next((ln for ln in out.splitlines() if ln.startswith("SELF_JSON ")), None)
    if line is None:
        raise RuntimeError(f"servemark's load process failed (exit {proc.returncode})")
    return {"cpu_s": cpu.window(*load_window(srv)), **json.loads(line[len("SELF_JSON "):])}


def run_other(tool: str, srv: CalibrationServer, streams: int, tok: Path, tmp: Path) -> dict[str, Any]:
    w = Workload(base_url=srv.base_url, tokenizer=tok, isl=ISL, osl=OSL, num_requests=streams, concurrency=streams)
    run = run_peer(tool, w, tmp / f"{tool}-{streams}", timeout_s=900, sample_cpu=True)
    p = import_peer(tool, run)
    return {"cpu_s": run.extra["cpu"].window(*load_window(srv)), "p50": p.median_ttft, "p99": p.p99_ttft,
            "failed": p.failed}


def show(row: dict[str, Any]) -> None:
    f = lambda x, d=1: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    print(f"  {row['client']:<13} streams {row['streams']:>5}  delivered {f(row['events_per_s'], 0):>7} ev/s  "
          f"{f(row['events_per_cpu_s'], 0):>7} ev per client CPU-s  TTFT err p50 {f(row['ttft_err_p50_ms'])} "
          f"p99 {f(row['ttft_err_p99_ms'])} ms  failed {row['failed']}"
          + (f"  (per-chunk err p50 {f(row['chunk_err_p50_ms'], 2)} p99 {f(row['chunk_err_p99_ms'], 2)} ms)"
             if row.get("chunk_err_p99_ms") is not None else ""), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="levels 16,256 only")
    ap.add_argument("--levels", default="16,256,1024,4096")
    ap.add_argument("--clients", default=",".join(CLIENTS))
    a = ap.parse_args()
    levels = [16, 256] if a.quick else [int(x) for x in a.levels.split(",")]
    clients = [c for c in a.clients.split(",") if c.startswith("servemark") or install.installed(c)]
    skipped = [c for c in a.clients.split(",") if c not in clients]
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; clients: "
          f"{', '.join(clients)}" + (f"; not installed: {', '.join(skipped)}" if skipped else ""))
    print(f"plan: TTFT {PLAN.ttft_ms:g} ms, {PLAN.itl_ms:g} ms per token, {OSL} tokens; one wave of N requests at N streams")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="servemark-capacity-") as tmpd:
        tmp = Path(tmpd)
        tok = write_tokenizer(tmp / "tok")
        with CalibrationServer(PLAN) as srv:
            for streams in levels:
                print(f"\n[{streams} streams]")
                for c in clients:
                    srv.reset()
                    try:
                        if c.startswith("servemark"):
                            r = run_servemark(srv, streams, workers=2 if c.endswith("w2") else 1)
                        else:
                            r = run_other(c, srv, streams, tok, tmp)
                    except Exception as exc:  # noqa: BLE001 - one client failing must not stop the others
                        print(f"  {c:<13} streams {streams:>5}  FAILED: {exc}"[:400], flush=True)
                        continue
                    truth = srv.truth()
                    rate, events = delivered(truth)
                    e50, e99 = ttft_errors(r["p50"], r["p99"], measured_truth(truth, OSL))
                    row = {"client": c, "streams": streams, "events": events, "events_per_s": rate,
                           "cpu_s": r["cpu_s"], "events_per_cpu_s": events / r["cpu_s"] if r["cpu_s"] else None,
                           "ttft_err_p50_ms": e50, "ttft_err_p99_ms": e99, "failed": r["failed"],
                           "chunk_err_p50_ms": r.get("chunk_err_p50_ms"), "chunk_err_p99_ms": r.get("chunk_err_p99_ms")}
                    show(row)
                    rows.append(row)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    print("JSON " + json.dumps(rows))


if __name__ == "__main__":
    main()
