"""Keep secrets out of everything servemark stores or prints.

A server may echo the API key it was sent (a 401 body such as ``invalid key sk-...``), an
exception may quote a header. Every error detail that reaches a request record, a point, the
run row or the terminal goes through :func:`scrub`: the known secret values (the API key of the
run, ``$SERVEMARK_API_KEY``) are replaced by ``***``, and so is anything that looks like a
credential whatever its value: the value of an ``Authorization``-like header, a ``Bearer`` token,
``api_key=...`` / ``"api-key": "..."`` pairs and ``sk-``-style keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"
API_KEY_ENV = "SERVEMARK_API_KEY"

_PATTERNS = [
    re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|cookie|set-cookie)(\s*[:=]\s*)([^\r\n,;\"']+)"),
    re.compile(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9._~+/=-]{6,})"),
    re.compile(r"(?i)([\"']?(?:api[_-]?key|access[_-]?token|secret|password|passwd|token)[\"']?)(\s*[:=]\s*[\"']?)([^\"'\s,;}&]+)"),
    re.compile(r"()()\b((?:sk|pk|rk|hf|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{8,})"),
]


def _known(extra: Iterable[str | None]) -> list[str]:
    vals = [v for v in (*extra, os.environ.get(API_KEY_ENV)) if v and len(v) >= 4]
    return sorted(set(vals), key=len, reverse=True)


def scrub(text: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    """``text`` with secret values and credential-looking values replaced by ``***``."""
    if not text:
        return text
    for value in _known(secrets):
        text = text.replace(value, MASK)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` safe for a terminal: control characters (ANSI escapes, bidi overrides) shown as ``\\xNN``.

    Names and notes that come from files (InferenceX rows, vLLM bench results) are printed with
    this, so a crafted name cannot move the cursor, clear the screen or retitle the terminal.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 256 else f"\\u{ord(m.group(0)):04x}",
                        str(text))
