"""Import ``vllm bench serve --save-result`` JSON (one object, or JSON lines from --append-result),
and ``vllm bench sweep serve`` outputs: the experiment folder (every ``run=N.json`` below it), a
combination's ``summary.json`` (a list of runs) or the experiment's ``summary.csv``. A sweep run's
file is the same result object plus ``run_number`` and the swept parameters (serve parameters
such as ``max_num_seqs`` land in ``extra``).

Explicit mapping (vLLM reports milliseconds and whole-deployment throughput):

======================================  ============================================================
vLLM result key                         Point
======================================  ============================================================
``{mean,median,std}_{ttft,tpot,e2el}_ms``  ``*_{ttft,tpot,e2el}`` in seconds (/1000)
``p90/p99/p99.9_*_ms``                  ``p90_*``, ``p99_*``, ``p999_*`` in seconds; other percentiles -> extra
``*_itl_ms``                            ``*_icl`` (vLLM's "ITL" is the gap between streamed chunks, which is
                                        servemark's ICL; servemark's ITL splits a multi-token chunk's gap)
TPOT statistic (ms)                     ``*_intvty`` = 1000 / TPOT ms (tok/s/user)
``total_token_throughput``              ``tput_per_gpu`` = / GPUs; ``output_throughput`` likewise;
                                        ``input_tput_per_gpu`` = (total - output) / GPUs
``max_concurrency`` / ``request_rate``  ``conc`` (0 when unbounded) / ``request_rate`` (None for inf)
``num_prompts``, ``completed``, ``failed``  ``num_requests``, ``completed``, ``failed``
``date`` (``YYYYMMDD-HHMMSS``)          ``date`` (``YYYY-MM-DD``) and ``started_at``
``--metadata k=v``                      hardware, gpus, tp, ep, precision, isl, osl, spec_method,
                                        engine_version when given; everything else -> extra
======================================  ============================================================

The GPU count, hardware and sequence lengths are not in vLLM's file unless passed as metadata;
the CLI takes them as options, and the point records where each came from.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.metrics.summarize import failure_flags
from servemark.importers.common import ImportReport, sanitize, stable_id, write_points
from servemark.fields import FIELD_BY_NAME, INTVTY_STATS, VLLM_BENCH_MS
from servemark.importers.peer_common import PeerContext
from servemark.importers.peer_common import num as _f
from servemark.point import Point
from servemark.store import Store

_BULK = ("input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times",
         "generated_texts", "errors", "rps_change_events", "spec_decode_per_position_acceptance_rates")
_STAT = re.compile(r"^(mean|median|std|p[\d.]+)_(ttft|tpot|itl|e2el)_ms$")


@dataclass
class VllmBenchContext(PeerContext):
    """What the result file does not say; options win over ``--metadata`` keys in the file."""

    engine: str = "vllm"
    isl: int | None = None
    osl: int | None = None


def _csv_value(v: str) -> Any:
    if v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def _load_csv(path: Path) -> list[dict[str, Any]]:
    """``summary.csv`` of a sweep: pandas' ``to_csv`` of the run objects (first column the index)."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "total_token_throughput" not in rows[0]:
        raise ServemarkError(f"{path}: not a vLLM sweep summary.csv (no 'total_token_throughput' column)")
    return [{k: _csv_value(v) for k, v in r.items() if k} for r in rows]


