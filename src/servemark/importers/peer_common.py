"""What the AIPerf, GuideLLM and inference-perf importers share: reading the file, numbers with
a clear error, statistics blocks -> Point fields, and the Point itself.

Each importer owns its *field map* (which of the peer's metrics is which servemark metric, and
which keep the peer's own meaning); this module only applies it. A statistic whose meaning is the
same as servemark's lands in the Point field; one whose meaning differs goes to
``extra["peer_metrics"]`` under the peer's own name, in the peer's own unit, and docs/conformance.md
says how it relates to servemark's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.importers.common import stable_id
from servemark.metrics.summarize import failure_flags
from servemark.point import Point

STATS = ("mean", "median", "std", "p90", "p99", "p999")


@dataclass
class PeerContext:
    """What a peer's result file does not say (the serving side); options of ``servemark import``."""

    hardware: str | None = None
    gpus: int | None = None
    engine: str = ""
    precision: str | None = None


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ServemarkError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ServemarkError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def num(obj: dict[str, Any], key: str, where: str, required: bool = False) -> float | None:
    """``obj[key]`` as a float; None when absent (an error naming file and key when required)."""
    v = obj.get(key) if isinstance(obj, dict) else None
    if v is None:
        if required:
            raise ServemarkError(f"{where}: missing key '{key}'")
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ServemarkError(f"{where}: key '{key}' is not a number ({v!r})") from None


def section(obj: Any, key: str, where: str) -> dict[str, Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(v, dict):
        raise ServemarkError(f"{where}: missing object '{key}'")
    return v


def stat_fields(target: str, block: dict[str, Any] | None, names: dict[str, str], scale: float,
                where: str) -> dict[str, float]:
    """Point fields ``<stat>_<target>`` from one statistics block.

    ``names`` maps servemark's statistic (mean, median, ...) to the peer's key in ``block``;
    ``scale`` converts the peer's unit to seconds (0.001 for ms).
    """
    out: dict[str, float] = {}
    if not block:
        return out
    for stat, key in names.items():
        v = num(block, key, where)
        if v is not None:
            out[f"{stat}_{target}"] = v * scale
    return out


def intvty_from_tpot(fields: dict[str, float]) -> dict[str, float]:
    """Interactivity by servemark's definition (1 / TPOT statistic), from imported TPOT fields."""
    return {f"{s}_intvty": 1.0 / fields[f"{s}_tpot"] for s in ("mean", "median", "p90", "p99", "p999")
            if fields.get(f"{s}_tpot")}


def peer_point(*, source: str, source_file: str, identity: dict[str, Any], ctx: PeerContext, fields: dict[str, Any],
               extra: dict[str, Any], run_id: str, started_at: str = "") -> Point:
    """The Point for one peer result: ``fields`` holds Point fields already in servemark units."""
    gpus = ctx.gpus or 1
    if gpus < 1:
        raise ServemarkError(f"{source_file}: GPU count must be >= 1 (got {gpus})")
    f = dict(fields)
    for k in ("tput_per_gpu", "input_tput_per_gpu", "output_tput_per_gpu"):
        if f.get(k) is not None:
            f[k] = f[k] / gpus
    num_requests, failed = int(f.get("num_requests") or 0), int(f.get("failed") or 0)
    flags = failure_flags(num_requests, failed)  # the same rule as servemark's own points
    extra = {**extra, "origin": {"gpus": "option" if ctx.gpus else "default",
                                 "hardware": "option" if ctx.hardware else "default"}}
    return Point(run_id=run_id, point_id=stable_id(source[:2], identity), started_at=started_at,
                 date=started_at[:10], engine=ctx.engine, hardware=ctx.hardware or "unknown", gpu_count=gpus,
                 precision=ctx.precision or "", source=source, source_file=source_file, flags=flags, extra=extra,
                 **f)
