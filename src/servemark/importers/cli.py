"""``servemark import inferencex|vllm-bench|aiperf|guidellm|inference-perf FILE...``: the ``import`` group (``import_app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.console import Console

from servemark.analysis.output import to_json
from servemark.cli_options import DB_OPTION, db_path, json_option
from servemark.importers.common import ImportReport
from servemark.redact import printable
from servemark.store import Store

out = Console()
import_app = typer.Typer(help="Import results measured elsewhere (InferenceX, vLLM bench serve, AIPerf, GuideLLM, inference-perf).",
                         no_args_is_help=True)


def _print(report: ImportReport, as_json: bool) -> None:
    if as_json:
        print(to_json(report.to_dict()))
        return
    out.print(f"{escape(printable(report.file))}: {report.rows} rows, [bold]{report.added} added[/], {report.merged} merged, "
              f"{report.skipped} already stored" + (f", {report.duplicates_in_file} duplicates" if report.duplicates_in_file else ""))
    for name, n in report.pitfalls.items():
        out.print(f"  pitfall {name}: {n} rows")
    for note in report.notes:
        out.print(f"  note: {escape(printable(note))}")


REPLACE = typer.Option(False, "--replace", help="The file's values win over stored ones (correct labels such as "
                       "--hardware or --precision of an earlier import); default: stored values win.")


@import_app.command("inferencex")
def import_inferencex_cmd(
    files: list[Path] = typer.Argument(..., help="InferenceX API JSON files (benchmarks.json, benchmarks-history.json)."),
    date: Optional[str] = typer.Option(None, "--date", help="Date (YYYY-MM-DD) for rows without one (raw CI rows)."),
    db: Optional[Path] = DB_OPTION,
    as_json: bool = json_option("Print the import reports as JSON."),
    replace: bool = REPLACE,
) -> None:
    """Import InferenceX benchmark rows; pitfalls are flagged and counted; re-importing adds nothing."""
    from servemark.importers.inferencex import import_inferencex

    with Store(db_path(db)) as store:
        for f in files:
            _print(import_inferencex(store, f, default_date=date, replace=replace), as_json)


@import_app.command("vllm-bench")
def import_vllm_cmd(
    files: list[Path] = typer.Argument(..., help="`vllm bench serve --save-result` JSON (or --append-result JSON lines)."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware name (else metadata 'hardware')."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=1, max=1_000_000, help="GPUs serving (else metadata 'gpus' or 'tp'; default 1)."),
    engine: str = typer.Option("vllm", "--engine", help="Engine name."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Precision (else metadata 'precision')."),
    isl: Optional[int] = typer.Option(None, "--isl", min=1, max=10_000_000, help="Input length (else metadata 'isl', else mean prompt tokens)."),
    osl: Optional[int] = typer.Option(None, "--osl", min=1, max=10_000_000, help="Output length (else metadata 'osl', else mean output tokens)."),
    db: Optional[Path] = DB_OPTION,
    as_json: bool = json_option("Print the import reports as JSON."),
    replace: bool = REPLACE,
) -> None:
    """Import vLLM `bench serve` results (ms -> s, interactivity = 1000 / TPOT ms, throughput / GPUs)."""
    from servemark.importers.vllm_bench import VllmBenchContext, import_vllm_bench

    ctx = VllmBenchContext(hardware=hardware, gpus=gpus, engine=engine, precision=precision, isl=isl, osl=osl)
    with Store(db_path(db)) as store:
        for f in files:
            _print(import_vllm_bench(store, f, ctx, replace=replace), as_json)



def _peer_command(name: str, module: str, function: str, files_help: str, doc: str) -> None:
    """``servemark import NAME FILE...`` for a peer whose importer takes a PeerContext."""

    def command(
        files: list[Path] = typer.Argument(..., help=files_help),
        hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware that served the run."),
        gpus: Optional[int] = typer.Option(None, "--gpus", help="GPUs serving (default 1): throughputs are divided by it."),
        engine: str = typer.Option("", "--engine", help="Engine that served the run."),
        precision: Optional[str] = typer.Option(None, "--precision", help="Precision."),
        db: Optional[Path] = DB_OPTION,
        as_json: bool = json_option("Print the import reports as JSON."),
    ) -> None:
        import importlib

        from servemark.importers.peer_common import PeerContext

        run = getattr(importlib.import_module(module), function)
        ctx = PeerContext(hardware=hardware, gpus=gpus, engine=engine, precision=precision)
        with Store(db_path(db)) as store:
            for f in files:
                _print(run(store, f, ctx), as_json)

    command.__doc__ = doc
    import_app.command(name)(command)


_peer_command("aiperf", "servemark.importers.aiperf", "import_aiperf", "AIPerf profile_export_aiperf.json (or .csv).",
              "Import AIPerf results (ms -> s; AIPerf's ITL is servemark's TPOT; its ICL is servemark's ICL).")
_peer_command("guidellm", "servemark.importers.guidellm", "import_guidellm",
              "GuideLLM benchmarks JSON (guidellm run --output kind=json).",
              "Import GuideLLM benchmarks (one point each; GuideLLM's ITL is servemark's TPOT, its TPOT is kept apart).")
_peer_command("inference-perf", "servemark.importers.inference_perf", "import_inference_perf",
              "inference-perf summary_lifecycle_metrics.json (config.yaml beside it is read).",
              "Import inference-perf lifecycle reports (its ITL, zero inside chunks, is kept apart).")
