"""Import AIPerf's ``profile_export_aiperf.json`` (or its ``profile_export_aiperf.csv``).

Every metric is a statistics block ``{"unit": "ms", "avg", "p50", "p90", "p99", "std", ...}``.
Field map (AIPerf name -> servemark):

=====================================  ==========================================================
AIPerf                                 servemark
=====================================  ==========================================================
``time_to_first_token`` (ms)           ``*_ttft`` (s); AIPerf starts at its HTTP send
``inter_token_latency`` (ms)           ``*_tpot``: AIPerf's "ITL" is per request
                                       (latency - TTFT) / (output tokens - 1), servemark's TPOT
``inter_chunk_latency`` (ms)           ``*_icl``: raw gaps between streamed chunks
``request_latency`` (ms)               ``*_e2el``
``output_token_throughput_per_user``   kept as ``extra.peer_metrics`` (mean of per-request
                                       1/ITL, not servemark's 1/TPOT statistic); ``*_intvty``
                                       is 1 / the imported TPOT statistic
``output_token_throughput`` etc.       ``output_tput_per_gpu``, ``tput_per_gpu``,
                                       ``input_tput_per_gpu`` (/ GPUs), ``request_throughput``
``request_count`` / ``error_request_count``  ``completed`` / ``failed``
``benchmark_duration`` (s)             ``duration``
=====================================  ==========================================================

AIPerf has no per-token ITL (a multi-token chunk's gap split over its tokens) and no p99.9 in
its JSON. Every other metric AIPerf reports is kept in ``extra.peer_metrics`` under its own name.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.importers.common import ImportReport, write_points
from servemark.importers.peer_common import PeerContext, intvty_from_tpot, load_json, num, peer_point, stat_fields
from servemark.point import Point
from servemark.store import Store

STAT_KEYS = {"mean": "avg", "median": "p50", "std": "std", "p90": "p90", "p99": "p99"}
SAME_MEANING = {"time_to_first_token": "ttft", "inter_token_latency": "tpot", "inter_chunk_latency": "icl",
                "request_latency": "e2el"}
THROUGHPUT = {"output_token_throughput": "output_tput_per_gpu", "total_token_throughput": "tput_per_gpu",
              "input_token_throughput": "input_tput_per_gpu", "request_throughput": "request_throughput"}
UNIT_SCALE = {"ms": 1e-3, "sec": 1.0, "s": 1.0, "ns": 1e-9, "us": 1e-6}


def _scale(block: dict[str, Any], where: str) -> float:
    unit = str(block.get("unit", "ms"))
    if unit not in UNIT_SCALE:
        raise ServemarkError(f"{where}: unexpected latency unit {unit!r}")
    return UNIT_SCALE[unit]


CSV_ALIASES = {"total_input_sequence_length": "total_isl", "total_output_sequence_length": "total_osl"}


def _metrics_from_csv(path: Path) -> dict[str, Any]:
    """The CSV's tables as the JSON's blocks: ``Metric,avg,min,...`` (distributions) and
    ``Metric,Value`` (scalars, as ``avg``); display names (``Time to First Token (ms)``) become
    the JSON's keys (``time_to_first_token``). The GPU telemetry table is not read."""
    out: dict[str, Any] = {}
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][:2] != ["Metric", "avg"]:
        raise ServemarkError(f"{path}: not an AIPerf profile_export_aiperf.csv (first row should be 'Metric,avg,...')")
    header: list[str] = []
    for row in rows:
        if not row or not row[0]:
            continue
        if row[0] == "Metric":
            header = ["avg"] if row[1:] == ["Value"] else row[1:]
            continue
        if row[0] == "Endpoint":  # GPU telemetry table: another layout
            break
        m = re.match(r"^(.*?)\s*(?:\(([^)]*)\))?$", row[0])
        name = re.sub(r"[^a-z0-9]+", "_", (m[1] if m else row[0]).strip().lower()).strip("_")
        block: dict[str, Any] = {"unit": (m[2] if m and m[2] else "")}
        for k, v in zip(header, row[1:]):
            try:
                block[k] = float(v)
            except ValueError:
                pass
        out[CSV_ALIASES.get(name, name)] = block
    return out


