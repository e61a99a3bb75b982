"""TensorRT-LLM: ``trtllm-serve`` with the PyTorch backend.

The command line carries what ``trtllm-serve`` takes as flags (``--tp_size``, ``--ep_size``,
``--pp_size``, ``--max_batch_size``, ``--max_num_tokens``, ``--max_seq_len``); the rest of the
layout lives in the LLM-API options file it reads with ``--extra_llm_api_options``, which servemark
writes next to the run (``Launch.files``):
- ``enable_attention_dp``: DP attention (the DeepSeek layout InferenceX runs as ``dp-attn``);
- ``kv_cache_config``: ``enable_block_reuse: false`` (prefix caching off, as in InferenceX; ``true``
  with the scenario's ``prefix_cache: on``) and the KV dtype;
- ``speculative_config``: MTP (``decoding_type: MTP``, ``num_nextn_predict_layers`` = depth),
  EAGLE3 (``Eagle``), a draft model (``DraftTarget``) or n-gram (``NGram``).
Recipe ``engine.args`` are added as flags; ``engine.args`` keys with a ``llm_api.`` prefix go into
the options file instead (``llm_api.cuda_graph_config.max_batch_size: 256`` style, dotted paths).
"""

from __future__ import annotations

from typing import Any

import yaml

from servemark.engines.base import Launch, RenderContext, check_moe_group, gpu_env, max_model_len, render_args
from servemark.recipe.schema import ArgValue, Layout, Recipe, WorkerGroup

KV_TYPES = ("auto", "fp8", "nvfp4")
Group = Layout | WorkerGroup
API_PREFIX = "llm_api."


def check_group(g: Group, where: str = "") -> None:
    check_moe_group(g, where, "TensorRT-LLM", "TensorRT-LLM splits the MoE over tp ranks as ep x moe-tp",
                    "attention is data-parallel over the tp ranks", "attention DP")


def check_layout(recipe: Recipe, layout: Layout) -> None:
    if recipe.hardware.name == "cpu" or recipe.hardware.name.lower().startswith("mi"):
        raise ValueError(f"hardware.name: TensorRT-LLM runs on NVIDIA GPUs, not {recipe.hardware.name}")
    if layout.kv_cache_dtype and layout.kv_cache_dtype not in KV_TYPES:
        raise ValueError(f"kv_cache_dtype: TensorRT-LLM takes one of {', '.join(KV_TYPES)}, got {layout.kv_cache_dtype!r}")
    if layout.spec_method == "eagle":
        raise ValueError("spec_method: TensorRT-LLM's PyTorch backend runs EAGLE-3 drafts; use eagle3")
    if layout.spec_method in ("eagle3", "draft_model") and not layout.spec_model:
        raise ValueError(f"spec_model: {layout.spec_method} needs the draft model in spec_model")


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def llm_api_options(layout: Layout, group: Group, args: dict[str, ArgValue],
                    prefix_cache: bool = False) -> dict[str, Any]:
    """The ``--extra_llm_api_options`` YAML content for one server."""
    opts: dict[str, Any] = {"kv_cache_config": {"enable_block_reuse": prefix_cache}}
    if group.dp_attention:
        opts["enable_attention_dp"] = True
    if layout.kv_cache_dtype:
        opts["kv_cache_config"]["dtype"] = layout.kv_cache_dtype
    m = layout.spec_method
    depth = layout.spec_tokens or (1 if m == "mtp" else 3)
    if m == "mtp":
        opts["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": depth}
    elif m == "eagle3":
        opts["speculative_config"] = {"decoding_type": "Eagle", "max_draft_len": depth, "speculative_model_dir": layout.spec_model}
    elif m == "draft_model":
        opts["speculative_config"] = {"decoding_type": "DraftTarget", "max_draft_len": depth, "speculative_model_dir": layout.spec_model}
    elif m == "ngram":
        opts["speculative_config"] = {"decoding_type": "NGram", "max_draft_len": depth, "max_matching_ngram_size": 4}
    for key, value in args.items():
        if key.startswith(API_PREFIX):
            _set_path(opts, key[len(API_PREFIX):], value)
    return opts


def flag_args(args: dict[str, ArgValue]) -> dict[str, ArgValue]:
    return {k: v for k, v in args.items() if not k.startswith(API_PREFIX)}


def dump_yaml(opts: dict[str, Any]) -> str:
    return yaml.safe_dump(opts, sort_keys=True, default_flow_style=False)


class TRTLLM:
    name = "trtllm"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        if layout.disaggregated:
            raise ValueError("prefill: disaggregated TensorRT-LLM runs under engine dynamo (backend trtllm)")
        check_layout(recipe, layout)
        check_group(layout)

    def render(self, ctx: RenderContext) -> list[Launch]:
        r, lay = ctx.recipe, ctx.layout
        cfg_path = f"{ctx.workdir.rstrip('/')}/trtllm-llm-api.yaml"
        argv = [
            ctx.binary or "trtllm-serve", ctx.model_path,
            "--host", r.engine.host, "--port", str(r.engine.port),
            "--backend", "pytorch",
            "--tp_size", str(lay.tp), "--ep_size", str(lay.ep), "--pp_size", str(lay.pp),
        ]
        if lay.max_num_seqs:
            argv += ["--max_batch_size", str(lay.max_num_seqs)]
        if lay.max_num_batched_tokens:
            argv += ["--max_num_tokens", str(lay.max_num_batched_tokens)]
        args = dict(r.engine.args)
        if max_model_len(r) is not None:
            args.setdefault("max_seq_len", max_model_len(r))
        argv += ["--extra_llm_api_options", cfg_path]
        argv += render_args(flag_args(args))
        files = {cfg_path: dump_yaml(llm_api_options(lay, lay, args, ctx.prefix_cache))}
        return [Launch(argv=argv, env=gpu_env(r, lay, dict(r.engine.env)), host=r.engine.host, port=r.engine.port,
                       served_model=ctx.model_path, files=files)]

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import tensorrt_llm; print(tensorrt_llm.__version__)"]