def _load(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        files = sorted(path.rglob("run=*.json"))
        if not files:
            raise ServemarkError(f"{path}: a folder, but no vLLM sweep results (run=N.json) below it")
        return [o for f in files for o in _load(f)]
    if path.suffix == ".csv":
        return _load_csv(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServemarkError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ServemarkError(f"{path}: is a folder; pass the result JSON file(s) in it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServemarkError(f"{path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
        objs = data if isinstance(data, list) else [data]
    except RecursionError:
        raise ServemarkError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError:
        objs = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    objs.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ServemarkError(f"{path}: line {n}: not valid JSON ({exc.msg})") from None
    if not objs or not all(isinstance(o, dict) for o in objs):
        raise ServemarkError(f"{path}: expected a vLLM bench serve result object (or JSON lines of them)")
    return objs


def result_to_point(obj: dict[str, Any], ctx: VllmBenchContext, where: str, source_file: str,
                    pitfalls: Counter[str]) -> Point:
    total = _f(obj, "total_token_throughput", where, required=True)
    out_tput = _f(obj, "output_throughput", where)
    completed = int(_f(obj, "completed", where, required=True) or 0)
    num = int(_f(obj, "num_prompts", where) or completed)
    failed = int(obj.get("failed") if obj.get("failed") is not None else max(num - completed, 0))
    origin: dict[str, str] = {}

    def pick(name: str, opt: Any, meta_keys: tuple[str, ...], default: Any = None) -> Any:
        if opt is not None:
            origin[name] = "option"
            return opt
        for k in meta_keys:
            if obj.get(k) not in (None, ""):
                origin[name] = f"metadata {k}"
                return obj[k]
        origin[name] = "default"
        return default

    try:
        gpus = int(pick("gpus", ctx.gpus, ("gpus", "num_gpus", "tp"), 1))
        tp, ep = int(obj.get("tp") or gpus), int(obj.get("ep") or 1)
    except (TypeError, ValueError):
        raise ServemarkError(f"{where}: keys 'gpus'/'tp'/'ep' must be integers") from None
    if gpus < 1:
        raise ServemarkError(f"{where}: GPU count must be >= 1 (got {gpus})")
    tin = (total - out_tput) if out_tput is not None else None
    isl = pick("isl", ctx.isl, ("isl", "random_input_len", "input_len"))
    osl = pick("osl", ctx.osl, ("osl", "random_output_len", "output_len"))
    if isl is None and completed:
        isl, origin["isl"] = round((_f(obj, "total_input_tokens", where) or 0) / completed), "mean prompt tokens"
    if osl is None and completed:
        osl, origin["osl"] = round((_f(obj, "total_output_tokens", where) or 0) / completed), "mean output tokens"

    kw: dict[str, Any] = {}
    other_pcts: dict[str, float] = {}
    for key, value in obj.items():
        if value is None or not _STAT.match(key):
            continue
        name = VLLM_BENCH_MS.get(key)  # the registry's map (p99.9_itl_ms -> p999_icl, ...)
        if name is None:
            other_pcts[key] = value  # a percentile the registry does not keep (p25, p95, ...)
            continue
        kw[name] = float(value) / 1000.0
        f = FIELD_BY_NAME[name]
        if f.metric == "tpot" and f.stat in INTVTY_STATS and float(value) > 0:
            kw[f"{f.stat}_intvty"] = 1000.0 / float(value)

    rate = obj.get("request_rate")
    conc = obj.get("max_concurrency")
    date_raw = str(obj.get("date") or "")
    dm = re.match(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$", date_raw)
    date = f"{dm[1]}-{dm[2]}-{dm[3]}" if dm else date_raw[:10]
    started = f"{date}T{dm[4]}:{dm[5]}:{dm[6]}" if dm else ""
    flags = failure_flags(num, failed)  # the same rule (and default limit) as servemark's own points
    if failed:
        pitfalls["failed_requests"] += 1
    known = {"date", "backend", "endpoint_type", "label", "model_id", "tokenizer_id", "num_prompts", "request_rate",
             "burstiness", "max_concurrency", "duration", "completed", "failed", "total_input_tokens",
             "total_output_tokens", "request_throughput", "output_throughput", "total_token_throughput",
             "hardware", "gpus", "num_gpus", "tp", "ep", "precision", "isl", "osl", "spec_method", "engine_version"}
    extra = {k: v for k, v in obj.items() if k not in known and k not in _BULK and not _STAT.match(k)}
    extra.update(other_pcts)
    extra["origin"] = origin
    extra["vllm_itl_is_icl"] = True
    identity = {k: v for k, v in obj.items() if k not in _BULK}
    return Point(
        run_id=f"vllm-bench-{date_raw or 'unknown'}",
        point_id=stable_id("vb", identity),
        started_at=started,
        date=date,
        model=str(obj.get("model_id") or ""),
        engine=ctx.engine,
        engine_version=str(obj.get("engine_version") or ""),
        hardware=str(pick("hardware", ctx.hardware, ("hardware",), "unknown")),
        gpu_count=gpus,
        precision=str(pick("precision", ctx.precision, ("precision",), "")),
        tp=tp,
        ep=ep,
        spec_method=str(obj.get("spec_method") or "none"),
        isl=int(isl or 0),
        osl=int(osl or 0),
        conc=int(conc) if conc not in (None, "") else 0,
        request_rate=None if rate in (None, "inf") else float(rate),
        num_requests=num,
        completed=completed,
        failed=failed,
        duration=float(obj.get("duration") or 0.0),
        total_input_tokens=int(obj.get("total_input_tokens") or 0),
        total_output_tokens=int(obj.get("total_output_tokens") or 0),
        tput_per_gpu=total / gpus,
        output_tput_per_gpu=out_tput / gpus if out_tput is not None else None,
        input_tput_per_gpu=tin / gpus if tin is not None else None,
        request_throughput=_f(obj, "request_throughput", where),
        tokenizer=str(obj.get("tokenizer_id") or ""),
        flags=flags,
        source="vllm-bench",
        source_file=source_file,
        extra=extra,
        **kw,
    )


def import_vllm_bench(store: Store, path: str | Path, ctx: VllmBenchContext | None = None,
                      replace: bool = False) -> ImportReport:
    """Import every result object of a vLLM bench serve file; idempotent."""
    p = Path(path)
    objs = _load(p)
    source_file = str(p.resolve())
    report = ImportReport(source="vllm-bench", file=source_file, rows=len(objs))
    pitfalls: Counter[str] = Counter()
    points = [_result_point(o, ctx or VllmBenchContext(), f"{p}: result {i}", source_file, pitfalls)
              for i, o in enumerate(objs)]
    if any(pt.extra["origin"].get("gpus") == "default" for pt in points):
        report.notes.append("GPU count not given (--gpus or metadata gpus=N): assumed 1")
    write_points(store, points, report, replace)
    report.pitfalls = dict(sorted(pitfalls.items()))
    return report


def _result_point(obj: dict[str, Any], ctx: VllmBenchContext, where: str, source_file: str,
                  pitfalls: Counter[str]) -> Point:
    """:func:`result_to_point`, with a value of the wrong type an error naming the result, and
    NaN / inf / negative numbers dropped and flagged (:func:`~servemark.importers.common.sanitize`)."""
    try:
        point = result_to_point(obj, ctx, where, source_file, pitfalls)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise ServemarkError(f"{where}: a value has the wrong type ({type(exc).__name__}: {str(exc)[:120]})") from None
    return sanitize(point, where, pitfalls)
