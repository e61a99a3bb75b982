"""Analysis commands: ``frontier``, ``cost``, ``compare``, ``history`` (tables, ``--json``, ``--csv``).

Thin wrappers: each reads points from the store, calls one function of :mod:`servemark.analysis`
and renders its rows with :mod:`servemark.analysis.output`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from servemark.analysis.frontier import DEFAULT_GROUP, Frontier, frontiers, frontier_point_dict, higher_is_better
from servemark.analysis.history import REGRESSION_RULE, history as history_rows
from servemark.analysis.operating import cost_table
from servemark.analysis.output import Col, emit, to_json
from servemark.analysis.prices import TIERS, load_prices
from servemark.analysis.ratios import BASES, compare as compare_frontiers
from servemark.analysis.select import latest_per_config, matches, parse_selector
from servemark.analysis.uncertainty import LEVEL, band, by_group, compare_estimates, gate, scatter_noise, value_estimate
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


def load_trials(db: Path | None, points: list[Point]) -> dict[str, list[Point]]:
    """Trial rows of ``points`` (the store's ``trials`` table), by the point they belong to."""
    with Store(db_path(db), read_only=True) as store:
        return store.trials_of(p.point_id for p in points)


def _ci(e: dict[str, Any] | None) -> str:
    if not e or e.get("low") is None:
        return "-"
    return f"{e['low']:.4g}..{e['high']:.4g}"


def _interval_cols(rows: list[dict[str, Any]], y: str, pts: list[Point]) -> None:
    """Add each frontier point's stored interval of ``y`` to its row (``y_low``, ``y_high``)."""
    by_id = {p.point_id: p for p in pts}
    for r in rows:
        iv = (by_id[r["point_id"]].intervals or {}).get(y) if r["point_id"] in by_id else None
        r["y_low"], r["y_high"] = (iv[0], iv[1]) if iv else (None, None)
        r["y_ci"] = _ci({"low": r["y_low"], "high": r["y_high"]})
        r["trials"] = by_id[r["point_id"]].trials if r["point_id"] in by_id else None


def _filters(model, hardware, engine, precision, spec, isl, osl, scenario) -> dict[str, Any]:
    return {"model": model, "hardware": hardware, "engine": engine, "precision": precision,
            "spec_method": spec, "isl": isl, "osl": osl, "scenario": scenario}


@app.command("frontier")
def frontier_cmd(
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, hardware: Optional[str] = HW, engine: Optional[str] = ENGINE,
    precision: Optional[str] = PREC, spec: Optional[str] = SPEC, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, as_of: Optional[str] = ASOF, all_dates: bool = ALLD, group_by: str = GROUP,
    x: str = X_AXIS, y: str = Y_AXIS, as_json: bool = JSON, as_csv: bool = CSV,
    at: Optional[float] = typer.Option(None, "--at", help="Also read each frontier at this x, with its confidence interval."),
    with_band: bool = typer.Option(False, "--band", help="Compute each frontier's confidence band (bootstrap over trials; JSON `band`)."),
    level: float = typer.Option(LEVEL, "--level", min=0.5, max=0.999, help="Confidence level of intervals and bands."),
) -> None:
    """Pareto frontier per group: the best y at each x over all layouts and concurrencies, with intervals."""
    gb = _group_by(group_by)
    pts = load_points(db, _filters(model, hardware, engine, precision, spec, isl, osl, scenario), gb, as_of, all_dates)
    fronts = frontiers(pts, gb, _metric(x, "--x"), _metric(y, "--y"))
    rows = [{"group": f.label, **frontier_point_dict(p, f.x, f.y)} for f in fronts for p in f.points]
    _interval_cols(rows, y, pts)
    trials = load_trials(db, pts) if (at is not None or with_band) else {}
    members = by_group(pts, gb)
    extra: dict[str, dict[str, Any]] = {}
    for f in fronts:
        e: dict[str, Any] = {}
        if at is not None:
            e["at"] = {"x": at, **value_estimate(members[f.label], at, trials, f.x, f.y, level).to_dict()}
        if with_band:
            e["band"] = band(members[f.label], trials, f.x, f.y, level)
        extra[f.label] = e
    if as_json or as_csv:
        emit(out, rows, [], "", as_json, as_csv, json_data=[{**f.to_dict(), **extra[f.label]} for f in fronts])
        return
    cols = [Col("conc", "conc", "d"), Col("layout", "layout"), Col("x", x, ".3f"), Col("y", y, ".1f"),
            Col("y_ci", f"{level:.0%} CI"), Col("trials", "trials", "d"), Col("date", "date"), Col("flags", "flags")]
    out.print(f"[bold]Frontiers: {y} vs {x}[/] ({len(fronts)} groups from {len(pts)} points)")
    for f in fronts:
        mine = [r for r in rows if r["group"] == f.label]
        emit(out, mine, cols, f"{f.label}: {len(f.points)} of {f.n_candidates} points", False, False)
        if at is not None:
            e = extra[f.label]["at"]
            val = "-" if e["value"] is None else f"{e['value']:.4g}"
            out.print(f"  at {x} = {at:g}: {y} {val} ({level:.0%} CI {_ci(e)}, {e['method']}, {e['status']})")
        if with_band and extra[f.label]["band"]["x"]:
            b = extra[f.label]["band"]
            w = max((h - lo) / ((h + lo) / 2) for lo, h in zip(b["low"], b["high"]))
            out.print(f"  band ({b['method']}): {len(b['x'])} x values, widest {w:.1%} of the value")


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
    fronts = frontiers(pts, gb)
    rows = cost_table(fronts, at, table, tiers, energy="measured" if energy == "measured" else "all_in_table")
    trials = load_trials(db, pts)
    members = by_group(pts, gb)
    for r in rows:
        e = value_estimate(members[r["label"]], at, trials) if r["label"] in members else None
        r["tput_low"], r["tput_high"] = (e.low, e.high) if e else (None, None)
        r["interval_method"] = e.method if e else "none"
        r["tput_ci"] = _ci({"low": r["tput_low"], "high": r["tput_high"]})
    shown = rows if show_all or as_json else [r for r in rows if r["status"] == "ok"]
    shown = sorted(shown, key=lambda r: (r["status"] != "ok", r.get(f"{tiers[0]}_{kind}") or float("inf")))
    cols = [Col("label", "group"), Col("status", "status"), Col("tput_per_gpu", "tok/s/GPU", ".1f"),
            Col("tput_ci", "95% CI"), Col("conc", "conc≈", "d")]
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
    members = by_group(pts, gb)
    trials = load_trials(db, members[fa.label] + members[fb.label])
    verdicts = []
    for x_at in at:
        ea, eb = value_estimate(members[fa.label], x_at, trials), value_estimate(members[fb.label], x_at, trials)
        verdicts.append({"x": x_at, "a": ea.to_dict(), "b": eb.to_dict(), **compare_estimates(ea, eb)})
    res_json = {**res.to_dict(), "intervals": verdicts}
    cols = [Col("x", "tok/s/user", ".2f"), Col("a", "A tok/s/GPU", ".1f"), Col("b", "B tok/s/GPU", ".1f")]
    cols += [Col(k, f"A/B\n{k}", ".3f") for k in BASES]
    title = f"A = {res.a}\nB = {res.b}"
    if res.overlap:
        title += f"\noverlap {res.overlap[0]:.2f}..{res.overlap[1]:.2f} tok/s/user"
    title += f"\nper_usd: {tier} $/GPU-hour, per_joule: all-in kW/GPU (price table {table.name})"
    emit(out, res.rows, cols, title, as_json, as_csv, json_data=res_json)
    if not (as_json or as_csv):
        for v in verdicts:
            rr = "-" if v["ratio"] is None else f"{v['ratio']:.3f}x"
            out.print(f"at {v['x']:g} tok/s/user: A/B throughput {rr} (95% CI {_ci(v)}) -> [bold]{v['verdict']}[/]"
                      f" (A: {v['a']['method']}, B: {v['b']['method']})")
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
    check: bool = typer.Option(False, "--check", help="Exit 1 when any date is flagged as a regression by the spread rule (for CI)."),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression",
        help="Exit 1 only when a date is a significant regression (its interval excludes the baseline; fewer false alarms than --check)."),
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
    rows = history_rows(pts, at, gb, window=window, rel_tol=tol, min_baseline=min_baseline, trials=load_trials(db, pts))
    if regressions:
        rows = [r for r in rows if r["regression"]]
    for r in rows:
        r["ci"] = _ci(r)
        r["vs_prev"] = "-" if r["change"] is None else f"{r['change']:.3f}x {_ci({'low': r['change_low'], 'high': r['change_high']})}"
    cols = [Col("label", "group"), Col("date", "date"), Col("status", "status"), Col("value", "tok/s/GPU", ".1f"),
            Col("ci", "95% CI"), Col("conc", "conc≈", "d"), Col("baseline", "baseline", ".1f"), Col("spread", "spread", ".1f"),
            Col("vs_prev", "vs previous"), Col("significance", "change"), Col("regression", "regression"),
            Col("significant_regression", "significant")]
    emit(out, rows, cols, f"History at {at:g} tok/s/user ({len(rows)} rows)", as_json, as_csv)
    # exit codes: 0 ok, 1 a check failed, 2 usage or input error
    bad = [r for r in rows if r["significant_regression"]] if fail_on_regression else []
    bad += [r for r in rows if r["regression"] and r not in bad] if check else []
    if bad:
        if not (as_json or as_csv):
            what = "significant regression(s)" if not check else "regression(s)"
            out.print(f"[red]{len(bad)} {what}[/]: " + "; ".join(f"{r['label']} {r['date']}" for r in bad[:5]))
        raise typer.Exit(1)


