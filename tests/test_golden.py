"""The analysis commands reproduce the outputs recorded before the issue-12 refactor (see golden_outputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from golden_outputs import outputs

GOLDEN = Path(__file__).parent / "data" / "golden" / "commands.json"
SRC = Path(__file__).resolve().parents[1] / "src"


def contains(got: object, want: object, path: str = "") -> list[str]:
    """Where ``got`` differs from ``want``, ignoring keys ``got`` adds to a dict (a new output field,
    e.g. issue 15's intervals, is not a change of a published number; a changed or missing one is)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return [d for k, v in want.items() for d in (contains(got[k], v, f"{path}.{k}") if k in got else [f"{path}.{k} missing"])]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items, golden {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in contains(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != golden {want!r}"]


def test_commands_reproduce_the_golden_outputs() -> None:
    want = json.loads(GOLDEN.read_text())
    got = outputs(SRC)
    assert sorted(got) == sorted(want)
    for name in want:
        diffs = contains(got[name], want[name], name)
        assert not diffs, f"output of {name!r} changed: {diffs[:5]}"
