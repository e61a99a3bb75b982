"""SGLang: ``python -m sglang.launch_server``, aggregated; its flags are reused by the PD workers.

What servemark passes, and why:
- ``--tp-size``, ``--ep-size`` (expert parallel inside the TP group), ``--pp-size``;
  ``dp_attention`` adds ``--enable-dp-attention --dp-size tp`` (attention data-parallel over the
  TP ranks, DeepSeek's MLA serving layout).
- ``--max-running-requests`` (max_num_seqs), ``--chunked-prefill-size`` (max_num_batched_tokens),
  ``--kv-cache-dtype``.
- ``--disable-radix-cache``: prefix caching off, as in InferenceX (left out with ``prefix_cache: on``).
- ``--enable-metrics``: Prometheus ``/metrics``.
- Speculative decoding: MTP runs as SGLang's EAGLE algorithm on the model's own next-token heads
  (``--speculative-algorithm EAGLE --speculative-num-steps N --speculative-eagle-topk 1
  --speculative-num-draft-tokens N+1``); ``eagle``/``eagle3`` add the draft path; ``draft_model``
  is ``STANDALONE``; ``ngram`` is ``NGRAM``.
"""

from __future__ import annotations

from servemark.engines.base import Launch, RenderContext, check_moe_group, gpu_env, max_model_len, render_args, served_name
from servemark.recipe.schema import ArgValue, Layout, Recipe, WorkerGroup

KV_TYPES = ("auto", "fp8_e4m3", "fp8_e5m2", "bf16", "bfloat16", "fp4_e2m1")
SPEC_ALGO = {"mtp": "EAGLE", "eagle": "EAGLE", "eagle3": "EAGLE3", "draft_model": "STANDALONE", "ngram": "NGRAM"}

Group = Layout | WorkerGroup


def check_group(g: Group, where: str = "") -> None:
    """Rules of one SGLang server's parallel layout; ``where`` prefixes the key (``prefill.``)."""
    check_moe_group(g, where, "SGLang", "SGLang's expert parallel runs inside the TP group",
                    "the data-parallel size is tp", "DP attention")


def check_spec(layout: Layout) -> None:
    if layout.kv_cache_dtype and layout.kv_cache_dtype not in KV_TYPES:
        raise ValueError(f"kv_cache_dtype: SGLang takes one of {', '.join(KV_TYPES)}, got {layout.kv_cache_dtype!r}")
    if layout.spec_method in ("eagle", "eagle3", "draft_model") and not layout.spec_model:
        raise ValueError(f"spec_model: {layout.spec_method} needs the draft model in spec_model")


def parallel_args(g: Group) -> list[str]:
    out = ["--tp-size", str(g.tp)]
    if g.ep > 1:
        out += ["--ep-size", str(g.ep)]
    if g.dp_attention:
        out += ["--enable-dp-attention", "--dp-size", str(g.tp)]
    if g.pp > 1:
        out += ["--pp-size", str(g.pp)]
    if g.max_num_seqs:
        out += ["--max-running-requests", str(g.max_num_seqs)]
    if g.max_num_batched_tokens:
        out += ["--chunked-prefill-size", str(g.max_num_batched_tokens)]
    return out


def spec_args(layout: Layout) -> list[str]:
    if layout.spec_method == "none":
        return []
    algo = SPEC_ALGO[layout.spec_method]
    steps = layout.spec_tokens or (1 if layout.spec_method == "mtp" else 3)
    if algo == "NGRAM":
        return ["--speculative-algorithm", algo, "--speculative-num-draft-tokens", str(steps)]
    out = ["--speculative-algorithm", algo, "--speculative-num-steps", str(steps),
           "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(steps + 1)]
    if layout.spec_model:
        out += ["--speculative-draft-model-path", layout.spec_model]
    return out


def server_argv(ctx: RenderContext, module: str, host: str, port: int, group: Group,
                extra: dict[str, ArgValue] | None = None, with_port: bool = True) -> list[str]:
    """One SGLang server (aggregated, a PD worker, or a Dynamo SGLang worker with ``module``)."""
    r, lay = ctx.recipe, ctx.layout
    argv = [ctx.python, "-m", module, "--model-path", ctx.model_path, "--served-model-name", served_name(r)]
    if with_port:
        argv += ["--host", host, "--port", str(port)]
    argv += parallel_args(group)
    if lay.kv_cache_dtype:
        argv += ["--kv-cache-dtype", lay.kv_cache_dtype]
    argv += spec_args(lay)
    args: dict[str, ArgValue] = {**r.engine.args, **(extra or {})}
    if "context-length" not in args and max_model_len(r) is not None:
        args["context-length"] = max_model_len(r)
    if "enable-radix-cache" not in args and not ctx.prefix_cache:
        args.setdefault("disable-radix-cache", True)  # the radix cache is SGLang's default: on = no flag
    args.setdefault("enable-metrics", True)
    return argv + render_args(args)


class SGLang:
    name = "sglang"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        if layout.disaggregated:
            raise ValueError("prefill: a disaggregated layout runs under engine sglang-pd or dynamo, not sglang")
        if recipe.hardware.name == "cpu":
            raise ValueError("hardware.name: servemark renders SGLang for GPUs (hardware.name cpu given)")
        check_group(layout)
        check_spec(layout)

    def render(self, ctx: RenderContext) -> list[Launch]:
        r = ctx.recipe
        argv = server_argv(ctx, "sglang.launch_server", r.engine.host, r.engine.port, ctx.layout)
        env = gpu_env(r, ctx.layout, dict(r.engine.env))
        return [Launch(argv=argv, env=env, host=r.engine.host, port=r.engine.port, served_model=served_name(r))]

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import sglang; print(sglang.__version__)"]
