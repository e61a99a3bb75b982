"""The calibration server as an engine: known timings, starts in a second, runs anywhere.

Used where the subject is not the engine but what runs it: executors, Slurm placement, resume,
bundles. ``engine.args`` are :class:`~servemark.calibration.plan.CalibrationPlan` fields
(``ttft_ms``, ``itl_ms``, ``tokens_per_chunk``...). An aggregated layout is one server; a
disaggregated one is calibration prefill and decode workers behind
:mod:`servemark.calibration.router`, placed on nodes like the real disaggregated engines
(:func:`servemark.engines.disagg.place`): prefill first, ``hardware.gpus_per_node`` per node.
"""

from __future__ import annotations

import json
from typing import Any

from servemark.engines.base import Launch, RenderContext, served_name
from servemark.engines.disagg import _hosts, _worker_host, place
from servemark.recipe.schema import Layout, Recipe


def plan_fields(args: dict[str, Any]) -> dict[str, Any]:
    """``engine.args`` as CalibrationPlan fields. Recipe args are scalars, so a list or mapping
    field (``faults``, ``tokens_per_chunk``, ``always``) is written as JSON text: ``'{"die": [9]}'``."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str) and v.strip()[:1] in ("{", "["):
            try:
                v = json.loads(v)
            except ValueError as exc:
                raise ValueError(f"engine.args.{k}: not valid JSON ({exc})") from None
        out[k.replace("-", "_")] = v
    return out


def _server(ctx: RenderContext, host: str, port: int) -> list[str]:
    plan = plan_fields(ctx.recipe.engine.args)
    return [ctx.python, "-m", "servemark.calibration.server", "--host", host, "--port", str(port),
            "--plan", json.dumps(plan, sort_keys=True), "--max-lifetime-s", "86400"]


class Calibration:
    name = "calibration"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        from servemark.calibration.plan import CalibrationPlan

        try:
            CalibrationPlan(**plan_fields(recipe.engine.args))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"engine.args: not calibration plan fields ({exc})") from None

    def render(self, ctx: RenderContext) -> list[Launch]:
        r = ctx.recipe
        if not ctx.layout.disaggregated:
            return [Launch(argv=_server(ctx, r.engine.host, r.engine.port), env=dict(r.engine.env), host=r.engine.host,
                           port=r.engine.port, served_model=served_name(r), metrics_path=None)]
        slots = place(r, ctx.layout)
        nodes = max(s.node for s in slots) + 1
        host, hosts = _worker_host(ctx, nodes), _hosts(ctx, nodes)
        launches: list[Launch] = []
        router = [ctx.python, "-m", "servemark.calibration.router", "--host", r.engine.host, "--port", str(r.engine.port)]
        for s in slots:
            port = r.engine.port + 1 + s.k
            launches.append(Launch(argv=_server(ctx, host, port), env=dict(r.engine.env), host=hosts[s.node], port=port,
                                   served_model=served_name(r), metrics_path=None, name=f"{s.role}-{s.index}", node=s.node))
            router += [f"--{s.role}", f"http://{hosts[s.node]}:{port}"]
        launches.append(Launch(argv=router, env=dict(r.engine.env), host=r.engine.host, port=r.engine.port,
                               served_model=served_name(r), metrics_path=None, name="router", node=0))
        return launches

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import servemark; print('calibration', servemark.__version__)"]