def result_to_point(data: dict[str, Any], ctx: PeerContext, where: str, source_file: str) -> Point:
    blocks = {k: v for k, v in data.items() if isinstance(v, dict) and "unit" in v}
    if "request_latency" not in blocks and "request_count" not in blocks:
        raise ServemarkError(f"{where}: not an AIPerf profile export (no 'request_latency' or 'request_count')")
    fields: dict[str, Any] = {}
    for name, target in SAME_MEANING.items():
        if name in blocks:
            fields.update(stat_fields(target, blocks[name], STAT_KEYS, _scale(blocks[name], f"{where}: {name}"),
                                      f"{where}: {name}"))
    fields.update(intvty_from_tpot(fields))
    for name, target in THROUGHPUT.items():
        if name in blocks:
            fields[target] = num(blocks[name], "avg", f"{where}: {name}")
    completed = int(num(blocks.get("request_count", {}), "avg", where) or 0)
    failed = int(num(blocks.get("error_request_count", {}), "avg", where) or 0)
    cfg = data.get("input_config") or {}
    # the profiling phase holds the load settings (``loadgen`` in older exports)
    phases = [ph for ph in cfg.get("phases") or [] if ph.get("kind") == "profiling"]
    loadgen = phases[0] if phases else (cfg.get("loadgen") or {})
    rate = loadgen.get("request_rate") or loadgen.get("rate")
    models = ((cfg.get("models") or {}).get("items") or [{}])
    isl = num(blocks.get("input_sequence_length", {}), "avg", where)
    osl = num(blocks.get("output_sequence_length", {}), "avg", where)
    fields.update(
        model=str(models[0].get("name", "")), num_requests=completed + failed, completed=completed, failed=failed,
        duration=num(blocks.get("benchmark_duration", {}), "avg", where) or 0.0,
        total_input_tokens=int(num(blocks.get("total_isl", {}), "avg", where) or 0),
        total_output_tokens=int(num(blocks.get("total_osl", {}), "avg", where) or 0),
        isl=round(isl or 0), osl=round(osl or 0), conc=int(loadgen.get("concurrency") or 0),
        request_rate=float(rate) if rate else None,
        tokenizer=str((cfg.get("tokenizer") or {}).get("name") or ""),
        seed=(data.get("run_info") or {}).get("random_seed"),
    )
    peer_metrics = {k: {s: v.get(s) for s in ("unit", "avg", "p50", "p90", "p99", "std") if s in v}
                    for k, v in blocks.items() if k not in SAME_MEANING}
    extra = {"peer": "aiperf", "aiperf_version": data.get("aiperf_version"), "peer_metrics": peer_metrics,
             "aiperf_itl_is_tpot": True, "error_summary": data.get("error_summary") or []}
    started = str(data.get("start_time") or "")[:19]
    identity = {"benchmark_id": data.get("benchmark_id"), "start_time": data.get("start_time"),
                "file": None if data.get("benchmark_id") else source_file}
    return peer_point(source="aiperf", source_file=source_file, identity=identity, ctx=ctx, fields=fields,
                      extra=extra, run_id=f"aiperf-{data.get('benchmark_id') or 'unknown'}", started_at=started)


def load(path: Path) -> dict[str, Any]:
    if path.suffix == ".csv":
        return _metrics_from_csv(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise ServemarkError(f"{path}: expected AIPerf's profile export object")
    return data


def import_aiperf(store: Store, path: str | Path, ctx: PeerContext | None = None) -> ImportReport:
    """Import one AIPerf profile export (JSON or CSV); idempotent."""
    p = Path(path)
    source_file = str(p.resolve())
    report = ImportReport(source="aiperf", file=source_file, rows=1)
    point = result_to_point(load(p), ctx or PeerContext(engine=""), str(p), source_file)
    if not (ctx and ctx.gpus):
        report.notes.append("GPU count not given (--gpus): assumed 1")
    write_points(store, [point], report)
    return report
