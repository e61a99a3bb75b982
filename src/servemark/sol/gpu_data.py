"""The GPU truth dataset (``data/gpu/``): sweeps measured by servemark on a real GPU, with SOL beside them.

Each folder under ``data/gpu/`` is one sweep as servemark stored it (``points.parquet``,
``runs.parquet``, per-request ``records/``, the NVML traces recorded beside the run, the synthesis
and host provenance). :func:`import_dataset` puts it in a results store with, per point:

* ``extra.sol_strict_tput_per_gpu`` / ``extra.sol_strict_fraction``: the strict speed-of-light
  throughput per GPU at the point's median interactivity on the same deployment size (one GPU),
  from :mod:`servemark.sol`, and measured ÷ that;
* ``extra.decode_bound_intvty`` / ``extra.intvty_over_decode_bound``: the simplest bound, one decode
  step of batch ``conc`` must read the weights once plus every sequence's KV cache (at ISL + OSL/2
  tokens) from HBM: tok/s/user <= HBM bandwidth ÷ those bytes; and measured median tok/s/user ÷ it.

* ``extra.sol_calibrated_tput_per_gpu`` / ``extra.sol_calibrated_fraction``: the calibrated SOL
  model (fitted on InferenceX rows only, so these points are held out) at the point's median
  interactivity on its own layout, and measured ÷ that; ``extra.calibrated_pred_tput_per_gpu`` /
  ``extra.calibrated_pred_intvty``: what it predicts at the point's own concurrency;
* ``extra.ceiling_*`` (when the dataset has ``ceiling.jsonl``): the engine ceiling, llama.cpp's
  own ``llama-batched-bench`` at the same ISL, OSL and batch = concurrency, no server in the way
  (see :func:`ceiling_overlay`).

Every per-GPU figure divides by the point's ``gpu_count`` (tp x pp: 2 for the 2-GPU sweeps), and
the strict SOL and decode bound use that many GPUs.

Synthesised models are judged as the architecture they copy (``llama-3.1-8b-synth`` -> the shipped
``llama-3.1-8b`` spec): same shapes, same bytes. FP16 reads as many bytes as BF16 and runs at the
same tensor-core rate on Hopper.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.point import Point

SPEC_OF = {"llama-3.1-8b-synth": "llama-3.1-8b", "llama-3.1-70b-synth": "llama-3.1-70b",
           "qwen3-30b-a3b-synth": "qwen3-30b-a3b"}
"""Synthesised model name -> the shipped SOL model spec whose shapes it copies."""

CEILING_FILE = "ceiling.jsonl"
"""``llama-batched-bench --output-format jsonl`` at the sweep's lengths and batch sizes."""


