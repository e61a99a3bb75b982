"""Engine ceiling: each tool's rendered command line equals a reviewed expectation, and each
tool's output parses into the right figures (recorded outputs in tests/data/ceiling).

The expected argv lists were written from the tools' own flag documentation (llama.cpp
``tools/batched-bench``, vLLM ``vllm/benchmarks/throughput.py``, SGLang ``bench_one_batch.py``),
not copied from the renderer's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servemark.ceiling.parse import parse_batched_bench, parse_sglang_one_batch, parse_vllm_throughput
from servemark.ceiling.render import VLLM_CPU_LAUNCHER, batches_of, render
from servemark.ceiling.row import ceiling_id, key_of
from servemark.ceiling.run import commands_for, to_rows
from servemark.engines import RenderContext
from servemark.errors import ServemarkError
from servemark.point import Point
from servemark.engines.check import parse_recipe
from servemark.recipe.expand import recipe_hash
from servemark.recipe.schema import Recipe

DATA = Path(__file__).parent / "data" / "ceiling"


def recipe(**over: Any) -> Recipe:
    base: dict[str, Any] = {"name": "t", "model": {"name": "m", "path": "/models/m"},
                            "scenarios": [{"isl": 256, "osl": 64}], "concurrency": [1, 4]}
    return parse_recipe({**base, **over})


def argv_of(r: Recipe, **ctx: Any) -> list[list[str]]:
    kw = {"model_path": "/models/m", "python": "py", "binary": "llama-batched-bench", **ctx}
    c = RenderContext(recipe=r, layout=r.layouts[0], **kw)
    return [cmd.argv for cmd in render(c, r.scenarios[0], batches_of(r), "/run")]


# --- rendering ----------------------------------------------------------------------------------

def test_llama_cpp_cpu_one_process_all_batches() -> None:
    r = recipe(engine={"name": "llama-cpp", "build": "cpu", "env": {"OMP_WAIT_POLICY": "PASSIVE"},
                       "args": {"metrics": True, "threads": 2}})
    assert argv_of(r) == [[
        "llama-batched-bench", "--model", "/models/m", "--ctx-size", str(4 * (256 + 64 + 256)),
        "-npp", "256", "-ntg", "64", "-npl", "1,4", "--output-format", "jsonl", "--n-gpu-layers", "0",
        "--threads", "2", "--no-kv-unified",
    ]]
    c = RenderContext(recipe=r, layout=r.layouts[0], model_path="/models/m", binary="b")
    assert render(c, r.scenarios[0], [4, 1], "/run")[0].env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_llama_cpp_gpu_matches_issue_19_run() -> None:
    """The H200 run of issue 19: -npp 1024 -ntg 256 -npl 1,8,32,128, 128 streams of 1536, FA on."""
    r = recipe(engine={"name": "llama-cpp", "build": "cuda", "args": {"flash-attn": "on"}},
               hardware={"name": "h200", "gpus": 1}, scenarios=[{"isl": 1024, "osl": 256}],
               concurrency=[128, 1, 32, 8], layouts=[{"kv_cache_dtype": "q8_0"}])
    assert argv_of(r) == [[
        "llama-batched-bench", "--model", "/models/m", "--ctx-size", str(128 * 1536),
        "-npp", "1024", "-ntg", "256", "-npl", "1,8,32,128", "--output-format", "jsonl",
        "--n-gpu-layers", "all", "--split-mode", "none", "--cache-type-k", "q8_0", "--cache-type-v", "q8_0",
        "--flash-attn", "on", "--no-kv-unified",
    ]]


def test_llama_cpp_kv_unified_from_the_recipe_is_kept() -> None:
    r = recipe(engine={"name": "llama-cpp", "args": {"kv-unified": True}}, ceiling={"batches": [2], "args": {"ub": 256}})
    [argv] = argv_of(r)
    assert "--no-kv-unified" not in argv
    assert argv[-3:] == ["--kv-unified", "--ub", "256"]
    assert argv[argv.index("-npl") + 1] == "2" and argv[argv.index("--ctx-size") + 1] == str(2 * 576)


def test_vllm_cpu_one_command_per_batch() -> None:
    r = recipe(engine={"name": "vllm", "build": "cpu", "env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
                       "args": {"max-model-len": 2048, "dtype": "bfloat16", "gpu-memory-utilization": 0.2,
                                "host": "0.0.0.0"}},
               ceiling={"rounds": 3})
    cmds = argv_of(r)
    assert len(cmds) == 2
    assert cmds[1] == [
        "py", str(VLLM_CPU_LAUNCHER), "bench", "throughput", "--backend", "vllm", "--model", "/models/m",
        "--dataset-name", "random", "--random-input-len", "256", "--random-output-len", "64",
        "--random-range-ratio", "0.0", "--num-prompts", "12", "--max-num-seqs", "4", "--seed", "0",
        "--disable-detokenize", "--output-json", "/run/ceiling-vllm-256-64-b4.json", "--num-warmups", "4",
        "--max-model-len", "2048", "--dtype", "bfloat16", "--gpu-memory-utilization", "0.2",
        "--no-enable-prefix-caching",
    ]


def test_vllm_gpu_layout_flags() -> None:
    r = recipe(engine={"name": "vllm"}, hardware={"name": "h200", "gpus": 8}, layouts=[{"tp": 8, "ep": 8}],
               ceiling={"batches": [64], "warmup": False})
    c = RenderContext(recipe=r, layout=r.layouts[0], model_path="/models/m", python="py")
    [cmd] = render(c, r.scenarios[0], [64], "/run")
    assert cmd.argv[:5] == ["py", "-m", "vllm.entrypoints.cli.main", "bench", "throughput"]
    assert cmd.argv[cmd.argv.index("--num-prompts"):] == [
        "--num-prompts", "128", "--max-num-seqs", "64", "--seed", "0", "--disable-detokenize",
        "--output-json", "/run/ceiling-vllm-256-64-b64.json", "--tensor-parallel-size", "8",
        "--enable-expert-parallel", "--max-model-len", "576", "--no-enable-prefix-caching",
    ]
    assert cmd.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}


def test_sglang_gpu_one_batch() -> None:
    r = recipe(engine={"name": "sglang", "args": {"mem-fraction-static": 0.8, "enable-metrics": True}},
               hardware={"name": "h200", "gpus": 8}, precision="fp8",
               layouts=[{"tp": 8, "ep": 8, "dp_attention": True, "kv_cache_dtype": "fp8_e4m3"}],
               scenarios=[{"isl": 1024, "osl": 1024}], concurrency=[4, 64, 256])
    assert argv_of(r) == [[
        "py", "-m", "sglang.bench_one_batch", "--model-path", "/models/m", "--batch-size", "4", "64", "256",
        "--input-len", "1024", "--output-len", "1024", "--run-name", "t",
        "--result-filename", "/run/ceiling-sglang-1024-1024.jsonl",
        "--tp-size", "8", "--ep-size", "8", "--enable-dp-attention", "--dp-size", "8",
        "--kv-cache-dtype", "fp8_e4m3", "--mem-fraction-static", "0.8", "--context-length", "2304",
    ]]


@pytest.mark.parametrize("over, match", [
    ({"engine": {"name": "trtllm"}, "hardware": {"name": "h200", "gpus": 8}}, "no offline ceiling benchmark"),
    ({"engine": {"name": "vllm"}, "hardware": {"name": "h200", "gpus": 8}, "layouts": [{"spec_method": "mtp"}]},
     "spec_method"),
])
def test_unsupported_is_a_clear_error(over: dict[str, Any], match: str) -> None:
    r = recipe(**over)

    class Rt:
        model_path, python, binary, engine_version, start_engine = "/m", "py", None, "", False

    with pytest.raises(ServemarkError, match=f"ceiling: .*{match}"):
        commands_for(r, r.layouts[0], Rt(), Path("/run"))


def test_ceiling_block_is_strict_and_leaves_the_recipe_hash() -> None:
    r = recipe(engine={"name": "vllm"})
    assert recipe_hash(r) == recipe_hash(recipe(engine={"name": "vllm"}, ceiling={"batches": [2]}))
    with pytest.raises(Exception, match="batches"):
        recipe(engine={"name": "vllm"}, ceiling={"batches": [2, 2]})
    with pytest.raises(Exception, match="ceiling.batch: unknown key"):
        recipe(engine={"name": "vllm"}, ceiling={"batch": [2]})


# --- parsing ------------------------------------------------------------------------------------

def test_batched_bench_markdown_table() -> None:
    rows = parse_batched_bench((DATA / "batched_bench_h200.md.txt").read_text())
    assert [r.batch for r in rows] == [1, 128]
    one, big = rows
    assert (one.isl, one.osl, one.decode_tput, one.intvty) == (1024, 256, 203.66, 203.66)
    assert big.decode_tput == 7202.46 and big.intvty == pytest.approx(7202.46 / 128)
    assert big.output_tput == pytest.approx(128 * 256 / 14.420)
    assert big.tput == pytest.approx(128 * 1280 / 14.420)
    assert big.prefill_tput == 13278.40 and big.elapsed_s == 14.420


def test_batched_bench_jsonl_among_log_lines() -> None:
    rows = parse_batched_bench((DATA / "batched_bench_cpu.jsonl.txt").read_text())
    assert [(r.batch, r.isl, r.osl) for r in rows] == [(1, 256, 64), (4, 256, 64)]
    assert rows[1].decode_tput == pytest.approx(4 * 64 / 2.21)
    assert rows[1].tput == pytest.approx(rows[1].raw["speed"])  # the tool's own S t/s
    assert rows[1].output_tput == pytest.approx(4 * 64 / 3.74)
    assert json.loads(json.dumps(rows[1].to_dict())) == rows[1].to_dict()


def test_batched_bench_shared_prompt_counts_it_once() -> None:
    text = ("main: n_kv_max = 4096, is_pp_shared = 1, is_tg_separate = 0\n"
            "|   128 |     32 |    4 |    256 |    0.100 |  1280.00 |    1.000 |   128.00 |    1.100 |   232.73 |\n")
    [r] = parse_batched_bench(text)
    assert r.tput == pytest.approx((128 + 4 * 32) / 1.1)


def test_batched_bench_without_rows_names_the_source() -> None:
    with pytest.raises(ServemarkError, match="x.log: no llama-batched-bench result rows"):
        parse_batched_bench("error: unable to load model\n", "x.log")


def test_vllm_throughput_json_and_stdout() -> None:
    js = json.dumps({"model_id": "/m", "elapsed_time": 4.0, "num_requests": 8, "total_num_tokens": 2560,
                     "requests_per_second": 2.0, "tokens_per_second": 640.0})
    out = "Throughput: 2.00 requests/s, 640.00 total tokens/s, 128.00 output tokens/s\n" \
          "Total num prompt tokens:  2048\nTotal num output tokens:  512\n"
    r = parse_vllm_throughput(js, out, batch=4, isl=256, osl=64)
    assert (r.tput, r.output_tput, r.decode_tput, r.intvty) == (640.0, 128.0, None, None)
    assert r.raw["total_prompt_tokens"] == 2048
    assert parse_vllm_throughput(js, "", 4, 256, 64).output_tput == 8 * 64 / 4.0
    with pytest.raises(ServemarkError, match="r.json: not a vLLM throughput result"):
        parse_vllm_throughput("{}", "", 4, 256, 64, "r.json")


def test_sglang_result_lines() -> None:
    line = {"run_name": "t", "batch_size": 8, "input_len": 1024, "output_len": 256, "prefill_latency": 0.2,
            "prefill_throughput": 40960.0, "median_decode_latency": 0.01, "median_decode_throughput": 800.0,
            "total_latency": 2.75, "overall_throughput": 3723.6}
    [r] = parse_sglang_one_batch(json.dumps(line) + "\n")
    assert (r.batch, r.decode_tput, r.intvty, r.tput) == (8, 800.0, pytest.approx(100.0), 3723.6)
    assert r.output_tput == pytest.approx(8 * 256 / 2.75)
    with pytest.raises(ServemarkError, match="no result lines"):
        parse_sglang_one_batch("")


# --- rows and the join key ----------------------------------------------------------------------

def test_rows_are_per_gpu_and_join_the_served_point() -> None:
    r = recipe(engine={"name": "llama-cpp", "build": "cuda"}, hardware={"name": "h200", "gpus": 2},
               layouts=[{"tp": 2}], scenarios=[{"isl": 1024, "osl": 256}], concurrency=[1, 128])
    res = parse_batched_bench((DATA / "batched_bench_h200.md.txt").read_text())
    rows = to_rows(res, r, r.layouts[0], ["llama-batched-bench"], "b11434 (cuda)", "run1", "imported", "f.txt")
    assert rows[1].tput_per_gpu == pytest.approx(res[1].tput / 2)
    assert rows[1].engine == "llama-cpp-cuda" and rows[1].gpu_count == 2
    served = Point(model="m", engine="llama-cpp-cuda", hardware="h200", precision="bf16", tp=2, isl=1024, osl=256,
                   conc=128)
    assert key_of(served) == key_of(rows[1].to_dict())
    assert rows[1].ceiling_id == ceiling_id(key_of(served))
    assert key_of(Point(**{**served.to_dict(), "conc": 1})) != key_of(rows[1].to_dict())
