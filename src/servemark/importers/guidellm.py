"""Import GuideLLM's benchmarks JSON (``guidellm run --output kind=json``): one point per benchmark.

Each metric is ``metrics.<name>.<status>`` with status ``successful`` / ``errored`` /
``incomplete`` / ``total`` and a distribution ``{mean, median, std_dev, percentiles{p90, p99,
p999}, count, total_sum}``. Only ``successful`` enters the point's latencies (as in servemark).
Field map:

====================================  ============================================================
GuideLLM                              servemark
====================================  ============================================================
``time_to_first_token_ms``            ``*_ttft`` (s); GuideLLM starts at its HTTP send
``inter_token_latency_ms``            ``*_tpot``: GuideLLM's "ITL" is one value per request,
                                      (latency - TTFT) / (output tokens - 1) — servemark's TPOT
``request_latency`` (s)               ``*_e2el``
``time_per_output_token_ms``          kept in ``extra.peer_metrics``: latency / output tokens,
                                      so it *includes the first token* (guidellm#1145); not TPOT
``output_tokens_per_second.successful.mean``  ``output_tput_per_gpu`` (/ GPUs)
``tokens_per_second``, ``prompt_tokens_per_second``  ``tput_per_gpu``, ``input_tput_per_gpu``
``requests_per_second.successful.mean``  ``request_throughput``
``request_totals``                    ``completed`` (successful), ``failed`` (errored);
                                      ``incomplete`` (cancelled at the end) -> extra
``duration`` (s)                      ``duration``
====================================  ============================================================

GuideLLM has no per-token ITL and no inter-chunk latency distribution; ``*_intvty`` is
1 / the imported TPOT statistic.
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

SAME_MEANING = {"time_to_first_token_ms": ("ttft", 1e-3), "inter_token_latency_ms": ("tpot", 1e-3),
                "request_latency": ("e2el", 1.0)}
OWN_MEANING = ("time_per_output_token_ms", "time_to_first_output_token_ms", "output_tokens_per_iteration",
               "request_concurrency", "request_streaming_iterations_count")
THROUGHPUT = {"output_tokens_per_second": "output_tput_per_gpu", "tokens_per_second": "tput_per_gpu",
              "prompt_tokens_per_second": "input_tput_per_gpu", "requests_per_second": "request_throughput"}


def _flat(dist: dict[str, Any]) -> dict[str, Any]:
    """A GuideLLM distribution with its percentiles lifted to the top level."""
    return {**{k: v for k, v in dist.items() if k != "percentiles"}, **(dist.get("percentiles") or {})}


STAT_KEYS = {"mean": "mean", "median": "median", "std": "std_dev", "p90": "p90", "p99": "p99", "p999": "p999"}


def benchmark_to_point(b: dict[str, Any], ctx: PeerContext, where: str, source_file: str, model: str) -> Point:
    metrics = section(b, "metrics", where)
    fields: dict[str, Any] = {}
    for name, (target, scale) in SAME_MEANING.items():
        dist = (metrics.get(name) or {}).get("successful")
        if dist:
            fields.update(stat_fields(target, _flat(dist), STAT_KEYS, scale, f"{where}: metrics.{name}"))
    fields.update(intvty_from_tpot(fields))
    for name, target in THROUGHPUT.items():
        dist = (metrics.get(name) or {}).get("successful")
        if dist:
            fields[target] = num(dist, "mean", f"{where}: metrics.{name}")
    totals = section(metrics, "request_totals", where)
    completed, failed = int(totals.get("successful") or 0), int(totals.get("errored") or 0)
    incomplete = int(totals.get("incomplete") or 0)
    tokens = lambda name: (metrics.get(name) or {}).get("successful") or {}  # noqa: E731
    cfg = b.get("config") or {}
    strategy = cfg.get("strategy") or {}
    conc = strategy.get("streams") if strategy.get("type_") == "concurrent" else strategy.get("max_concurrency")
    rate = strategy.get("rate") if strategy.get("type_") in ("constant", "poisson", "async") else None
    n_out, n_in = num(tokens("output_token_count"), "total_sum", where), num(tokens("prompt_token_count"), "total_sum", where)
    fields.update(
        model=model, num_requests=completed + failed, completed=completed, failed=failed,
        duration=num(b, "duration", where) or 0.0,
        total_input_tokens=int(n_in or 0), total_output_tokens=int(n_out or 0),
        isl=round((n_in or 0) / completed) if completed else 0, osl=round((n_out or 0) / completed) if completed else 0,
        conc=int(conc or 0), request_rate=float(rate) if rate else None,
    )
    peer_metrics = {}
    for name in OWN_MEANING:
        dist = (metrics.get(name) or {}).get("successful")
        if dist:
            flat = _flat(dist)
            peer_metrics[name] = {k: flat.get(k) for k in ("mean", "median", "std_dev", "p90", "p99") if k in flat}
    extra = {"peer": "guidellm", "strategy": strategy, "incomplete_requests": incomplete, "peer_metrics": peer_metrics,
             "guidellm_itl_is_tpot": True, "warnings": [w.get("code") for w in b.get("warnings") or []]}
    start = b.get("start_time")
    import datetime as _dt

    started = _dt.datetime.fromtimestamp(float(start), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if start else ""
    identity = {"id": cfg.get("id_"), "run_id": cfg.get("run_id"), "run_index": cfg.get("run_index"), "start": start}
    return peer_point(source="guidellm", source_file=source_file, identity=identity, ctx=ctx, fields=fields,
                      extra=extra, run_id=f"guidellm-{cfg.get('run_id') or 'unknown'}", started_at=started)


def points_from_file(path: Path, ctx: PeerContext) -> list[Point]:
    data = load_json(path)
    benches = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benches, list) or not benches:
        raise ServemarkError(f"{path}: not a GuideLLM benchmarks file (no 'benchmarks' list)")
    model = str(((data.get("config") or {}).get("spec") or {}).get("backend", {}).get("model") or "")
    source_file = str(path.resolve())
    return [benchmark_to_point(b, ctx, f"{path}: benchmarks[{i}]", source_file, model) for i, b in enumerate(benches)]


def import_guidellm(store: Store, path: str | Path, ctx: PeerContext | None = None) -> ImportReport:
    """Import every benchmark of a GuideLLM JSON file; idempotent."""
    p = Path(path)
    points = points_from_file(p, ctx or PeerContext())
    report = ImportReport(source="guidellm", file=str(p.resolve()), rows=len(points))
    if not (ctx and ctx.gpus):
        report.notes.append("GPU count not given (--gpus): assumed 1")
    write_points(store, points, report)
    return report
