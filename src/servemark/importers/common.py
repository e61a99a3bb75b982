"""What every importer shares: the report, deterministic ids and the idempotent merge-write."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from servemark.errors import ServemarkError
from servemark.fields import FIELDS
from servemark.point import Point
from servemark.store import Store, shallow_dict

_NUMERIC = tuple(f.name for f in FIELDS if f.type.split(" ")[0] in ("float", "int") and f.name != "seed")
_MAY_BE_NEGATIVE = ("prompt_token_deviation", "output_token_deviation")
_REQUIRED_POSITIVE = ("isl", "osl", "gpu_count")


def sanitize(point: Point, where: str, pitfalls: Counter[str]) -> Point:
    """Refuse or flag what a file says that cannot be a measurement.

    NaN / infinite values and negative counts, times or throughputs are dropped (left empty) and
    the point flagged ``nonfinite_value`` / ``negative_value`` (its ``extra.dropped_values`` keeps
    what the file said); a throughput that ends up empty or not positive is ``nonpositive_throughput``
    so the frontier leaves the point out. A non-positive ISL, OSL or GPU count makes the row
    unusable: the import stops with an error naming the row.
    """
    for name in _REQUIRED_POSITIVE:
        v = getattr(point, name)
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ServemarkError(f"{where}: {name} must be a positive number, got {v!r}")
    dropped: dict[str, str] = {}
    for name in _NUMERIC:
        v = getattr(point, name)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v):
            dropped[name], flag = repr(v), "nonfinite_value"
        elif v < 0 and name not in _MAY_BE_NEGATIVE:
            dropped[name], flag = repr(v), "negative_value"
        else:
            continue
        setattr(point, name, None if FIELD_DEFAULT_NONE.get(name, True) else 0)
        if flag not in point.flags:
            point.flags.append(flag)
            pitfalls[flag] += 1
    if dropped:
        point.extra["dropped_values"] = dropped
    tput = point.tput_per_gpu
    if (tput is None or tput <= 0) and "nonpositive_throughput" not in point.flags:
        point.flags.append("nonpositive_throughput")
        pitfalls["nonpositive_throughput"] += 1
    return point


FIELD_DEFAULT_NONE = {f.name: f.default is None for f in FIELDS}


@dataclass
class ImportReport:
    """What an import did. ``skipped`` rows were already in the store with nothing new."""

    source: str
    file: str
    rows: int = 0
    added: int = 0
    merged: int = 0
    """Rows already in the store (e.g. the same measurement from another file) that brought new fields."""
    skipped: int = 0
    duplicates_in_file: int = 0
    pitfalls: dict[str, int] = field(default_factory=dict)
    """Pitfall name -> rows affected (each also a flag or an ``extra`` note on the point)."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stable_id(prefix: str, key: dict[str, Any]) -> str:
    """A point id derived only from the identifying fields of the source row."""
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def merge_point(old: Point, new: Point) -> Point:
    """``old`` with its gaps filled from ``new``; provenance of both kept.

    Values already stored win, so importing any file twice, in any order, changes nothing the
    second time.
    """
    a, b = shallow_dict(old), shallow_dict(new)
    out = dict(a)
    for k, v in b.items():
        if k in ("flags", "extra", "source_file"):
            continue
        if _empty(out.get(k)) and not _empty(v):
            out[k] = v
    out["flags"] = sorted(set(a["flags"]) | set(b["flags"]), key=lambda f: (f not in a["flags"], f))
    extra = {**b["extra"], **a["extra"]}
    files = list(a["extra"].get("also_in_files", []))
    if b["source_file"] and b["source_file"] != a["source_file"] and b["source_file"] not in files:
        files.append(b["source_file"])
    if files:
        extra["also_in_files"] = files
    out["extra"] = extra
    return Point.from_dict(out)


def write_points(store: Store, points: Sequence[Point], report: ImportReport, replace: bool = False) -> None:
    """Upsert ``points`` so that importing the same rows again changes nothing.

    ``replace``: the file's values win over stored ones (``import --replace``, to correct labels
    such as hardware or precision given wrongly the first time); stored values still fill its gaps.
    """
    seen: dict[str, Point] = {}
    for p in points:
        if p.point_id in seen:
            report.duplicates_in_file += 1
            seen[p.point_id] = merge_point(seen[p.point_id], p)
        else:
            seen[p.point_id] = p
    have = store.existing_points(seen)
    to_write: list[Point] = []
    for pid, p in seen.items():
        if pid not in have:
            report.added += 1
            to_write.append(p)
            continue
        merged = merge_point(p, have[pid]) if replace else merge_point(have[pid], p)
        if shallow_dict(merged) == shallow_dict(have[pid]):
            report.skipped += 1
        else:
            report.merged += 1
            to_write.append(merged)
    store.add_points(to_write)


def count(counter: Counter[str], report: ImportReport) -> None:
    report.pitfalls = dict(sorted(counter.items()))
