"""Import inference-perf's ``summary_lifecycle_metrics.json`` (or a ``stage_N_lifecycle_metrics.json``).

Latencies are in seconds, statistics ``mean, median, p90, p99, p99.9`` (no standard deviation).
The run's ``config.yaml`` beside the report, when present, gives the model, load type,
concurrency and rate. Field map:

=========================================  ========================================================
inference-perf                             servemark
=========================================  ========================================================
``successes.latency.time_to_first_token``  ``*_ttft``; starts at inference-perf's send
``successes.latency.time_per_output_token``  ``*_tpot``: (latency - TTFT) / (output tokens - 1)
``successes.latency.request_latency``      ``*_e2el``
``successes.latency.inter_token_latency``  kept in ``extra.peer_metrics``: pooled per token, but
                                           a multi-token chunk's gap goes to one token and the
                                           others (the first chunk's too) get 0, where servemark
                                           splits the gap evenly: its mean equals the mean TPOT,
                                           its median is 0 with 4-token chunks (measured)
``normalized_time_per_output_token``       ``extra.peer_metrics`` (latency / output tokens)
``successes.throughput.*_tokens_per_sec``  ``output_tput_per_gpu``, ``input_tput_per_gpu``,
                                           ``tput_per_gpu`` (/ GPUs), ``request_throughput``
``successes.count`` / ``failures.count``   ``completed`` / ``failed``
``benchmark_time_seconds``                 ``duration``
=========================================  ========================================================

``*_intvty`` is 1 / the imported TPOT statistic. Output token counts are inference-perf's own
re-tokenization of the text unless it was told to use the server's usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.importers.common import ImportReport, write_points
from servemark.importers.peer_common import (PeerContext, intvty_from_tpot, load_json, num, peer_point, section,
                                             stat_fields)
from servemark.point import Point
from servemark.store import Store

STAT_KEYS = {"mean": "mean", "median": "median", "p90": "p90", "p99": "p99", "p999": "p99.9"}
SAME_MEANING = {"time_to_first_token": "ttft", "time_per_output_token": "tpot", "request_latency": "e2el"}
OWN_MEANING = ("inter_token_latency", "normalized_time_per_output_token")
THROUGHPUT = {"output_tokens_per_sec": "output_tput_per_gpu", "input_tokens_per_sec": "input_tput_per_gpu",
              "total_tokens_per_sec": "tput_per_gpu", "requests_per_sec": "request_throughput"}


def _config(path: Path) -> dict[str, Any]:
    """The run's config.yaml beside the report (optional)."""
    cfg_file = path.with_name("config.yaml")
    if not cfg_file.is_file():
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(cfg_file.read_text())
    except yaml.YAMLError as exc:
        raise ServemarkError(f"{cfg_file}: not valid YAML ({exc})") from None
    return cfg if isinstance(cfg, dict) else {}


def report_to_point(data: dict[str, Any], cfg: dict[str, Any], ctx: PeerContext, where: str,
                    source_file: str) -> Point:
    ok = section(data, "successes", where)
    lat = section(ok, "latency", f"{where}: successes")
    fields: dict[str, Any] = {}
    for name, target in SAME_MEANING.items():
        fields.update(stat_fields(target, lat.get(name), STAT_KEYS, 1.0, f"{where}: successes.latency.{name}"))
    fields.update(intvty_from_tpot(fields))
    tput = ok.get("throughput") or {}
    for name, target in THROUGHPUT.items():
        fields[target] = num(tput, name, f"{where}: successes.throughput")
    completed = int(num(ok, "count", where, required=True) or 0)
    failed = int(num(data.get("failures") or {}, "count", where) or 0)
    out_tok = num(ok.get("output_tokens") or ok.get("output_len") or {}, "total", where)
    in_tok = num(ok.get("prompt_tokens") or {}, "total", where)
    load = cfg.get("load") or {}
    stage = (load.get("stages") or [{}])[0]
    server = cfg.get("server") or {}
    rate = stage.get("rate") if load.get("type") in ("constant", "poisson") else None
    fields.update(
        model=str(server.get("model_name") or ""), num_requests=completed + failed, completed=completed,
        failed=failed, duration=num(data, "benchmark_time_seconds", where) or 0.0,
        total_input_tokens=int(in_tok or 0), total_output_tokens=int(out_tok or 0),
        isl=round((in_tok or 0) / completed) if completed else 0,
        osl=round((out_tok or 0) / completed) if completed else 0,
        conc=int(stage.get("concurrency_level") or 0), request_rate=float(rate) if rate else None,
        tokenizer=str((cfg.get("tokenizer") or {}).get("pretrained_model_name_or_path") or ""),
    )
    peer_metrics = {name: {k: lat[name].get(k) for k in ("mean", "median", "p90", "p99", "p99.9")}
                    for name in OWN_MEANING if isinstance(lat.get(name), dict)}
    extra = {"peer": "inference-perf", "load_type": load.get("type"), "peer_metrics": peer_metrics,
             "failures_by_label": (data.get("failures") or {}).get("by_label") or {},
             "token_count_mismatches": ok.get("token_count_mismatches"),
             "schedule_delay_mean_s": ((data.get("load_summary") or {}).get("schedule_delay") or {}).get("mean")}
    identity = {"file": source_file, "duration": data.get("benchmark_time_seconds"), "count": completed}
    return peer_point(source="inference-perf", source_file=source_file, identity=identity, ctx=ctx, fields=fields,
                      extra=extra, run_id="inference-perf")


def import_inference_perf(store: Store, path: str | Path, ctx: PeerContext | None = None) -> ImportReport:
    """Import one inference-perf lifecycle report; idempotent."""
    p = Path(path)
    data = load_json(p)
    if not isinstance(data, dict):
        raise ServemarkError(f"{p}: expected inference-perf's lifecycle metrics object")
    source_file = str(p.resolve())
    point = report_to_point(data, _config(p), ctx or PeerContext(), str(p), source_file)
    report = ImportReport(source="inference-perf", file=source_file, rows=1)
    if not (ctx and ctx.gpus):
        report.notes.append("GPU count not given (--gpus): assumed 1")
    write_points(store, [point], report)
    return report
