"""The analysis commands reproduce the outputs recorded before the issue-12 refactor (see golden_outputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from golden_outputs import outputs

GOLDEN = Path(__file__).parent / "data" / "golden" / "commands.json"
SRC = Path(__file__).resolve().parents[1] / "src"


def test_commands_reproduce_the_golden_outputs() -> None:
    want = json.loads(GOLDEN.read_text())
    got = outputs(SRC)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"output of {name!r} changed"
