"""``servemark sol``: the speed-of-light model from the command line.

Subcommands: ``hardware`` (the catalogue), ``model`` (a spec's counts), ``breakdown`` (four
resources of one phase), ``frontier`` (the SOL frontier, strict or calibrated, optionally written
to the store) and ``check`` (measured / SOL for every stored point, written to the store).
Every subcommand prints a table, or JSON with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from servemark.cli_options import DB_OPTION, db_path, gpu_counts, json_option
from servemark.errors import ServemarkError
from servemark.numfmt import fixed
from servemark.store import Store

app = typer.Typer(help="Speed of light: hardware catalogue, four-resource breakdown, SOL frontiers, measured / SOL.",
                      no_args_is_help=True)
gpu_data_app = typer.Typer()
"""``servemark gpu-data``: a top-level command, kept with the SOL overlay it computes."""
out = Console()

JSON_OPT = json_option("Print JSON instead of a table.")


def _precision(value: str) -> str:
    from servemark.sol.precision import check_precision

    try:
        return check_precision(value)
    except Exception as exc:  # ServemarkError -> a usage error naming the option (exit 2)
        raise typer.BadParameter(str(exc)) from None


PRECISION = typer.Option("fp8", "--precision", callback=_precision,
                         help="Weight precision: fp4, fp8, int8, bf16, fp16, fp32 (aliases nvfp4, mxfp4, e4m3, ...).")


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _table(title: str, cols: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c, justify="right" if c not in ("name", "layout", "resource", "note", "hardware", "key", "binding") else "left")
    for r in rows:
        t.add_row(*[("" if v is None else (fixed(v, 4, grouping=True) if isinstance(v, float) else str(v))) for v in r])
    out.print(t)


@app.command("hardware")
def hardware_cmd(as_json: bool = JSON_OPT) -> None:
    """The hardware catalogue (dense peaks, per-direction links; every value has a source and date)."""
    from servemark.sol.hardware import NUMERIC_FIELDS, load_catalogue

    cat = load_catalogue()
    if as_json:
        _print_json({"catalogue_version": cat.version, "accelerators": {
            k: {**{f: getattr(a, f) for f in NUMERIC_FIELDS}, "name": a.name, "aliases": list(a.aliases),
                "sources": {f: vars(p) for f, p in a.provenance.items()}} for k, a in cat.items()}})
        return
    rows = [[k, a.memory_gb, a.hbm_bw_gbps, a.bf16_dense_tflops, a.fp8_dense_tflops, a.fp4_dense_tflops,
             a.scaleup_gbps_per_direction, a.domain, a.tdp_w] for k, a in cat.items()]
    _table(f"hardware catalogue {cat.version}", ["key", "memory_gb", "hbm_bw_gbps", "bf16_dense_tflops",
           "fp8_dense_tflops", "fp4_dense_tflops", "scaleup_gbps_per_direction", "domain_gpus", "tdp_w"], rows)


@app.command("model")
def model_cmd(model: str = typer.Argument(..., help="Shipped name (e.g. deepseek-r1, dsr1) or a config.json path."),
              as_json: bool = JSON_OPT) -> None:
    """Parameter counts and cache size of a model spec."""
    from servemark.modelspec.architecture import load_architecture
    from servemark.sol.precision import profile_for

    s = load_architecture(model)
    kv = {p: float(profile_for(s, p, "realistic").kv_bytes_per_token_layer(s).sum()) for p in ("bf16", "fp8")}
    d = {"name": s.name, "source": s.source, "layers": s.n_layers, "total_params": s.total_params,
         "active_params": s.active_params, "active_params_with_embedding": s.active_params_with_embedding,
         "attn_params": s.attn_params, "expert_params_total": s.expert_params_total, "is_moe": s.is_moe,
         "attention": s.layers[0].attention, "mtp_layers": s.mtp_layers, "weight_format": s.weight_format,
         "kv_bytes_per_token_all_layers": kv}
    if as_json:
        _print_json(d)
        return
    _table(f"model {s.name}", ["key", "value"], [[k, v] for k, v in d.items()])


@app.command("breakdown")
def breakdown_cmd(
    model: str = typer.Argument(...), hardware: str = typer.Argument(...),
    precision: str = PRECISION, phase: str = typer.Option("decode", "--phase"),
    isl: int = typer.Option(1024, "--isl", min=1, max=10_000_000), osl: int = typer.Option(1024, "--osl", min=1, max=10_000_000),
    batch: int = typer.Option(1, "--batch", help="prefill: prompts; decode: sequences in the step"),
    kv_len: int = typer.Option(None, "--kv-len", help="decode: cached tokens per sequence (default isl + osl)"),
    tp: int = typer.Option(1, "--tp"), ep: int = typer.Option(1, "--ep"),
    mode: str = typer.Option("corrected", "--mode", help="corrected (default) or article"),
    as_json: bool = JSON_OPT,
) -> None:
    """Compute, memory capacity, memory bandwidth and communication of one phase, per GPU."""
    from servemark.sol.breakdown import breakdown

    b = breakdown(model, hardware, precision, phase, isl, osl, batch, kv_len, tp, ep, mode)
    if as_json:
        _print_json(b.to_dict())
        return
    _table(f"{b.phase} {b.model} on {b.n_gpu}x {b.hardware} {b.precision} ({b.mode} mode)",
           ["resource", "amount", "unit", "time_ms", "note"],
           [[r.name, r.amount, r.unit, None if r.time_s is None else r.time_s * 1e3, r.note] for r in b.rows])
    out.print(f"binding: [bold]{b.binding}[/]; " + ", ".join(f"{k} {fixed(v, 3)}" for k, v in b.ratios.items()))
    for f in b.flags:
        out.print(f"  ! {f}")


@app.command("frontier")
def frontier_cmd(
    model: str = typer.Argument(...), hardware: str = typer.Argument(...),
    precision: str = PRECISION, isl: int = typer.Option(1024, "--isl", min=1, max=10_000_000),
    osl: int = typer.Option(1024, "--osl", min=1, max=10_000_000), kind: str = typer.Option("strict", "--kind", help="strict or calibrated"),
    gpus: str = typer.Option("", "--gpus", help="Comma-separated GPU counts per instance (default: 1..scale-up domain)."),
    no_mtp: bool = typer.Option(False, "--no-mtp", help="Leave speculative decoding out."),
    write: bool = typer.Option(False, "--write", help="Store the frontier in sol_frontiers."),
    db: Path = DB_OPTION, as_json: bool = JSON_OPT,
) -> None:
    """The SOL frontier: best tput/GPU (input+output) at each interactivity (tok/s/user)."""
    from servemark.sol.frontier import _resolve, default_layouts, sol_frontier

    spec, acc = _resolve(model, hardware)
    counts = gpu_counts("--gpus", gpus)
    lays = default_layouts(spec, acc, mtp=False if no_mtp else None, gpu_counts=counts)
    pts = sol_frontier(spec, acc, precision, isl, osl, lays, mode=kind)
    if write:
        from servemark.sol.hardware import load_catalogue
        from servemark.sol.store import write_frontier
        from servemark.store import Store

        with Store(db_path(db)) as st:
            # stored under the names as typed, so they can match the points' model and hardware
            write_frontier(st, model, hardware, precision, isl, osl, kind, pts, load_catalogue().version)
    if as_json:
        _print_json([{"intvty": p.intvty, "tput_per_gpu": p.tput_per_gpu, "conc": p.conc, "layout": p.layout.label()}
                     for p in pts])
        return
    step = max(1, len(pts) // 24)
    _table(f"{kind} SOL frontier: {spec.name} on {acc.key} {precision} {isl}/{osl}",
           ["intvty", "tput_per_gpu", "conc", "layout"],
           [[p.intvty, p.tput_per_gpu, p.conc, p.layout.label()] for p in pts[::step]])


@app.command("check")
def check_cmd(db: Path = DB_OPTION, kind: str = typer.Option("strict", "--kind", help="strict or calibrated"),
              write_frontiers: bool = typer.Option(True, "--frontiers/--no-frontiers",
                                                   help="Also store strict and calibrated frontiers per scenario."),
              as_json: bool = JSON_OPT) -> None:
    """measured / SOL for every stored point; writes sol_point_fractions (and sol_frontiers)."""
    from servemark.sol.frontier import default_layouts, sol_frontier, _resolve
    from servemark.sol.hardware import load_catalogue
    from servemark.sol.measured import fractions, from_point, supported
    from servemark.sol.store import write_fractions, write_frontier
    from servemark.store import Store

    path = db_path(db)
    if not Path(path).exists():
        raise ServemarkError(f"no results store at {path} (run a sweep or an import first)")
    with Store(path) as st:
        pcs = [from_point(p) for p in st.points()]
        fr = fractions(pcs, kind=kind)
        write_fractions(st, fr)
        if write_frontiers:
            scen = {(c.model, c.hardware, c.precision, c.isl, c.osl) for c in pcs if not supported(c)}
            for m, h, p, i, o in sorted(scen):
                spec, acc = _resolve(m, h)
                for k in ("strict", "calibrated"):
                    write_frontier(st, m, h, p, i, o, k, sol_frontier(spec, acc, p, i, o, default_layouts(spec, acc), mode=k),
                                   load_catalogue().version)
    judged = [f for f in fr if f.fraction is not None]
    viol = [f for f in judged if f.fraction > 1 and f.note.startswith("VIOLATION")]
    by: dict[str, list[float]] = {}
    for f in judged:
        by.setdefault(f.config.hardware, []).append(f.fraction)
    summary = {h: {"n": len(v), "median_fraction": float(np.median(v)), "max_fraction": float(max(v))} for h, v in sorted(by.items())}
    if as_json:
        _print_json({"kind": kind, "points": len(fr), "judged": len(judged), "violations": len(viol),
                     "skipped": {f.point_id: f.note for f in fr if f.fraction is None}, "by_hardware": summary,
                     "violating_points": [f.point_id for f in viol]})
        return
    _table(f"measured / {kind} SOL at the point's interactivity ({len(judged)} of {len(fr)} points judged)",
           ["hardware", "n", "median_fraction", "max_fraction"],
           [[h, s["n"], s["median_fraction"], s["max_fraction"]] for h, s in summary.items()])
    if kind == "strict":
        out.print(f"violations (measured above the strict bound): [bold]{len(viol)}[/]")
        for f in viol[:20]:
            out.print(f"  {f.point_id} {f.config.hardware} conc {f.config.conc}: fraction {f.fraction:.3f}")
    skipped = [f for f in fr if f.fraction is None]
    if skipped:
        out.print(f"not judged: {len(skipped)} (e.g. {skipped[0].note})")


@gpu_data_app.command("gpu-data")
def gpu_data_cmd(
    db: Optional[Path] = DB_OPTION,
    root: Optional[Path] = typer.Option(None, "--root", help="Folder of GPU datasets (default: data/gpu of this checkout)."),
) -> None:
    """Import the measured GPU datasets (data/gpu) with their speed-of-light overlay into the store."""
    from servemark.errors import ServemarkError
    from servemark.sol.gpu_data import data_root, import_all

    where = root or data_root()
    with Store(db_path(db)) as store:
        done = import_all(store, where)
    if not done:
        raise ServemarkError(f"no GPU datasets (points.parquet) under {where}")
    for name, n in done.items():
        typer.echo(f"{name}: {n} points")
