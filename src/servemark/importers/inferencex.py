"""Import InferenceX benchmark rows (its ``/api/v1/benchmarks`` JSON) as store points.

Field mapping (units: InferenceX already uses seconds, tok/s per GPU and tok/s/user, as servemark):

==========================  ===========================================================
InferenceX                  Point
==========================  ===========================================================
framework                   engine (``trt``, ``sglang``, ``dynamo-trt``, ...)
model (``dsr1``)            model (display name, ``DeepSeek-R1-0528``); key kept in extra
decode_tp/ep/dp_attention   tp / ep / dp_attention (the layout that generates tokens)
prefill_*, decode_*         workers (JSON) for disaggregated points
num_prefill/decode_gpu      same, but see pitfall 1 for aggregated rows
metrics.p99.9_*             p999_*  (a dot is not a column name)
metrics.*_itl               *_icl  (vLLM benchmark_serving's gap between chunks, not per token)
metrics.std_intvty          dropped: 1/std(TPOT) has no meaning (pitfall 4)
metrics.<other>             the same name when Point has it, else ``extra["metrics"]``
run_url, date, image        run_url, date, image; run_id = ``inferencex-<run>-<attempt>``
==========================  ===========================================================

Pitfalls found in the real data (see docs/analysis.md) are corrected only where the right value is
certain, and always flagged on the point and counted in the report:

1. ``num_gpu_corrected``: aggregated rows whose ``num_*_gpu`` is tp x ep (64 for TP8 EP8). The GPU
   count is ``decode_tp``; ``tput_per_gpu`` was already per real GPU, so metrics are untouched.
2. ``pd_split_unreliable``: disaggregated rows where tput x (P+D) != input x P + output x D (old
   schema with symmetric P=D counts): input/output per-GPU figures and P/D counts are suspect.
3. ``io_split_mismatch``: aggregated rows where input + output != total throughput per GPU.
4. ``intvty_tpot_mismatch``: median interactivity is not 1 / median TPOT.

``point_id`` hashes only identifying fields (config, layout, scenario, concurrency, date, run URL),
so the same measurement in two files (the snapshot and the history capture overlap) is one point,
and importing a file twice adds nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.importers.common import ImportReport, sanitize, stable_id, write_points
from servemark.fields import INFERENCEX_METRICS
from servemark.point import Point
from servemark.store import Store

MODEL_NAMES = {
    "dsr1": "DeepSeek-R1-0528",
    "gptoss120b": "gpt-oss-120b",
    "llama70b": "Llama-3.3-70B-Instruct-FP8",
    "qwen3.5": "Qwen-3.5-397B-A17B",
    "kimik2.5": "Kimi-K2.5",
    "minimaxm2.5": "MiniMax-M2.5",
    "glm5": "GLM-5",
}
"""InferenceX model keys -> the display names its site shows."""

REQUIRED = ("hardware", "framework", "model", "precision", "isl", "osl", "conc", "date")
IDENTITY = (
    "hardware", "framework", "model", "precision", "spec_method", "disagg", "is_multinode",
    "prefill_tp", "prefill_ep", "prefill_dp_attention", "prefill_num_workers",
    "decode_tp", "decode_ep", "decode_dp_attention", "decode_num_workers",
    "num_prefill_gpu", "num_decode_gpu", "isl", "osl", "conc", "date", "run_url",
)
SITE_TTFT_LIMIT_S = 60.0
"""The InferenceX site hides points with TTFT above this (seconds) when TTFT is on an axis."""


def _scenario(isl: int, osl: int) -> str:
    if isl % 1024 == 0 and osl % 1024 == 0:
        return f"{isl // 1024}k{osl // 1024}k"
    return f"{isl}-{osl}"


def _run_id(run_url: str) -> str:
    m = re.search(r"/runs/(\d+)(?:/attempts/(\d+))?", run_url or "")
    if not m:
        return "inferencex-unknown"
    return f"inferencex-{m.group(1)}-{m.group(2) or 1}"


def _num(row: dict[str, Any], key: str, where: str, required: bool = True) -> float | None:
    v = row.get(key)
    if v is None:
        if required:
            raise ServemarkError(f"{where}: missing key '{key}'")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ServemarkError(f"{where}: key '{key}' is not a finite number ({v!r})")
    return float(v)


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Rows from an API response / fixture (a JSON array, or an object with ``data`` or ``rows``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServemarkError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ServemarkError(f"{path}: is a folder; pass the benchmarks JSON file(s) in it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServemarkError(f"{path}: cannot read ({exc})") from None
    except RecursionError:
        raise ServemarkError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ServemarkError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict):
        for key in ("data", "rows", "benchmarks"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ServemarkError(f"{path}: expected a JSON array of InferenceX benchmark rows")
    return data


FRAMEWORK_ALIASES = {"trtllm": "trt", "dynamo-trtllm": "dynamo-trt", "sglang-disagg": "mori-sglang"}
PRECISION_ALIASES = {"nvfp4": "fp4", "mxfp4": "fp4"}


def _flat_to_api(row: dict[str, Any]) -> dict[str, Any]:
    """A raw CI artifact row (``agg_*.json``: ``hw``, ``tp``, metrics at top level) in API shape,
    normalised the way InferenceX's ingest does (runner suffixes, framework and precision aliases)."""
    out = dict(row)
    out["hardware"] = re.sub(r"[-_].*$", "", str(row.get("hw", "")))
    fw = str(row.get("framework", ""))
    out["framework"] = FRAMEWORK_ALIASES.get(fw, fw)
    if fw == "sglang-disagg":
        out["disagg"] = True
    prec = str(row.get("precision", ""))
    out["precision"] = PRECISION_ALIASES.get(prec, prec)
    model = row.get("infmax_model_prefix") or row.get("model")
    out["model"] = re.sub(r"-(fp4|fp8|mxfp4|nvfp4)$", "", str(model)) if model else model
    out["spec_method"] = row.get("spec_decoding") or row.get("spec_method") or "none"
    for side in ("prefill", "decode"):
        for k in ("tp", "ep", "dp_attention"):
            out.setdefault(f"{side}_{k}", row.get(k))
    config = {"conc", "isl", "osl", "tp", "ep", "pp", "dcp_size", "pcp_size", "is_multinode", "disagg"}
    out["metrics"] = {k: v for k, v in row.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in config
                      and not k.startswith(("prefill_", "decode_", "num_"))}
    return out


