"""``servemark calibrate``: how far can this client be trusted on this machine?"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from servemark.calibration.measure import run_level, sustained
from servemark.calibration.plan import CalibrationPlan
from servemark.calibration.process import CalibrationServer
from servemark.cli_options import json_option
from servemark.errors import ServemarkError

console = Console()

app = typer.Typer()


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ServemarkError(f"--levels: expected comma-separated integers, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise ServemarkError("--levels: give at least one concurrency >= 1")
    return levels


@app.command()
def calibrate(
    levels: str = typer.Option("1,16,64,256", help="Concurrency levels to try, comma-separated."),
    osl: int = typer.Option(64, help="Output tokens per request."),
    itl_ms: float = typer.Option(10.0, help="Planned time per token at the calibration server (ms)."),
    ttft_ms: float = typer.Option(20.0, help="Planned time to first token (ms)."),
    tokens_per_chunk: str = typer.Option("1", help="Chunk-size pattern, e.g. '1,4' (multi-token chunks)."),
    workers: int = typer.Option(1, help="Client worker processes."),
    api: str = typer.Option("completions", help="completions or chat."),
    max_p99_error_ms: float = typer.Option(1.0, help="A level is 'sustained' when the p99 chunk timing error is at most this."),
    as_json: bool = json_option("Print all figures as JSON instead of the table."),
    out_file: Path = typer.Option(None, "--out", help="Also write all figures to this JSON file."),
) -> None:
    """Run the client against the calibration server (known token timings) and print its own
    timing error (measured - true, per metric) and the highest concurrency and token-event rate
    it sustains here. Run it before trusting a result from this machine."""
    if api not in ("completions", "chat"):
        raise ServemarkError(f"--api: expected completions or chat, got {api!r}")
    try:
        pattern = [int(x) for x in tokens_per_chunk.split(",")]
        plan = CalibrationPlan(ttft_ms=ttft_ms, itl_ms=itl_ms, tokens_per_chunk=pattern)
    except ValueError as exc:
        raise ServemarkError(f"--tokens-per-chunk: {exc}") from None
    if osl < 2:
        raise ServemarkError("--osl: must be >= 2 (TPOT and ITL need two tokens)")
    table = Table(title=f"client vs calibration server (ttft {ttft_ms:g} ms, itl {itl_ms:g} ms, osl {osl}, "
                        f"workers {workers})")
    for col in ("conc", "ok/fail", "events/s", "in flight", "chunk err p50/p99 ms", "TTFT err p99 ms",
                "ITL err p99 ms", "loop lag p99 ms", "CPU %", "sustained"):
        table.add_column(col, justify="right")
    results = []
    best = None
    with CalibrationServer(plan) as srv:
        for c in _levels(levels):
            lv = run_level(srv, c, osl=osl, workers=workers, api=api)
            ok = sustained(lv, max_p99_error_ms)
            lv["sustained"] = ok
            results.append(lv)
            if ok:
                best = lv
            e = lv["errors"]
            f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            table.add_row(str(c), f"{lv['completed']}/{lv['failed']}", f"{lv['token_events_per_s']:.0f}",
                          f"{lv['mean_in_flight']:.0f}", f"{f(e['chunk']['p50_ms'])}/{f(e['chunk']['p99_ms'])}",
                          f(e["ttft"]["p99_ms"]), f(e["itl"]["p99_ms"]), f(lv["client"].get("loop_lag_p99_ms")),
                          f"{lv['client'].get('cpu_pct_max', 0):.0f}", "yes" if ok else "no")
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        _summary(table, best, max_p99_error_ms)
    if out_file:
        out_file.write_text(json.dumps(results, indent=1))


def _summary(table: Table, best: dict | None, max_p99_error_ms: float) -> None:
    console.print(table)
    if best:
        console.print(f"highest sustained: concurrency {best['concurrency']}, "
                      f"{best['token_events_per_s']:.0f} token events/s (p99 chunk error ≤ {max_p99_error_ms:g} ms, "
                      "no failures, client not saturated)")
    else:
        console.print(f"[yellow]no level met p99 chunk error ≤ {max_p99_error_ms:g} ms without failures "
                      "or saturation[/]")
