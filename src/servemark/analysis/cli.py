"""Analysis commands: ``frontier``, ``cost``, ``compare``, ``history`` (tables, ``--json``, ``--csv``).

Thin wrappers: each reads points from the store, calls one function of :mod:`servemark.analysis`
and renders its rows with :mod:`servemark.analysis.output`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from servemark.analysis.frontier import DEFAULT_GROUP, Frontier, frontiers, frontier_point_dict
from servemark.analysis.history import REGRESSION_RULE, history as history_rows
from servemark.analysis.operating import cost_table
from servemark.analysis.output import Col, emit
from servemark.analysis.prices import TIERS, load_prices
from servemark.analysis.ratios import BASES, compare as compare_frontiers
from servemark.analysis.select import latest_per_config, matches, parse_selector
from servemark.cli_options import DB_OPTION, csv_option, db_path, json_option, positive_finite
from servemark.errors import ServemarkError
from servemark.point import POINT_FIELDS, Point
from servemark.store import Store

out = Console()

app = typer.Typer()

MODEL = typer.Option(None, "--model", help="Only this model.")
HW = typer.Option(None, "--hardware", "--hw", help="Only this hardware (e.g. b200).")
ENGINE = typer.Option(None, "--engine", help="Only this engine (e.g. trt, sglang, vllm).")
PREC = typer.Option(None, "--precision", help="Only this precision (fp4, fp8, ...).")
SPEC = typer.Option(None, "--spec", help="Only this speculative-decoding method (none, mtp).")
ISL = typer.Option(None, "--isl", min=1, help="Only this input length (tokens).")
OSL = typer.Option(None, "--osl", min=1, help="Only this output length (tokens).")
SCEN = typer.Option(None, "--scenario", help="Only this scenario label (e.g. 8k1k).")
ASOF = typer.Option(None, "--as-of", help="Use the newest point per configuration dated on or before YYYY-MM-DD.")
ALLD = typer.Option(False, "--all-dates", help="Use every stored point, not only the newest per configuration.")
GROUP = typer.Option(",".join(DEFAULT_GROUP), "--group-by", help="Fields that define one frontier (comma-separated).")
JSON = json_option()
CSV = csv_option()
PRICES = typer.Option(None, "--prices", help="Price table: a YAML file or a shipped name. Default: $SERVEMARK_PRICES or the newest shipped.")
X_AXIS = typer.Option("median_intvty", "--x", help="x metric (median_intvty, p99_intvty, median_e2el, median_ttft, p99_ttft, ...).")
Y_AXIS = typer.Option("tput_per_gpu", "--y", help="y metric (tput_per_gpu, output_tput_per_gpu, input_tput_per_gpu, ...).")


def _group_by(text: str) -> tuple[str, ...]:
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in fields:
        if f not in POINT_FIELDS:
            raise ServemarkError(f"--group-by: unknown field {f!r}")
    return fields


def _metric(name: str, opt: str) -> str:
    if name not in POINT_FIELDS:
        raise ServemarkError(f"{opt}: unknown metric {name!r}")
    return name


def load_points(db: Path | None, filters: dict[str, Any], group_by: tuple[str, ...],
                as_of: str | None = None, all_dates: bool = False) -> list[Point]:
    """Points matching ``filters`` (pushed into SQL), newest per configuration unless ``all_dates``."""
    where, params = [], []
    for k, v in filters.items():
        if v is not None:
            where.append(f'lower(CAST("{k}" AS VARCHAR)) = lower(?)')
            params.append(str(v))
    with Store(db_path(db), read_only=True) as store:
        pts = store.points(" AND ".join(where), params)
    if not pts:
        raise ServemarkError("no points match (import some: `servemark import inferencex FILE`)")
    return pts if all_dates else latest_per_config(pts, group_by, as_of)


def _filters(model, hardware, engine, precision, spec, isl, osl, scenario) -> dict[str, Any]:
    return {"model": model, "hardware": hardware, "engine": engine, "precision": precision,
            "spec_method": spec, "isl": isl, "osl": osl, "scenario": scenario}


@app.command("frontier")
def frontier_cmd(
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, hardware: Optional[str] = HW, engine: Optional[str] = ENGINE,
    precision: Optional[str] = PREC, spec: Optional[str] = SPEC, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, as_of: Optional[str] = ASOF, all_dates: bool = ALLD, group_by: str = GROUP,
    x: str = X_AXIS, y: str = Y_AXIS, as_json: bool = JSON, as_csv: bool = CSV,
) -> None:
    """Pareto frontier per group: the best y at each x over all layouts and concurrencies."""
    gb = _group_by(group_by)
    pts = load_points(db, _filters(model, hardware, engine, precision, spec, isl, osl, scenario), gb, as_of, all_dates)
    fronts = frontiers(pts, gb, _metric(x, "--x"), _metric(y, "--y"))
    rows = [{"group": f.label, **frontier_point_dict(p, f.x, f.y)} for f in fronts for p in f.points]
    if as_json or as_csv:
        emit(out, rows, [], "", as_json, as_csv, json_data=[f.to_dict() for f in fronts])
        return
    cols = [Col("conc", "conc", "d"), Col("layout", "layout"), Col("x", x, ".3f"), Col("y", y, ".1f"),
            Col("date", "date"), Col("flags", "flags")]
    out.print(f"[bold]Frontiers: {y} vs {x}[/] ({len(fronts)} groups from {len(pts)} points)")
    for f in fronts:
        mine = [r for r in rows if r["group"] == f.label]
        emit(out, mine, cols, f"{f.label}: {len(f.points)} of {f.n_candidates} points", False, False)


@app.command("cost")
def cost_cmd(
    at: float = typer.Option(35.0, "--at", help="Target interactivity (tok/s/user) to read each frontier at."),
    tier: Optional[str] = typer.Option(None, "--tier", help=f"Price tier ({', '.join(TIERS)}); default all."),
    kind: str = typer.Option("total", "--tokens", help="Token type the cost is per: total, input or output."),
    prices: Optional[str] = PRICES,
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, hardware: Optional[str] = HW, engine: Optional[str] = ENGINE,
    precision: Optional[str] = PREC, spec: Optional[str] = SPEC, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, as_of: Optional[str] = ASOF, all_dates: bool = ALLD, group_by: str = GROUP,
    show_all: bool = typer.Option(False, "--show-all", help="Also list groups whose range does not contain --at."),
    energy: str = typer.Option("all-in", "--energy", help="J/token basis: all-in (price table kW/GPU, comparable) "
                               "or measured (where every frontier point has measured energy, else all-in)."),
    as_json: bool = JSON, as_csv: bool = CSV,
) -> None:
    """$/M tokens, J/token and tok/s/MW of every group at one interactivity (interpolated, never extrapolated)."""
    positive_finite("--at", at)
    if kind not in ("total", "input", "output"):
        raise ServemarkError(f"--tokens must be total, input or output, not {kind!r}")
    table = load_prices(prices)
    tiers = TIERS if tier is None else (tier,)
    if tier is not None and tier not in table.tiers:
        raise ServemarkError(f"--tier {tier!r} is not in price table {table.name} (has {', '.join(table.tiers)})")
    gb = _group_by(group_by)
    pts = load_points(db, _filters(model, hardware, engine, precision, spec, isl, osl, scenario), gb, as_of, all_dates)
    if energy not in ("all-in", "measured"):
        raise ServemarkError(f"--energy must be all-in or measured, not {energy!r}")
    rows = cost_table(frontiers(pts, gb), at, table, tiers, energy="measured" if energy == "measured" else "all_in_table")
    shown = rows if show_all or as_json else [r for r in rows if r["status"] == "ok"]
    shown = sorted(shown, key=lambda r: (r["status"] != "ok", r.get(f"{tiers[0]}_{kind}") or float("inf")))
    cols = [Col("label", "group"), Col("status", "status"), Col("tput_per_gpu", "tok/s/GPU", ".1f"),
            Col("conc", "conc≈", "d")]
    cols += [Col(f"{t}_{kind}", f"$/M {kind}\n{t}", ".4f") for t in tiers]
    cols += [Col("j_per_total_token", "J/tok", ".3f"), Col("tok_s_per_mw", "tok/s/MW", ",.0f"),
             Col("energy_basis", "energy\nbasis")]
    emit(out, shown, cols, f"At {at:g} tok/s/user - prices: {table.name} ({len(shown)} of {len(rows)} groups in range)",
         as_json, as_csv)
    if not (as_json or as_csv) and kind != "total" and any(r.get("disagg") for r in shown):
        out.print(f"[yellow]note:[/] disaggregated rows: {kind} throughput is per {'prefill' if kind == 'input' else 'decode'}"
                  " GPU (InferenceX convention), so their cost is of that pool, not the whole deployment")


def _one(fronts: list[Frontier], text: str) -> Frontier:
    sel = parse_selector(text)
    hits = [f for f in fronts if matches(f.group, sel)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        sample = "; ".join(f.label for f in fronts[:8])
        raise ServemarkError(f"selector {text!r} matches no group (groups: {sample}{' ...' if len(fronts) > 8 else ''})")
    raise ServemarkError(f"selector {text!r} matches {len(hits)} groups, narrow it: " + "; ".join(f.label for f in hits[:6]))


@app.command("compare")
def compare_cmd(
    a: str = typer.Argument(..., help="Group A, e.g. 'b200,trt,fp8' or 'hardware=b200,engine=trt'."),
    b: str = typer.Argument(..., help="Group B, same syntax."),
    at: list[float] = typer.Option([], "--at", help="Interactivity to report the ratio at (repeatable)."),
    tier: str = typer.Option("hyperscaler", "--tier", help="Price tier for the per-dollar ratio."),
    prices: Optional[str] = PRICES,
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, as_of: Optional[str] = ASOF, group_by: str = GROUP,
    as_json: bool = JSON, as_csv: bool = CSV,
) -> None:
    """Ratio A/B of throughput, tokens per dollar and tokens per joule at equal interactivity."""
    for x in at:
        positive_finite("--at", x)
    gb = _group_by(group_by)
    pts = load_points(db, {"model": model, "isl": isl, "osl": osl, "scenario": scenario}, gb, as_of)
    fronts = frontiers(pts, gb)
    fa, fb = _one(fronts, a), _one(fronts, b)
    table = load_prices(prices)
    if tier not in table.tiers:
        raise ServemarkError(f"--tier {tier!r} is not in price table {table.name} (has {', '.join(table.tiers)})")
    res = compare_frontiers(fa, fb, table, tier, at=list(at))
    cols = [Col("x", "tok/s/user", ".2f"), Col("a", "A tok/s/GPU", ".1f"), Col("b", "B tok/s/GPU", ".1f")]
    cols += [Col(k, f"A/B\n{k}", ".3f") for k in BASES]
    title = f"A = {res.a}\nB = {res.b}"
    if res.overlap:
        title += f"\noverlap {res.overlap[0]:.2f}..{res.overlap[1]:.2f} tok/s/user"
    title += f"\nper_usd: {tier} $/GPU-hour, per_joule: all-in kW/GPU (price table {table.name})"
    emit(out, res.rows, cols, title, as_json, as_csv, json_data=res.to_dict())
    if not (as_json or as_csv):
        for k in BASES:
            hi, lo = res.max.get(k), res.min.get(k)
            if hi and lo:
                out.print(f"{k:>10}: max {hi.ratio:.3f}x at {hi.at:.2f}, min {lo.ratio:.3f}x at {lo.at:.2f} tok/s/user")
        for n in res.notes:
            out.print(f"[yellow]note:[/] {n}")


@app.command("history")
def history_cmd(
    selector: Optional[str] = typer.Argument(None, help="Only groups matching this selector (e.g. 'b200,trt,fp4')."),
    at: float = typer.Option(35.0, "--at", help="Target interactivity (tok/s/user)."),
    window: int = typer.Option(REGRESSION_RULE["window"], "--window", help="How many previous dates form the baseline."),
    tol: float = typer.Option(REGRESSION_RULE["rel_tol"], "--tol", help="Relative drop always tolerated (0.05 = 5%)."),
    min_baseline: int = typer.Option(REGRESSION_RULE["min_baseline"], "--min-baseline", help="Earlier dates needed before anything is flagged."),
    regressions: bool = typer.Option(False, "--regressions", help="Only list dates flagged as regressions."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when any date is flagged as a regression (for CI)."),
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, hardware: Optional[str] = HW, engine: Optional[str] = ENGINE,
    precision: Optional[str] = PREC, spec: Optional[str] = SPEC, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, group_by: str = GROUP, as_json: bool = JSON, as_csv: bool = CSV,
) -> None:
    """The same configuration date by date: its throughput at --at, and regressions."""
    positive_finite("--at", at)
    gb = _group_by(group_by)
    pts = load_points(db, _filters(model, hardware, engine, precision, spec, isl, osl, scenario), gb, all_dates=True)
    if selector:
        sel = parse_selector(selector)
        pts = [p for p in pts if matches({k: getattr(p, k) for k in gb}, sel)]
        if not pts:
            raise ServemarkError(f"selector {selector!r} matches no stored point")
    rows = history_rows(pts, at, gb, window=window, rel_tol=tol, min_baseline=min_baseline)
    if regressions:
        rows = [r for r in rows if r["regression"]]
    cols = [Col("label", "group"), Col("date", "date"), Col("status", "status"), Col("value", "tok/s/GPU", ".1f"),
            Col("conc", "conc≈", "d"), Col("baseline", "baseline", ".1f"), Col("spread", "spread", ".1f"),
            Col("regression", "regression")]
    emit(out, rows, cols, f"History at {at:g} tok/s/user ({len(rows)} rows)", as_json, as_csv)
    if check and any(r["regression"] for r in rows):
        raise typer.Exit(1)  # exit codes: 0 ok, 1 a check failed, 2 usage or input error
