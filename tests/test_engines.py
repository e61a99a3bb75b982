"""Engine adapters: the rendered argv/env for representative layouts equals a reviewed expectation.

Each expectation was written down from the engine's own documentation of its flags (see
docs/engines.md), not copied from the adapter's output, so a change of rendering fails here first.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from servemark.engines import ADAPTERS, RenderContext, adapter_for
from servemark.engines.base import Launch
from servemark.engines.check import parse_recipe
from servemark.recipe.schema import Recipe

GPU_BASE: dict[str, Any] = {
    "name": "t",
    "model": {"name": "dsr1", "path": "/models/dsr1"},
    "scenarios": [{"isl": 1024, "osl": 1024}],
    "concurrency": [4, 64],
    "hardware": {"name": "h200", "gpus": 8},
}


def recipe(engine: dict[str, Any], layouts: list[dict[str, Any]], **over: Any) -> Recipe:
    return parse_recipe({**GPU_BASE, "engine": engine, "layouts": layouts, **over})


def render(r: Recipe, i: int = 0, **ctx: Any) -> list[Launch]:
    adapter = adapter_for(r.engine.name)
    adapter.validate(r, r.layouts[i])
    kw = {"model_path": "/models/dsr1", "python": "python3", **ctx}
    return adapter.render(RenderContext(recipe=r, layout=r.layouts[i], **kw))


# --- vLLM -------------------------------------------------------------------------------------


def test_vllm_cpu_demo_golden() -> None:
    r = parse_recipe({
        "name": "demo", "model": {"name": "gemma-3-270m", "path": "auto"},
        "engine": {"name": "vllm", "build": "cpu", "args": {"max-model-len": 2048, "dtype": "bfloat16"}},
        "scenarios": [{"isl": 256, "osl": 64}], "concurrency": [1, 16],
    })
    (lg,) = render(r, model_path="/m/gemma", python="/env/bin/python")
    assert lg.argv == [
        "/env/bin/python", "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/m/gemma", "--served-model-name", "gemma-3-270m", "--host", "127.0.0.1", "--port", "8000",
        "--max-model-len", "2048", "--dtype", "bfloat16", "--no-enable-prefix-caching",
        "--enable-prompt-tokens-details",
    ]
    assert lg.env == {"VLLM_CPU_KVCACHE_SPACE": "4"}
    assert (lg.health_path, lg.models_path, lg.metrics_path) == ("/health", "/v1/models", "/metrics")


def test_vllm_gpu_dp_attention_ep_mtp_golden() -> None:
    r = recipe({"name": "vllm", "build": "cuda"},
               [{"tp": 8, "ep": 8, "dp_attention": True, "kv_cache_dtype": "fp8", "spec_method": "mtp", "spec_tokens": 2,
                 "max_num_seqs": 256}])
    (lg,) = render(r)
    assert lg.argv == [
        "python3", "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/models/dsr1", "--served-model-name", "dsr1", "--host", "127.0.0.1", "--port", "8000",
        "--tensor-parallel-size", "1", "--data-parallel-size", "8", "--enable-expert-parallel",
        "--max-num-seqs", "256", "--kv-cache-dtype", "fp8",
        "--speculative-config", '{"method": "mtp", "num_speculative_tokens": 2}',
        "--max-model-len", "2304", "--no-enable-prefix-caching", "--enable-prompt-tokens-details",
    ]
    assert lg.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}


def test_vllm_tp4_plain() -> None:
    r = recipe({"name": "vllm", "args": {"enable-prefix-caching": True}}, [{"tp": 4}])
    (lg,) = render(r)
    assert lg.argv[11:] == ["--tensor-parallel-size", "4", "--enable-prefix-caching", "--max-model-len", "2304",
                            "--enable-prompt-tokens-details"]
    assert lg.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}


# --- SGLang -----------------------------------------------------------------------------------


def test_sglang_tp8_ep8_dpa_mtp_golden() -> None:
    r = recipe({"name": "sglang", "args": {"trust-remote-code": True}},
               [{"tp": 8, "ep": 8, "dp_attention": True, "spec_method": "mtp", "spec_tokens": 3,
                 "max_num_seqs": 512, "max_num_batched_tokens": 16384, "kv_cache_dtype": "fp8_e4m3"}])
    (lg,) = render(r)
    assert lg.argv == [
        "python3", "-m", "sglang.launch_server", "--model-path", "/models/dsr1", "--served-model-name", "dsr1",
        "--host", "127.0.0.1", "--port", "8000",
        "--tp-size", "8", "--ep-size", "8", "--enable-dp-attention", "--dp-size", "8",
        "--max-running-requests", "512", "--chunked-prefill-size", "16384", "--kv-cache-dtype", "fp8_e4m3",
        "--speculative-algorithm", "EAGLE", "--speculative-num-steps", "3", "--speculative-eagle-topk", "1",
        "--speculative-num-draft-tokens", "4",
        "--trust-remote-code", "--context-length", "2304", "--disable-radix-cache", "--enable-metrics",
    ]
    assert lg.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}


def test_sglang_on_amd_uses_hip_devices() -> None:
    r = recipe({"name": "sglang"}, [{"tp": 4}], hardware={"name": "mi355x", "gpus": 8})
    (lg,) = render(r)
    assert lg.env == {"HIP_VISIBLE_DEVICES": "0,1,2,3"}


# --- TensorRT-LLM -----------------------------------------------------------------------------


def test_trtllm_tp4_ep4_dpa_mtp_golden() -> None:
    r = recipe({"name": "trtllm", "args": {"trust_remote_code": True, "llm_api.cuda_graph_config.max_batch_size": 128}},
               [{"tp": 4, "ep": 4, "dp_attention": True, "kv_cache_dtype": "fp8", "spec_method": "mtp", "spec_tokens": 3,
                 "max_num_seqs": 128}], hardware={"name": "b200", "gpus": 8})
    (lg,) = render(r, workdir="/run/x")
    assert lg.argv == [
        "trtllm-serve", "/models/dsr1", "--host", "127.0.0.1", "--port", "8000", "--backend", "pytorch",
        "--tp_size", "4", "--ep_size", "4", "--pp_size", "1", "--max_batch_size", "128",
        "--extra_llm_api_options", "/run/x/trtllm-llm-api.yaml", "--trust_remote_code", "--max_seq_len", "2304",
    ]
    assert yaml.safe_load(lg.files["/run/x/trtllm-llm-api.yaml"]) == {
        "enable_attention_dp": True,
        "kv_cache_config": {"enable_block_reuse": False, "dtype": "fp8"},
        "speculative_config": {"decoding_type": "MTP", "num_nextn_predict_layers": 3},
        "cuda_graph_config": {"max_batch_size": 128},
    }
    assert lg.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}


# --- llama.cpp --------------------------------------------------------------------------------


def test_llamacpp_cpu_demo_golden() -> None:
    r = parse_recipe({
        "name": "demo", "model": {"name": "gemma-3-270m", "path": "auto"}, "engine": {"name": "llama-cpp", "build": "cpu"},
        "scenarios": [{"isl": 256, "osl": 64}], "concurrency": [1, 2, 4, 8, 16],
    })
    (lg,) = render(r, model_path="/m/g.gguf", binary="/bin/llama-server")
    assert lg.argv == [
        "/bin/llama-server", "--model", "/m/g.gguf", "--alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", "8000",
        "--parallel", "16", "--ctx-size", str(16 * (256 + 64 + 256)), "--n-gpu-layers", "0",
        "--no-cache-prompt", "--cache-ram", "0", "--metrics", "--no-webui",
    ]
    assert lg.env == {}


def test_llamacpp_cuda_tp2_golden() -> None:
    r = recipe({"name": "llama-cpp", "build": "cuda"}, [{"tp": 2, "max_num_seqs": 64, "kv_cache_dtype": "q8_0"}],
               hardware={"name": "h100", "gpus": 2})
    (lg,) = render(r, model_path="/m/llama.gguf", binary="/b/llama-server")
    assert lg.argv == [
        "/b/llama-server", "--model", "/m/llama.gguf", "--alias", "dsr1", "--host", "127.0.0.1", "--port", "8000",
        "--parallel", "64", "--ctx-size", str(64 * 2304), "--n-gpu-layers", "all", "--split-mode", "row",
        "--cache-type-k", "q8_0", "--cache-type-v", "q8_0", "--no-cache-prompt", "--cache-ram", "0", "--metrics", "--no-webui",
    ]
    assert lg.env == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_llamacpp_cuda_one_gpu_uses_split_none() -> None:
    r = recipe({"name": "llama-cpp", "build": "cuda"}, [{}], hardware={"name": "h100", "gpus": 1})
    (lg,) = render(r, binary="/b/llama-server")
    i = lg.argv.index("--split-mode")
    assert lg.argv[i + 1] == "none" and lg.env == {"CUDA_VISIBLE_DEVICES": "0"}


# --- disaggregated ----------------------------------------------------------------------------

PD_LAYOUT = {"prefill": {"workers": 1, "tp": 4}, "decode": {"workers": 2, "tp": 2, "args": {"cuda-graph-max-bs": 64}}}


def test_sglang_pd_single_node_golden() -> None:
    r = recipe({"name": "sglang-pd", "kv_transfer": "nixl"}, [PD_LAYOUT])
    launches = render(r)
    assert [lg.name for lg in launches] == ["prefill-0", "decode-0", "decode-1", "router"]
    assert [lg.port for lg in launches] == [8001, 8002, 8003, 8000]
    assert [lg.env for lg in launches[:3]] == [
        {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, {"CUDA_VISIBLE_DEVICES": "4,5"}, {"CUDA_VISIBLE_DEVICES": "6,7"}]
    assert launches[0].argv == [
        "python3", "-m", "sglang.launch_server", "--model-path", "/models/dsr1", "--served-model-name", "dsr1",
        "--host", "127.0.0.1", "--port", "8001", "--tp-size", "4",
        "--disaggregation-mode", "prefill", "--disaggregation-transfer-backend", "nixl",
        "--disaggregation-bootstrap-port", "8998", "--context-length", "2304", "--disable-radix-cache", "--enable-metrics",
    ]
    assert launches[2].argv == [
        "python3", "-m", "sglang.launch_server", "--model-path", "/models/dsr1", "--served-model-name", "dsr1",
        "--host", "127.0.0.1", "--port", "8003", "--tp-size", "2",
        "--disaggregation-mode", "decode", "--disaggregation-transfer-backend", "nixl", "--cuda-graph-max-bs", "64",
        "--context-length", "2304", "--disable-radix-cache", "--enable-metrics",
    ]
    assert launches[-1].argv == [
        "python3", "-m", "sglang_router.launch_router", "--pd-disaggregation",
        "--prefill", "http://127.0.0.1:8001", "8998",
        "--decode", "http://127.0.0.1:8002", "--decode", "http://127.0.0.1:8003",
        "--host", "127.0.0.1", "--port", "8000",
    ]


def test_sglang_pd_multi_node_placement() -> None:
    layout = {"prefill": {"workers": 1, "tp": 8}, "decode": {"workers": 2, "tp": 8}}
    r = recipe({"name": "sglang-pd", "kv_transfer": "mooncake"}, [layout], hardware={"name": "h200", "gpus": 24})
    launches = render(r, nodes=["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert [(lg.name, lg.node, lg.host) for lg in launches] == [
        ("prefill-0", 0, "10.0.0.1"), ("decode-0", 1, "10.0.0.2"), ("decode-1", 2, "10.0.0.3"), ("router", 0, "127.0.0.1")]
    assert "--decode" in launches[-1].argv and "http://10.0.0.3:8003" in launches[-1].argv
    worker = launches[1].argv
    assert worker[worker.index("--host") + 1] == "0.0.0.0"


def test_dynamo_sglang_order_and_env() -> None:
    r = recipe({"name": "dynamo", "backend": "sglang", "kv_transfer": "nixl"}, [PD_LAYOUT])
    launches = render(r, workdir="/run/x")
    assert [lg.name for lg in launches] == ["etcd", "nats", "prefill-0", "decode-0", "decode-1", "frontend"]
    assert launches[-1].argv == ["python3", "-m", "dynamo.frontend", "--http-port", "8000"]
    p = launches[2]
    assert p.argv[:3] == ["python3", "-m", "dynamo.sglang"] and "--port" not in p.argv
    assert p.env["DYN_SYSTEM_PORT"] == "9090" and p.env["ETCD_ENDPOINTS"] == "http://127.0.0.1:2379"
    assert (p.port, p.health_path) == (9090, "/health")


def test_dynamo_trtllm_writes_worker_configs() -> None:
    r = recipe({"name": "dynamo", "backend": "trtllm", "kv_transfer": "nixl"},
               [{**PD_LAYOUT, "spec_method": "mtp", "spec_tokens": 1}], hardware={"name": "b200", "gpus": 8})
    launches = render(r, workdir="/run/x")
    pre = launches[2]
    assert pre.argv == ["python3", "-m", "dynamo.trtllm", "--model-path", "/models/dsr1", "--served-model-name", "dsr1",
                        "--disaggregation-mode", "prefill", "--extra-engine-args", "/run/x/dynamo-prefill-0.yaml"]
    cfg = yaml.safe_load(pre.files["/run/x/dynamo-prefill-0.yaml"])
    assert cfg["tensor_parallel_size"] == 4 and cfg["cache_transceiver_config"] == {"backend": "NIXL"}
    assert cfg["speculative_config"] == {"decoding_type": "MTP", "num_nextn_predict_layers": 1}
    assert cfg["disable_overlap_scheduler"] is True
    dec = yaml.safe_load(launches[3].files["/run/x/dynamo-decode-0.yaml"])
    assert dec["tensor_parallel_size"] == 2 and dec["disable_overlap_scheduler"] is False


def test_every_adapter_has_a_version_command() -> None:
    r = recipe({"name": "vllm"}, [{}])
    for name, adapter in ADAPTERS.items():
        argv = adapter.version_argv(RenderContext(recipe=r, layout=r.layouts[0], model_path="/m", binary="/b/x"))
        assert argv and all(isinstance(a, str) for a in argv), name


def test_unknown_layout_key_is_rejected_with_its_path() -> None:
    from servemark.errors import ServemarkError

    with pytest.raises(ServemarkError, match=r"layouts\.0\.tensor_parallel: unknown key"):
        recipe({"name": "sglang"}, [{"tp": 2, "tensor_parallel": 2}])


# --- prefix cache as an axis (scenario prefix_cache: on) ------------------------------------------


@pytest.mark.parametrize("cache", [False, True])
def test_prefix_cache_rendered_by_every_engine(cache: bool) -> None:
    """on/off reaches each engine's own switch; off is the default every adapter renders."""
    vllm = render(recipe({"name": "vllm", "build": "cuda"}, [{}]), prefix_cache=cache)[0].argv
    assert ("--enable-prefix-caching" in vllm, "--no-enable-prefix-caching" in vllm) == (cache, not cache)
    assert "--enable-prompt-tokens-details" in vllm
    sgl = render(recipe({"name": "sglang"}, [{}]), prefix_cache=cache)[0].argv
    assert ("--disable-radix-cache" in sgl) is (not cache)
    (trt,) = render(recipe({"name": "trtllm"}, [{}]), prefix_cache=cache)
    (cfg,) = trt.files.values()
    assert f"enable_block_reuse: {str(cache).lower()}" in cfg
    llama = render(recipe({"name": "llama-cpp"}, [{}], hardware={"name": "cpu", "gpus": 1}),
                   prefix_cache=cache, binary="llama-server", model_path="/m/x.gguf")[0].argv
    assert ("--cache-prompt" in llama, "--no-cache-prompt" in llama) == (cache, not cache)


def test_prefix_cache_engine_args_win() -> None:
    """An explicit engine flag is the user's decision; the scenario setting does not override it."""
    argv = render(recipe({"name": "vllm", "args": {"no-enable-prefix-caching": True}}, [{}]), prefix_cache=True)[0].argv
    assert "--no-enable-prefix-caching" in argv and "--enable-prefix-caching" not in argv
