"""``servemark calibrate`` end to end (small levels), and its bad-input errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SERVEMARK = shutil.which("servemark", path=str(Path(sys.executable).parent)) or shutil.which("servemark")


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    if SERVEMARK is None:
        pytest.skip("the servemark console script is not installed")
    return subprocess.run([SERVEMARK, *args], capture_output=True, text=True, timeout=timeout)


def test_calibrate_prints_errors_and_capacity(tmp_path):
    out = tmp_path / "cal.json"
    p = run("calibrate", "--levels", "1,8", "--osl", "8", "--itl-ms", "5", "--tokens-per-chunk", "1,2",
            "--max-p99-error-ms", "1000", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "highest sustained: concurrency 8" in " ".join(p.stdout.split())
    levels = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in levels] == [1, 8]
    for lv in levels:
        assert lv["failed"] == 0 and lv["errors"]["unmatched_requests"] == 0
        assert lv["errors"]["chunk"]["p50_ms"] >= -0.1  # never before the server sent it
        assert lv["errors"]["itl"]["n"] > 0


def test_calibrate_bad_input_is_one_line():
    p = run("calibrate", "--levels", "1,x", timeout=60)
    assert p.returncode == 2 and "--levels" in p.stderr and "Traceback" not in p.stderr
    p = run("calibrate", "--tokens-per-chunk", "0", timeout=60)
    assert p.returncode == 2 and "tokens-per-chunk" in p.stderr