def _fraction(text: str, opt: str) -> float:
    """``3%`` or ``0.03`` -> 0.03."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ServemarkError(f"{opt}: expected a fraction like 0.03 or 3%, got {text!r}") from None
    if not 0 <= v < 1:
        raise ServemarkError(f"{opt}: must be in [0, 1) (or 0%..99%), got {text!r}")
    return v


def _side(db: Path | None, ref: str, opt: str, filters: dict[str, Any]) -> list[Point]:
    """A run id, or a date (YYYY-MM-DD): that day's points."""
    import re

    col = "date" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", ref) else "run_id"
    where = [f"{col} = ?"] + [f'lower(CAST("{k}" AS VARCHAR)) = lower(?)' for k, v in filters.items() if v is not None]
    params = [ref] + [str(v) for v in filters.values() if v is not None]
    with Store(db_path(db), read_only=True) as store:
        pts = store.points(" AND ".join(where), params)
    if not pts:
        raise ServemarkError(f"{opt} {ref!r}: no points with that {'date' if col == 'date' else 'run id'} (and the filters)")
    return pts


@app.command("gate")
def gate_cmd(
    baseline: str = typer.Option(..., "--baseline", help="Baseline: a run id or a date (YYYY-MM-DD)."),
    candidate: str = typer.Option(..., "--candidate", help="Candidate: a run id or a date."),
    metric: str = typer.Option("tput_per_gpu", "--metric", help="Frontier metric compared (y)."),
    at: float = typer.Option(35.0, "--at", help="Interactivity (x) where the frontiers are compared."),
    max_regression: str = typer.Option("0%", "--max-regression", help="Regression tolerated (3% or 0.03); fail only beyond it."),
    level: float = typer.Option(LEVEL, "--level", min=0.5, max=0.999, help="Confidence that the regression is real."),
    x: str = X_AXIS,
    db: Optional[Path] = DB_OPTION, model: Optional[str] = MODEL, hardware: Optional[str] = HW, engine: Optional[str] = ENGINE,
    precision: Optional[str] = PREC, spec: Optional[str] = SPEC, isl: Optional[int] = ISL, osl: Optional[int] = OSL,
    scenario: Optional[str] = SCEN, group_by: str = GROUP, as_json: bool = JSON,
) -> None:
    """Regression gate: exit 1 when the candidate is worse than the baseline by more than
    --max-regression with --level confidence (per group), 0 otherwise; 2 on bad input."""
    gb = _group_by(group_by)
    thr = _fraction(max_regression, "--max-regression")
    y = _metric(metric, "--metric")
    filt = _filters(model, hardware, engine, precision, spec, isl, osl, scenario)
    base, cand = _side(db, baseline, "--baseline", filt), _side(db, candidate, "--candidate", filt)
    trials = load_trials(db, base + cand)
    yh = higher_is_better(y)
    _metric(x, "--x")
    fb, fc = by_group(base, gb), by_group(cand, gb)
    common = sorted(set(fb) & set(fc))
    if not common:
        raise ServemarkError(f"baseline and candidate share no group (baseline: {', '.join(sorted(fb)[:3])}; "
                             f"candidate: {', '.join(sorted(fc)[:3])})")
    with Store(db_path(db), read_only=True) as store:  # imported single-trial data: the group's scatter over all dates
        every = by_group(store.points(" AND ".join(f'lower(CAST("{k}" AS VARCHAR)) = lower(?)' for k, v in filt.items()
                                                   if v is not None), [str(v) for v in filt.values() if v is not None]), gb)
    rows = []
    for label in common:
        pooled = scatter_noise(every.get(label, []), y)
        eb = value_estimate(fb[label], at, trials, x, y, level, pooled)
        ec = value_estimate(fc[label], at, trials, x, y, level, pooled)
        g = gate(eb, ec, thr, level, yh)
        rows.append({"label": label, **g, "verdict": "FAIL" if g["failed"] else "pass" if g["failed"] is False else "unknown"})
    failed = [r for r in rows if r["failed"]]
    if all(r["failed"] is None for r in rows):
        raise ServemarkError("gate: no group could be judged: " + "; ".join(f"{r['label']}: {r.get('reason')}" for r in rows[:3]))
    if as_json:
        print(to_json({"baseline": baseline, "candidate": candidate, "metric": y, "at": at, "max_regression": thr,
                       "level": level, "failed": bool(failed), "groups": rows}))
    else:
        cols = [Col("label", "group"), Col("baseline", "baseline", ".1f"), Col("candidate", "candidate", ".1f"),
                Col("ratio", "cand/base", ".3f"), Col("bound", f"{level:.0%} bound", ".3f"), Col("limit", "limit", ".3f"),
                Col("method", "noise from"), Col("verdict", "verdict")]
        emit(out, rows, cols, f"Gate: {y} at {x} = {at:g}, max regression {thr:.1%}, confidence {level:.0%}", False, False)
        for r in rows:
            if r.get("reason"):
                out.print(f"[yellow]{r['label']}:[/] {r['reason']}")
        if any("bootstrap_requests" in r["method"] for r in rows):
            out.print("[yellow]note:[/] a one-trial run's interval sees no run-to-run noise (false alarms 15-25% in "
                      "benchmarks/gate_power.py); gate runs of 3+ trials (docs/metrics.md)")
    if failed:
        raise typer.Exit(1)
