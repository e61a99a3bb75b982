"""The stored engine ceiling: one row per (deployment, layout, scenario, batch), and its key.

The key is the part of a served point's identity the engine's offline benchmark shares with it:
model, engine (with its build), hardware, precision, the parallel layout, ISL/OSL and the batch
size, which is the served point's concurrency. Recipe hash, run and trial are left out on purpose:
the ceiling of a configuration does not change when the load settings around it do, so a
ceiling measured once serves every run of that configuration (the newest measurement wins).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

KEY_FIELDS = ("model", "engine", "hardware", "precision", "tp", "ep", "pp", "dp_attention", "spec_method",
              "isl", "osl", "batch")
"""The fields shared with a served point (``batch`` <-> ``Point.conc``)."""


@dataclass
class CeilingRow:
    ceiling_id: str = ""
    model: str = ""
    engine: str = ""
    hardware: str = ""
    precision: str = ""
    tp: int = 1
    ep: int = 1
    pp: int = 1
    dp_attention: bool = False
    spec_method: str = "none"
    isl: int = 0
    osl: int = 0
    batch: int = 0
    gpu_count: int = 1
    tool: str = ""
    engine_version: str = ""
    elapsed_s: float = 0.0
    tput_per_gpu: float | None = None
    """(ISL + OSL) x batch / wall time / GPUs: the ceiling of the served ``tput_per_gpu``."""
    output_tput_per_gpu: float | None = None
    """OSL x batch / wall time / GPUs: the ceiling of the served ``output_tput_per_gpu``."""
    decode_tput: float | None = None
    """Decode-phase tokens per second of the whole instance (all sequences)."""
    prefill_tput: float | None = None
    intvty: float | None = None
    """Per-sequence decode rate, tok/s/user (decode_tput / batch)."""
    run_id: str = ""
    recipe_hash: str = ""
    measured_at: str = ""
    source: str = "servemark"
    """``servemark`` (measured by ``servemark ceiling``/``run``) or ``imported`` (a saved tool output)."""
    source_file: str = ""
    """The raw output the numbers came from (the run's log, or the imported file)."""
    argv: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CeilingRow":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for key, empty in (("argv", []), ("raw", {})):
            if isinstance(kw.get(key), str):
                kw[key] = json.loads(kw[key]) if kw[key] else empty
        return cls(**kw)


def key_of(d: dict[str, Any] | Any) -> tuple:
    """The join key of a ceiling row or a served point (``Point.conc`` is the batch)."""
    get = d.get if isinstance(d, dict) else (lambda k, default=None: getattr(d, k, default))
    batch = get("batch") if get("batch") is not None else get("conc")
    return (str(get("model") or ""), str(get("engine") or ""), str(get("hardware") or ""), str(get("precision") or ""),
            int(get("tp") or 1), int(get("ep") or 1), int(get("pp") or 1), bool(get("dp_attention")),
            str(get("spec_method") or "none"), int(get("isl") or 0), int(get("osl") or 0), int(batch or 0))


def ceiling_id(key: tuple) -> str:
    return hashlib.sha1("|".join(str(k) for k in key).encode()).hexdigest()[:16]
