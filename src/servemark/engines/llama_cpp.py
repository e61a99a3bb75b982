"""llama.cpp: ``llama-server``, on CPU here and with CUDA on a GPU host.

What servemark passes, and why:
- ``--parallel N``: server slots, by default the recipe's highest concurrency, so a concurrency
  sweep measures batching rather than a queue in front of too few slots.
- ``--ctx-size`` = slots x (longest prompt + longest output + 256), split evenly over the slots
  (one KV stream per slot), so each request fits its own ISL + OSL (the 256 tokens of headroom are
  InferenceX's ``max-model-len = isl + osl + 256``). Not ``--kv-unified``: on an H200 one shared
  pool capped throughput at ~1.8k tok/s/GPU from concurrency 8 on, while per-slot streams reached
  4.5k at 128 (docs/gpu.md); a recipe can still ask for it with ``args: {kv-unified: true}``.
- ``--no-cache-prompt --cache-ram 0``: no prompt cache, like prefix caching off in InferenceX;
  ``--cache-prompt`` with the scenario's ``prefix_cache: on``.
- ``--metrics``: the Prometheus endpoint; ``--no-webui``: a server that only serves the API.
- GPU placement: ``--n-gpu-layers 0`` on CPU hardware; ``all`` on GPUs with ``--split-mode none``
  on one GPU, ``row`` for ``tp > 1`` and ``layer`` (pipelined) for ``pp > 1``.
llama.cpp has no expert parallelism, DP attention or MTP; those layouts are rejected.
"""

from __future__ import annotations

from servemark.engines.base import Launch, RenderContext, render_args, served_name
from servemark.recipe.schema import Layout, Recipe

KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
SPEC_METHODS = ("none", "draft_model", "ngram")
HEADROOM_TOKENS = 256


def on_gpu(recipe: Recipe) -> bool:
    return recipe.hardware.name != "cpu" or recipe.engine.build == "cuda"


def placement_args(recipe: Recipe, lay: Layout) -> list[str]:
    """GPU offload and split, batch size and KV cache type: the flags ``llama-server`` and
    ``llama-batched-bench`` (``servemark.ceiling``) share."""
    if on_gpu(recipe):
        argv = ["--n-gpu-layers", "all", "--split-mode", "row" if lay.tp > 1 else "layer" if lay.pp > 1 else "none"]
    else:
        argv = ["--n-gpu-layers", "0"]
    if lay.max_num_batched_tokens:
        argv += ["--batch-size", str(lay.max_num_batched_tokens)]
    if lay.kv_cache_dtype:
        argv += ["--cache-type-k", lay.kv_cache_dtype, "--cache-type-v", lay.kv_cache_dtype]
    return argv


def gpu_env_of(recipe: Recipe, lay: Layout) -> dict[str, str]:
    """The recipe's env, with ``CUDA_VISIBLE_DEVICES`` = the layout's GPUs on a GPU build."""
    env = dict(recipe.engine.env)
    if on_gpu(recipe) and "CUDA_VISIBLE_DEVICES" not in env:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(lay.tp * lay.pp))
    return env


class LlamaCpp:
    name = "llama-cpp"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        if layout.ep > 1:
            raise ValueError("ep: llama.cpp has no expert parallelism (ep must be 1)")
        if layout.dp_attention:
            raise ValueError("dp_attention: llama.cpp has no data-parallel attention")
        if layout.disaggregated:
            raise ValueError("prefill: llama.cpp serves aggregated only; use engine sglang-pd or dynamo")
        if layout.tp > 1 and layout.pp > 1:
            raise ValueError("pp: llama.cpp splits a model one way, by rows (tp) or by layers (pp), not both")
        if (layout.tp > 1 or layout.pp > 1) and not on_gpu(recipe):
            raise ValueError("tp: llama.cpp splits a model over GPUs only; on CPU keep tp = pp = 1")
        if layout.kv_cache_dtype and layout.kv_cache_dtype not in KV_TYPES:
            raise ValueError(f"kv_cache_dtype: llama.cpp takes one of {', '.join(KV_TYPES)}, got {layout.kv_cache_dtype!r}")
        if layout.spec_method not in SPEC_METHODS:
            raise ValueError(f"spec_method: llama.cpp supports {', '.join(SPEC_METHODS)}, not {layout.spec_method!r}")
        if layout.spec_method == "draft_model" and not layout.spec_model:
            raise ValueError("spec_model: draft_model speculative decoding needs the draft GGUF in spec_model")
        if recipe.engine.build not in (None, "cpu", "cuda"):
            raise ValueError(f"engine.build: llama.cpp builds are cpu or cuda, got {recipe.engine.build!r}")

    def slots(self, recipe: Recipe, layout: Layout) -> int:
        return layout.max_num_seqs or recipe.max_concurrency

    def ctx_size(self, recipe: Recipe, layout: Layout) -> int:
        per_seq = max(s.isl for s in recipe.scenarios) + max(s.osl for s in recipe.scenarios) + HEADROOM_TOKENS
        return self.slots(recipe, layout) * per_seq

    def render(self, ctx: RenderContext) -> list[Launch]:
        r, lay = ctx.recipe, ctx.layout
        argv = [
            ctx.binary or "llama-server",
            "--model", ctx.model_path,
            "--alias", served_name(r),
            "--host", r.engine.host,
            "--port", str(r.engine.port),
            "--parallel", str(self.slots(r, lay)),
            "--ctx-size", str(self.ctx_size(r, lay)),
        ]
        argv += placement_args(r, lay)
        if lay.spec_method == "draft_model":
            argv += ["--model-draft", str(lay.spec_model)]
        elif lay.spec_method == "ngram":
            argv += ["--spec-type", "ngram-simple"]
        if lay.spec_method != "none" and lay.spec_tokens:
            argv += ["--draft-max", str(lay.spec_tokens)]
        args = dict(r.engine.args)
        if "cache-prompt" not in args and "no-cache-prompt" not in args:
            if ctx.prefix_cache:
                args["cache-prompt"] = True
            else:
                args["no-cache-prompt"] = True
                args.setdefault("cache-ram", 0)
        args.setdefault("metrics", True)
        args.setdefault("no-webui", True)
        argv += render_args(args)
        env = gpu_env_of(r, lay)
        return [Launch(argv=argv, env=env, host=r.engine.host, port=r.engine.port, served_model=served_name(r))]

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.binary or "llama-server", "--version"]
