"""Prompts from a JSONL dataset: ``prompt``, ``messages`` (OpenAI chat) or ShareGPT ``conversations``.

Each line is one JSON object; its format is recognised by its keys (or forced by the recipe):

- ``{"prompt": "...", "completion"?: "...", "output_len"?: N}``
- ``{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}, ...]}``
- ``{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}, ...]}``

A line that fits none is an error naming the file and the line number, never a silent skip.
Single-request use takes the first user turn as the prompt and the first assistant reply (or
``completion``) as the reference output; multi-turn use keeps every turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError

BUILTIN = {"gsm8k": "gsm8k-test-200.jsonl"}
"""Datasets shipped in ``servemark/data/workloads`` (licences beside them)."""

_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
         "bing": "assistant", "bard": "assistant", "system": "system"}


@dataclass
class Row:
    """One dataset row as turns: (role, text) in order, plus an explicit output length if given."""

    turns: list[tuple[str, str]]
    output_len: int | None = None
    line: int = 0

    @property
    def first_user(self) -> str:
        return next(t for r, t in self.turns if r == "user")

    @property
    def first_reply(self) -> str | None:
        return next((t for r, t in self.turns if r == "assistant"), None)


def resolve_path(path: str, base_dir: Path | None = None) -> Path:
    """``gsm8k`` -> the shipped slice; a relative path is taken from the recipe's folder."""
    if path in BUILTIN:
        return Path(str(resources.files("servemark") / "data" / "workloads" / BUILTIN[path]))
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        raise ServemarkError(f"{path}: dataset file not found (built-in: {', '.join(BUILTIN)})")
    return p


def _parse(obj: Any, fmt: str, where: str) -> Row:
    if not isinstance(obj, dict):
        raise ServemarkError(f"{where}: a row is a JSON object, got {type(obj).__name__}")
    if fmt == "auto":
        fmt = next((f for f, k in (("prompt", "prompt"), ("messages", "messages"), ("sharegpt", "conversations"))
                    if k in obj), "")
        if not fmt:
            raise ServemarkError(f"{where}: fits no dataset format: needs a 'prompt', 'messages' or "
                                 f"'conversations' key (has {sorted(obj)[:6]})")
    out_len = obj.get("output_len", obj.get("max_tokens"))
    if out_len is not None and (not isinstance(out_len, int) or out_len < 1):
        raise ServemarkError(f"{where}: output_len must be a positive integer, got {out_len!r}")
    if fmt == "prompt":
        if not isinstance(obj.get("prompt"), str) or not obj["prompt"]:
            raise ServemarkError(f"{where}: 'prompt' must be a non-empty string")
        turns = [("user", obj["prompt"])]
        if isinstance(obj.get("completion"), str):
            turns.append(("assistant", obj["completion"]))
        return Row(turns, out_len)
    key, role_key, text_key = (("messages", "role", "content") if fmt == "messages"
                               else ("conversations", "from", "value"))
    msgs = obj.get(key)
    if not isinstance(msgs, list) or not msgs:
        raise ServemarkError(f"{where}: '{key}' must be a non-empty list")
    turns = []
    for i, m in enumerate(msgs):
        role = _ROLE.get(str(m.get(role_key, "")).lower()) if isinstance(m, dict) else None
        text = m.get(text_key) if isinstance(m, dict) else None
        if role is None or not isinstance(text, str):
            raise ServemarkError(f"{where}: {key}[{i}] needs '{role_key}' (user/assistant/system or "
                                 f"human/gpt) and a string '{text_key}'")
        turns.append((role, text))
    if not any(r == "user" for r, _ in turns):
        raise ServemarkError(f"{where}: '{key}' has no user turn")
    return Row(turns, out_len)


def read_rows(path: Path, fmt: str = "auto") -> list[Row]:
    """Every row of a JSONL dataset; an unreadable or unfitting line raises naming file and line."""
    rows: list[Row] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServemarkError(f"{path}: cannot read dataset ({exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ServemarkError(f"{where}: not JSON ({exc.msg})") from None
        row = _parse(obj, fmt, where)
        row.line = n
        rows.append(row)
    if not rows:
        raise ServemarkError(f"{path}: the dataset has no rows")
    return rows
