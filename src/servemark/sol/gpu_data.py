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

SPEC_OF = {"llama-3.1-8b-synth": "llama-3.1-8b"}
"""Synthesised model name -> the shipped SOL model spec whose shapes it copies."""


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
    overlay = sol_overlay(points)
    for p in points:
        p.extra = dict(p.extra or {})
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