def row_to_point(row: dict[str, Any], where: str, source_file: str, pitfalls: Counter[str],
                 default_date: str | None = None) -> Point:
    """One InferenceX row -> one Point; pitfalls are flagged and counted, not copied blindly."""
    if "metrics" not in row and "hw" in row:
        row = _flat_to_api(row)
    if default_date and not row.get("date"):
        row = {**row, "date": default_date}
    for key in REQUIRED:
        if row.get(key) in (None, ""):
            hint = " (raw CI rows carry no date: pass --date YYYY-MM-DD)" if key == "date" else ""
            raise ServemarkError(f"{where}: missing key '{key}'{hint}")
    metrics = row.get("metrics")
    if not isinstance(metrics, dict):
        raise ServemarkError(f"{where}: key 'metrics' must be an object")
    mwhere = f"{where}: metrics"
    tput = _num(metrics, "tput_per_gpu", mwhere)
    isl, osl, conc = int(row["isl"]), int(row["osl"]), int(row["conc"])
    disagg = bool(row.get("disagg"))
    flags: list[str] = []
    notes: list[str] = []

    d_tp = int(row.get("decode_tp") or 1)
    n_pre, n_dec = row.get("num_prefill_gpu"), row.get("num_decode_gpu")
    if disagg:
        gpu_count = int(n_pre or 0) + int(n_dec or 0) or d_tp
    else:
        gpu_count = d_tp
        if (n_dec is not None and int(n_dec) != d_tp) or (n_pre is not None and int(n_pre) != int(row.get("prefill_tp") or d_tp)):
            flags.append("num_gpu_corrected")
            pitfalls["num_gpu_corrected"] += 1
            notes.append(f"num_prefill_gpu/num_decode_gpu were {n_pre}/{n_dec} (tp x ep); GPU count is decode_tp = {d_tp}")
        n_pre = n_dec = gpu_count

    kw: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in metrics.items():
        if key == "std_intvty":
            pitfalls["std_intvty_dropped"] += 1
            continue
        name = INFERENCEX_METRICS.get(key)  # the registry's map (p99.9_ttft -> p999_ttft, ...)
        if name:
            kw[name] = _num(metrics, key, mwhere, required=False)
        else:
            unknown[key] = value

    tin, tout = kw.get("input_tput_per_gpu"), kw.get("output_tput_per_gpu")
    if tin is None or tout is None:
        pitfalls["no_io_split"] += 1
        notes.append("row has no input/output throughput split (older schema)")
    elif disagg:
        lhs = tput * (int(n_pre or 0) + int(n_dec or 0))
        rhs = tin * int(n_pre or 0) + tout * int(n_dec or 0)
        if lhs <= 0 or abs(lhs - rhs) > 1e-3 * lhs:
            flags.append("pd_split_unreliable")
            pitfalls["pd_split_unreliable"] += 1
            notes.append(f"tput x (P+D) = {lhs:.1f} but input x P + output x D = {rhs:.1f}: P/D counts or split unreliable")
    elif abs(tput - tin - tout) > 1e-6 * max(tput, 1.0):
        flags.append("io_split_mismatch")
        pitfalls["io_split_mismatch"] += 1

    mi, mt = kw.get("median_intvty"), kw.get("median_tpot")
    if mi is None and mt:
        kw["median_intvty"] = 1.0 / mt
        pitfalls["median_intvty_derived"] += 1
    elif mi is not None and mt and abs(mi * mt - 1.0) > 1e-6:
        flags.append("intvty_tpot_mismatch")
        pitfalls["intvty_tpot_mismatch"] += 1
    if not tput > 0:
        flags.append("nonpositive_throughput")
        pitfalls["nonpositive_throughput"] += 1
    ttft = kw.get("p99_ttft") or kw.get("median_ttft")
    if ttft is not None and ttft > SITE_TTFT_LIMIT_S:
        pitfalls["ttft_over_60s_hidden_on_site"] += 1
        notes.append(f"p99 TTFT {ttft:.1f} s > 60 s: the InferenceX site hides this point on TTFT axes")
    if "image" in row and not row["image"]:
        pitfalls["no_image"] += 1
    if kw.get("avg_power_w") is not None or kw.get("joules_per_total_token") is not None:
        kw["energy_source"] = "reported"

    workers = ""
    if disagg:
        layout = {
            side: {k: row.get(f"{side}_{k}") for k in ("tp", "ep", "dp_attention", "num_workers")}
            for side in ("prefill", "decode")
        }
        if row.get("workers"):
            layout["workers"] = row["workers"]
        workers = json.dumps(layout, sort_keys=True)

    model_key = str(row["model"])
    identity = {k: row.get(k) for k in IDENTITY}
    extra: dict[str, Any] = {
        "inferencex": {k: row.get(k) for k in IDENTITY if k.startswith(("prefill_", "decode_", "num_", "is_"))},
        "model_key": model_key,
    }
    if unknown:
        extra["metrics"] = unknown
    if notes:
        extra["notes"] = notes
    return Point(
        run_id=_run_id(str(row.get("run_url") or "")),
        point_id=stable_id("ix", identity),
        date=str(row["date"])[:10],
        model=MODEL_NAMES.get(model_key, model_key),
        engine=str(row["framework"]),
        image=str(row.get("image") or ""),
        hardware=str(row["hardware"]),
        gpu_count=gpu_count,
        num_prefill_gpu=int(n_pre) if n_pre is not None else None,
        num_decode_gpu=int(n_dec) if n_dec is not None else None,
        precision=str(row["precision"]),
        tp=d_tp,
        ep=int(row.get("decode_ep") or 1),
        dp_attention=bool(row.get("decode_dp_attention")),
        disagg=disagg,
        workers=workers,
        spec_method=str(row.get("spec_method") or "none"),
        isl=isl,
        osl=osl,
        conc=conc,
        scenario=_scenario(isl, osl),
        flags=flags,
        source="inferencex",
        source_file=source_file,
        run_url=str(row.get("run_url") or ""),
        extra=extra,
        **kw,
    )