def data_root() -> Path:
    """``data/gpu`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "data" / "gpu"


def datasets(root: Path | None = None) -> list[Path]:
    root = root or data_root()
    return sorted(p for p in root.glob("*/") if (p / "points.parquet").is_file()) if root.is_dir() else []


def _rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - a corrupt file is the user's to fix
        raise ServemarkError(f"{path}: cannot read as Parquet ({exc})") from exc


def load_points(folder: Path) -> list[Point]:
    return [Point.from_dict(r) for r in _rows(folder / "points.parquet")]


def sol_overlay(points: list[Point]) -> dict[str, dict[str, Any]]:
    """Per point_id: strict SOL tput/GPU and fraction, decode-bound tok/s/user and ratio."""
    from servemark.sol.decode_bound import decode_step_floor_s
    from servemark.sol.measured import fractions, from_point

    out: dict[str, dict[str, Any]] = {p.point_id: {} for p in points}
    configs = []
    for p in points:
        spec = SPEC_OF.get(p.model, p.model)
        configs.append(dataclasses.replace(from_point(p), model=spec))
        try:
            floor = decode_step_floor_s(spec, p.hardware, p.precision or "bf16", batch=max(1, p.conc),
                                        kv_len=p.isl + p.osl // 2, n_gpu=max(1, p.tp * p.pp))
        except Exception as exc:  # noqa: BLE001 - unknown model/hardware: say so, keep the point
            out[p.point_id]["decode_bound_note"] = str(exc)[:200]
            continue
        bound = 1.0 / floor
        out[p.point_id].update(decode_bound_intvty=bound, decode_bound_basis=(
            "HBM bandwidth / (weights + batch x KV cache at ISL+OSL/2) per decode step, "
            f"spec {spec}, {p.hardware}, {p.precision}"))
        if p.median_intvty:
            out[p.point_id]["intvty_over_decode_bound"] = p.median_intvty / bound
    for f in fractions(configs, "strict"):
        d = out[f.point_id]
        d["sol_strict_tput_per_gpu"] = f.sol_tput_per_gpu
        d["sol_strict_fraction"] = f.fraction
        d["sol_strict_layout"] = f.layout
        if f.note:
            d["sol_strict_note"] = f.note
    return out


def load_ceiling(folder: Path) -> dict[tuple[int, int, int], dict[str, Any]]:
    """``(ISL, OSL, batch)`` -> one ``llama-batched-bench`` row of the dataset's ``ceiling*.jsonl``."""
    import json

    rows: dict[tuple[int, int, int], dict[str, Any]] = {}
    for f in sorted(folder.glob("ceiling*.jsonl")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                rows[(int(r["pp"]), int(r["tg"]), int(r["pl"]))] = r
            except (ValueError, KeyError, TypeError) as exc:
                raise ServemarkError(f"{f}:{n}: not a llama-batched-bench jsonl row ({exc})") from None
    return rows


def ceiling_overlay(points: list[Point], rows: dict[tuple[int, int, int], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per point_id: the engine ceiling at the point's ISL, OSL and batch = conc, and served ÷ it.

    ``llama-batched-bench`` prefills every sequence, then decodes them all in lock-step: the
    kernels' best case for that batch, with no HTTP, scheduling or sampling in the way.

    * ``ceiling_tput_per_gpu``: ``B x (ISL + OSL) / (t_prefill + t_decode)`` ÷ GPUs, the same
      definition of throughput as the served ``tput_per_gpu``; ``served_over_ceiling`` = served ÷ it;
    * ``ceiling_output_tok_s``: decode tokens/s at batch B (``S_TG``), against the served output
      tokens/s (``output_tput_per_gpu`` x GPUs): ``served_output_over_ceiling``;
    * ``ceiling_intvty``: ``S_TG / B``, one sequence's decode rate, against median tok/s/user.
    """
    out: dict[str, dict[str, Any]] = {}
    for p in points:
        r = rows.get((p.isl, p.osl, p.conc))
        if r is None:
            continue
        gpus = max(1, p.gpu_count)
        d = {"ceiling_tput_per_gpu": float(r["speed"]) / gpus, "ceiling_output_tok_s": float(r["speed_tg"]),
             "ceiling_intvty": float(r["speed_tg"]) / int(r["pl"]),
             "ceiling_source": f"llama-batched-bench -npp {r['pp']} -ntg {r['tg']} -npl {r['pl']} "
                               f"(n_kv_max {r.get('n_kv_max')}, flash_attn {r.get('flash_attn')})"}
        if p.tput_per_gpu:
            d["served_over_ceiling"] = p.tput_per_gpu / d["ceiling_tput_per_gpu"]
        if p.output_tput_per_gpu:
            d["served_output_over_ceiling"] = p.output_tput_per_gpu * gpus / d["ceiling_output_tok_s"]
        if p.median_intvty:
            d["intvty_over_ceiling"] = p.median_intvty / d["ceiling_intvty"]
        out[p.point_id] = d
    return out


def calibrated_overlay(points: list[Point]) -> dict[str, dict[str, Any]]:
    """Per point_id: the calibrated SOL model's figures for the point (it was not fitted on them)."""
    from servemark.sol.calibrate import load_fitted, predict_at_conc
    from servemark.sol.layout import DEFAULT_CALIBRATED
    from servemark.sol.measured import fractions, from_point, supported

    configs = [dataclasses.replace(from_point(p), model=SPEC_OF.get(p.model, p.model)) for p in points]
    out: dict[str, dict[str, Any]] = {p.point_id: {} for p in points}
    for f in fractions(configs, "calibrated"):
        if f.sol_tput_per_gpu:
            out[f.point_id].update(sol_calibrated_tput_per_gpu=f.sol_tput_per_gpu, sol_calibrated_fraction=f.fraction)
    ok = [c for c in configs if not supported(c)]
    if ok:
        try:
            t, i, _ = predict_at_conc(ok, load_fitted() or DEFAULT_CALIBRATED)
        except Exception as exc:  # noqa: BLE001 - a layout the estimate cannot place: say so, keep the point
            for c in ok:
                out[c.point_id]["calibrated_pred_note"] = str(exc)[:200]
        else:
            for c, tv, iv in zip(ok, t, i):
                if tv == tv and iv == iv:  # not NaN: the layout fits
                    out[c.point_id].update(calibrated_pred_tput_per_gpu=float(tv), calibrated_pred_intvty=float(iv))
    return out


def import_dataset(store: Any, folder: Path) -> int:
    """Add one dataset's runs, points (with the SOL overlay in ``extra``), and its 1-GPU SOL frontier."""
    from servemark.sol.frontier import default_layouts, sol_frontier
    from servemark.sol.hardware import load_catalogue
    from servemark.sol.measured import fractions, from_point
    from servemark.modelspec.architecture import load_architecture
    from servemark.sol.store import write_fractions, write_frontier

    points = load_points(folder)
    if not points:
        raise ServemarkError(f"{folder / 'points.parquet'}: no points")
    overlays = (sol_overlay(points), calibrated_overlay(points), ceiling_overlay(points, load_ceiling(folder)))
    for p in points:
        p.extra = dict(p.extra or {})
        for overlay in overlays:
            p.extra.update(overlay.get(p.point_id, {}))
        p.extra["dataset"] = folder.name
        p.source_file = p.source_file or f"data/gpu/{folder.name}"
    for run in _rows(folder / "runs.parquet") if (folder / "runs.parquet").is_file() else []:
        store.upsert_run(run)
    n = store.add_points(points)
    seen: set[tuple] = set()
    for p in points:
        key = (p.model, p.hardware, p.precision, p.isl, p.osl)
        spec_name = SPEC_OF.get(p.model, p.model)
        if key in seen:
            continue
        seen.add(key)
        try:
            spec, hw = load_architecture(spec_name), load_catalogue()[p.hardware]
        except Exception:  # noqa: BLE001 - no spec or hardware: points stay, no overlay
            continue
        front = sol_frontier(spec, hw, p.precision, p.isl, p.osl,
                             layouts=default_layouts(spec, hw, gpu_counts=[max(1, p.gpu_count)]))
        write_frontier(store, p.model, p.hardware, p.precision, p.isl, p.osl, "strict", front)
    fr = fractions([dataclasses.replace(from_point(p), model=SPEC_OF.get(p.model, p.model)) for p in points], "strict")
    write_fractions(store, fr)
    return n


def import_all(store: Any, root: Path | None = None) -> dict[str, int]:
    return {f.name: import_dataset(store, f) for f in datasets(root)}
