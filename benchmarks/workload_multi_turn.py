"""TTFT by turn of a multi-turn workload on vLLM CPU, prefix caching off vs on.

Starts the demo engine (Gemma 3 270M on vLLM CPU, servemark's own adapter and executor) once per
setting, runs the same sessions through ``servemark``'s runner (``--endpoint``), and prints the
median TTFT of every turn index with caching off and on, and their ratio: the figure is how much
faster a later turn starts when its history is cached. Turn 0 is the control (nothing to reuse,
ratio ~1). Default: 250 sessions x 4 turns = 1,000 requests per setting.

Run (one engine at a time on a shared machine):
    flock /tmp/servemark-engine.lock python benchmarks/workload_multi_turn.py
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from servemark.engines import RenderContext, adapter_for
from servemark.executors.local import LocalServer
from servemark.engines.check import load_recipe
from servemark.sweep.recipe_run import SweepOptions, run_recipe
from servemark.executors.runtime import resolve_runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cache: bool, a: argparse.Namespace, tmp: Path) -> dict:
    recipe = load_recipe(Path(str(resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml")))
    recipe.engine.port = free_port()
    scenario = {"prefix_cache": "on" if cache else "off",
                "workload": {"kind": "multi_turn", "sessions": a.sessions, "turns": a.turns,
                             "user_tokens": [a.first_tokens, a.user_tokens], "assistant_tokens": a.reply_tokens}}
    if not a.compiled:  # torch.compile takes minutes per start on a busy 2-core machine; off and on alike
        recipe.engine.args["enforce-eager"] = True
    recipe = recipe.model_validate({**recipe.model_dump(mode="json"), "scenarios": [scenario],
                                    "concurrency": [a.concurrency], "warmup": {"per_conc": 1, "min": 4}})
    rt = resolve_runtime(recipe)
    ctx = RenderContext(recipe=recipe, layout=recipe.layouts[0], model_path=rt.model_path, python=rt.python,
                        prefix_cache=cache)
    (launch,) = adapter_for("vllm").render(ctx)
    server = LocalServer(launch, tmp / f"vllm-{cache}.log")
    label = f"prefix caching {'on' if cache else 'off'}"
    t = time.monotonic()
    server.start()
    try:
        server.wait_ready(recipe.engine.startup_timeout_s)
        print(f"[{label}] engine ready in {time.monotonic() - t:.0f} s; sending", file=sys.stderr, flush=True)
        t = time.monotonic()
        opts = SweepOptions(db=tmp / "b.duckdb", runs_dir=tmp / "runs", endpoint=launch.base_url)
        (point,) = run_recipe(recipe, opts, Console(stderr=True, quiet=True)).points
        print(f"[{label}] {point.num_requests} requests in {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    finally:
        server.stop()
    return {"point": point, "turns": point.extra["ttft_by_turn"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=250)  # 1,000 requests; use fewer on a busy machine
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--first-tokens", type=int, default=256, help="user tokens of the first turn (vLLM CPU caches whole 128-token blocks)")
    ap.add_argument("--user-tokens", type=int, default=16, help="user tokens of each later turn")
    ap.add_argument("--reply-tokens", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=4, help="sessions in flight")
    ap.add_argument("--compiled", action="store_true", help="let vLLM compile (default: --enforce-eager, faster start)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        off = measure(False, a, Path(d))
        on = measure(True, a, Path(d))
    n = off["point"].num_requests
    print("short turns on purpose (8-token replies), so the run finishes on a 2-core CPU; the ratio, "
          "not the absolute TTFT, is the figure")
    print(f"multi-turn on vLLM CPU (demo model{'' if a.compiled else ', eager'}): {a.sessions} sessions x {a.turns} turns = {n} requests per "
          f"setting, {a.concurrency} sessions in flight; first turn {a.first_tokens} tokens, later turns "
          f"+{a.user_tokens}, replies {a.reply_tokens}")
    print(f"{'turn':>4} {'prompt tok':>10} {'TTFT off ms':>12} {'TTFT on ms':>11} {'cached/req':>10} {'off/on':>7}")
    for k in sorted(off["turns"], key=int):
        f, o = off["turns"][k], on["turns"][k]
        ratio = f["median_ttft"] / o["median_ttft"] if o["median_ttft"] else float("nan")
        print(f"{k:>4} {o['mean_prompt_tokens']:>10.0f} {f['median_ttft'] * 1e3:>12.1f} {o['median_ttft'] * 1e3:>11.1f} "
              f"{o['cached_tokens'] / max(o['requests'], 1):>10.0f} {ratio:>7.2f}")
    later = [k for k in off["turns"] if k != "0"]
    ratios = [off["turns"][k]["median_ttft"] / on["turns"][k]["median_ttft"] for k in later]
    print(f"cached tokens: off {off['point'].cached_tokens} ({off['point'].cache_source}), on {on['point'].cached_tokens} "
          f"({on['point'].cache_source}, hit rate {on['point'].cache_hit_rate:.1%})")
    print(f"FIGURE median TTFT ratio off/on over later turns: {sum(ratios) / len(ratios):.2f}x "
          f"(turn 0 control {off['turns']['0']['median_ttft'] / on['turns']['0']['median_ttft']:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
