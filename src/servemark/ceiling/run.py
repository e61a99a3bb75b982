"""Measure the engine ceiling of a recipe: per layout and scenario, render -> execute -> parse -> rows.

Called by ``servemark ceiling RECIPE`` (only the ceiling, :mod:`servemark.sweep.ceiling_run`) and by
the sweep after a layout's served points when the recipe has ``ceiling:`` (the server stopped first: the offline benchmark needs the
memory and cores the server held). Each command's rows are handed to ``on_rows`` as soon as it
finishes, so a later failure keeps what was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from servemark.ceiling.execute import Executed, execute
from servemark.ceiling.parse import CeilingResult, parse_batched_bench, parse_sglang_one_batch, parse_vllm_throughput
from servemark.ceiling.render import LLAMA_TOOL, SGLANG_TOOL, VLLM_TOOL, CeilingCommand, batches_of, check_supported, render
from servemark.ceiling.row import CeilingRow, ceiling_id, key_of
from servemark.engines import RenderContext
from servemark.errors import ServemarkError
from servemark.recipe.expand import recipe_hash
from servemark.recipe.schema import CeilingSpec, Layout, Recipe


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def gpu_count(recipe: Recipe, layout: Layout) -> int:
    """GPUs of the instance (the per-GPU divisor, as the sweep's points); a CPU counts as one."""
    return recipe.hardware.gpus if recipe.hardware.name == "cpu" else max(layout.gpus, 1)


def engine_label(recipe: Recipe) -> str:
    """The engine as points name it: ``vllm-cpu``, ``llama-cpp-cpu``, ``sglang``."""
    return recipe.engine.name + (f"-{recipe.engine.build}" if recipe.engine.build else "")


def parse_executed(ex: Executed) -> list[CeilingResult]:
    """The tool's results, checked against what was asked (batch sizes and lengths)."""
    cmd = ex.command
    src = str(ex.log_path)
    if cmd.tool == LLAMA_TOOL:
        results = parse_batched_bench(ex.stdout, src)
    elif cmd.tool == VLLM_TOOL:
        results = [parse_vllm_throughput(ex.result_text or "", ex.stdout, cmd.batches[0], cmd.isl, cmd.osl,
                                         cmd.result_file or src)]
    elif cmd.tool == SGLANG_TOOL:
        results = parse_sglang_one_batch(ex.result_text or "", cmd.result_file or src)
    else:  # pragma: no cover - render only produces the tools above
        raise ServemarkError(f"unknown ceiling tool {cmd.tool!r}")
    got = sorted(r.batch for r in results)
    if got != sorted(cmd.batches):
        raise ServemarkError(f"{cmd.tool} reported batches {got}, asked for {sorted(cmd.batches)} (a batch that does "
                             f"not fit the context is skipped by the tool); log {ex.log_path}")
    return results


def to_rows(results: list[CeilingResult], recipe: Recipe, layout: Layout, argv: list[str], engine_version: str,
            run_id: str, source: str, source_file: str) -> list[CeilingRow]:
    """Tool results -> stored rows: the served points' identity fields, per-GPU throughputs."""
    n = gpu_count(recipe, layout)
    rows = []
    for r in results:
        row = CeilingRow(
            model=recipe.model.name, engine=engine_label(recipe), hardware=recipe.hardware.name,
            precision=recipe.precision, tp=layout.tp, ep=layout.ep, pp=layout.pp, dp_attention=layout.dp_attention,
            spec_method=layout.spec_method, isl=r.isl, osl=r.osl, batch=r.batch, gpu_count=n, tool=r.tool,
            engine_version=engine_version, elapsed_s=r.elapsed_s, tput_per_gpu=r.tput / n,
            output_tput_per_gpu=r.output_tput / n, decode_tput=r.decode_tput, prefill_tput=r.prefill_tput,
            intvty=r.intvty, run_id=run_id, recipe_hash=recipe_hash(recipe), measured_at=_now(), source=source,
            source_file=source_file, argv=list(argv), raw=r.raw,
        )
        row.ceiling_id = ceiling_id(key_of(row.to_dict()))
        rows.append(row)
    return rows


def commands_for(recipe: Recipe, layout: Layout, rt: Any, run_dir: Path,
                 spec: CeilingSpec | None = None) -> list[CeilingCommand]:
    """Every benchmark command of one layout (all scenarios), rendered with the runtime's paths."""
    spec = spec or recipe.ceiling or CeilingSpec()
    try:
        check_supported(recipe, layout)
    except ValueError as exc:
        raise ServemarkError(f"ceiling: {exc}") from None
    binary = rt.binary
    if recipe.engine.name == "llama-cpp" and getattr(rt, "start_engine", True):
        from servemark.engine_envs import llama_cpp

        binary = str(llama_cpp.batched_bench_binary(recipe.engine.build))
    ctx = RenderContext(recipe=recipe, layout=layout, model_path=rt.model_path, python=rt.python, binary=binary)
    out: list[CeilingCommand] = []
    for sc in recipe.scenarios:
        out += render(ctx, sc, batches_of(recipe, spec), run_dir, spec)
    return out


def measure_layout(recipe: Recipe, li: int, layout: Layout, rt: Any, run_id: str, run_dir: Path,
                   on_rows: Callable[[list[CeilingRow]], None], console: Console | None = None,
                   spec: CeilingSpec | None = None) -> list[CeilingRow]:
    """Run the layout's ceiling commands one after the other; rows go to ``on_rows`` per command."""
    console = console or Console(stderr=True)
    spec = spec or recipe.ceiling or CeilingSpec()
    out: list[CeilingRow] = []
    for i, cmd in enumerate(commands_for(recipe, layout, rt, run_dir, spec)):
        label = f"L{li} {cmd.isl}/{cmd.osl} batch {','.join(map(str, cmd.batches))}"
        with console.status(f"[bold]ceiling[/] {cmd.tool} {label}"):
            ex = execute(cmd, run_dir / f"ceiling-L{li}-{i:02d}-{cmd.tool}.log", spec.timeout_s)
        rows = to_rows(parse_executed(ex), recipe, layout, cmd.argv, rt.engine_version, run_id, "servemark",
                       str(ex.log_path))
        on_rows(rows)
        out += rows
        for r in rows:
            console.print(f"ceiling {label.split(' batch')[0]} batch {r.batch}: {r.tput_per_gpu:,.1f} tok/s/GPU "
                          f"(out {r.output_tput_per_gpu:,.1f})" + (f", {r.intvty:,.1f} tok/s/user" if r.intvty else "")
                          + f" [{ex.wall_s:.0f} s]")
    return out


def import_output(recipe: Recipe, path: Path, db: Path, layout_index: int = 0,
                  batches: list[int] | None = None) -> list[CeilingRow]:
    """Store a saved benchmark output (e.g. the GPU run's ``llama-batched-bench`` log) as the
    ceiling of ``recipe``'s layout ``layout_index``: the recipe says what was measured (model,
    engine build, hardware, precision, layout), the file how fast. vLLM: the ``--output-json``
    file of one batch size (given in ``batches``)."""
    from servemark.ceiling import store as cstore
    from servemark.store import Store

    if not 0 <= layout_index < len(recipe.layouts):
        raise ServemarkError(f"--layout {layout_index}: the recipe has layouts 0..{len(recipe.layouts) - 1}")
    lay = recipe.layouts[layout_index]
    try:
        check_supported(recipe, lay)
        text = path.read_text(errors="replace")
    except ValueError as exc:
        raise ServemarkError(f"ceiling: {exc}") from None
    except OSError as exc:
        raise ServemarkError(f"cannot read {path}: {exc}") from None
    name = recipe.engine.name
    if name == "llama-cpp":
        results = parse_batched_bench(text, str(path))
    elif name == "sglang":
        results = parse_sglang_one_batch(text, str(path))
    else:
        if not batches or len(batches) != 1:
            raise ServemarkError("a vLLM throughput result holds one batch size: give it with --batches N")
        sc = recipe.scenarios[0] if len(recipe.scenarios) == 1 else None
        if sc is None:
            raise ServemarkError("a vLLM throughput result has no lengths in it: the recipe must have one scenario")
        results = [parse_vllm_throughput(text, "", batches[0], sc.isl, sc.osl, str(path))]
    if batches:
        results = [r for r in results if r.batch in batches]
    scen = {(s.isl, s.osl) for s in recipe.scenarios}
    off = sorted({(r.isl, r.osl) for r in results} - scen)
    if off:
        raise ServemarkError(f"{path}: lengths {off} are not among the recipe's scenarios {sorted(scen)}")
    rows = to_rows(results, recipe, lay, [], "", "", "imported", str(path))
    with Store(db) as st:
        cstore.write(st, rows)
    return rows