def read_points(path: str | Path, pitfalls: Counter[str] | None = None,
                default_date: str | None = None) -> list[Point]:
    """Every row of an InferenceX benchmarks JSON file as a Point, in file order, without a store
    (the SOL model's accuracy check reads the capture files this way)."""
    p = Path(path)
    rows = load_rows(p)
    source_file = str(p.resolve())
    counts = pitfalls if pitfalls is not None else Counter()
    return [_row_point(r, f"{p}: row {i}", source_file, counts, default_date) for i, r in enumerate(rows)]


def _row_point(row: dict[str, Any], where: str, source_file: str, pitfalls: Counter[str],
               default_date: str | None) -> Point:
    """:func:`row_to_point`, with a value of the wrong type an error naming the row, and the
    numbers checked (:func:`~servemark.importers.common.sanitize`)."""
    try:
        point = row_to_point(row, where, source_file, pitfalls, default_date)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise ServemarkError(f"{where}: a value has the wrong type ({type(exc).__name__}: {str(exc)[:120]})") from None
    return sanitize(point, where, pitfalls)


def import_inferencex(store: Store, path: str | Path, default_date: str | None = None,
                      replace: bool = False) -> ImportReport:
    """Import every row of an InferenceX benchmarks JSON file; idempotent (see module doc).

    ``default_date`` (YYYY-MM-DD) dates rows that carry none (raw CI artifact rows).
    """
    p = Path(path)
    source_file = str(p.resolve())
    pitfalls: Counter[str] = Counter()
    points = read_points(p, pitfalls, default_date)
    report = ImportReport(source="inferencex", file=source_file, rows=len(points))
    write_points(store, points, report, replace)
    runs = {pt.run_id: (pt.run_url, pt.date) for pt in points}
    store.upsert_runs([{"run_id": run_id, "name": url, "kind": "import", "status": "done", "started_at": date,
                         "source_file": source_file, "note": "InferenceX GitHub Actions run"}
                        for run_id, (url, date) in sorted(runs.items())])
    report.pitfalls = dict(sorted(pitfalls.items()))
    return report
