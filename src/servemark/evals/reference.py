"""Build an agreement reference file from a recipe: start its engine, decode greedily, save, stop.

A reference deployment (say the model in BF16 at TP1) and the configs under test rarely fit on the
same GPUs at once, so the reference is measured once into a file and candidates are compared with
that file (``evals.agreement.reference.file``). The engine is started exactly as a sweep starts it
(the recipe's adapter and executor) and always stopped, also on errors and Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from servemark.errors import ServemarkError
from servemark.evals.agreement import AgreementConfig, prepare
from servemark.evals.client import Endpoint
from servemark.recipe.schema import Recipe


def agreement_config_from(recipe: Recipe, **overrides: object) -> AgreementConfig:
    """The recipe's ``evals.agreement`` settings (prompts, N, shots, data), else the defaults;
    explicit ``overrides`` that are not None win."""
    cfg = AgreementConfig()
    spec = recipe.evals.agreement if recipe.evals is not None else None
    if spec is not None:
        cfg = AgreementConfig(limit=spec.limit, tokens=spec.tokens, shots=spec.shots, data=spec.data)
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    return cfg


def build_reference(
    recipe: Recipe,
    out: Path,
    cfg: AgreementConfig,
    layout_index: int = 0,
    endpoint: str | None = None,
    api_key: str | None = None,
    log_dir: Path | None = None,
    console: Console | None = None,
) -> Path:
    """Decode the check's prompts on the recipe's engine (layout ``layout_index``) into ``out``.

    With ``endpoint`` the engine is not started: the server already running there is used.
    """
    console = console or Console(stderr=True)
    if not 0 <= layout_index < len(recipe.layouts):
        raise ServemarkError(f"layouts.{layout_index}: the recipe has {len(recipe.layouts)} layout(s)")
    from servemark.engines import RenderContext, adapter_for
    from servemark.engines.base import served_name

    model = served_name(recipe)
    if endpoint is not None:
        ep = Endpoint(endpoint, model, api=recipe.api, api_key=api_key)
        prepare(cfg, reference=ep, save_reference_to=out)
        return out

    from servemark.executors import make_server
    from servemark.executors.runtime import resolve_runtime

    layout = recipe.layouts[layout_index]
    adapter = adapter_for(recipe.engine.name)
    try:
        adapter.validate(recipe, layout)
    except ValueError as exc:
        raise ServemarkError(f"layouts.{layout_index}: {exc}") from None
    rt = resolve_runtime(recipe)
    ctx = RenderContext(recipe=recipe, layout=layout, model_path=rt.model_path, python=rt.python, binary=rt.binary)
    launches = adapter.render(ctx)
    log_dir = log_dir or out.parent
    servers = [make_server(lg, log_dir / f"reference-{lg.name}.log", recipe, rt.model_path) for lg in launches]
    try:
        for srv in servers:
            console.print(f"starting {srv.launch.name} on :{srv.launch.port} (log {srv.log_path})")
            srv.start()
            srv.wait_ready(recipe.engine.startup_timeout_s)
        front = launches[-1]
        ep = Endpoint(front.base_url, front.served_model or model, api=recipe.api, api_key=api_key)
        prepare(cfg, reference=ep, save_reference_to=out)
    finally:
        for srv in reversed(servers):
            srv.stop()
    return out
