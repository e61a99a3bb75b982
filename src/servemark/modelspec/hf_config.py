"""Reading an HF ``config.json`` (a file, or a folder holding one) with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError


def config_path(path_or_dir: str | Path) -> Path:
    p = Path(path_or_dir)
    return p / "config.json" if p.is_dir() else p


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a :class:`ServemarkError` naming the file otherwise."""
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ServemarkError(f"{path}: cannot read config.json ({exc})") from exc
    if not isinstance(cfg, dict):
        raise ServemarkError(f"{path}: config.json must hold a JSON object")
    return cfg
