"""Running the real ``servemark`` CLI as a subprocess, and checking what a run left behind.

Shared by tests/test_faults.py and benchmarks/chaos.py: a fault is only survived if the real
command line, its process tree, its DuckDB file and its run folder all say so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


HOLD = """
import duckdb, sys, time
while True:  # a sweep holds the file for a moment per point: take it in between
    try:
        con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "ro")
        break
    except duckdb.IOException:
        time.sleep(0.01)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""
"""``python -c HOLD DB SECONDS rw|ro``: another process holding the store (prints ``held``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def calib_recipe(name: str = "chaos", conc: list[int] | None = None, **args: Any) -> dict[str, Any]:
    """A recipe on the calibration engine (a real local subprocess started by the sweep)."""
    return {
        "name": name,
        "model": {"name": "gemma-3-270m", "path": "auto"},
        "engine": {"name": "calibration", "port": free_port(), "startup_timeout_s": 60,
                   "args": {k: (json.dumps(v) if isinstance(v, (list, dict)) else v)
                            for k, v in {"ttft_ms": 5, "itl_ms": 2, **args}.items()}},
        "scenarios": [{"isl": 32, "osl": 8}],
        "concurrency": conc or [1, 2, 4],
        "requests_per_point": {"per_conc": 2, "min": 4},
        "warmup": {"per_conc": 0, "min": 1},
    }


def write_recipe(folder: Path, recipe: dict[str, Any], name: str = "r.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(recipe))
    return path


def env(tmp: Path, **extra: str) -> dict[str, str]:
    e = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SERVEMARK_DB": str(tmp / "s.duckdb"),
         "SERVEMARK_RUNS": str(tmp / "runs"), "COLUMNS": "200"}
    e.update(extra)
    return e


def cli(tmp: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "servemark", *args], env=env(tmp, **extra), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_cli(tmp: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "servemark", *args], env=env(tmp, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def descendants_by_marker(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (a unique port or path of this test)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append(int(d.name))
    return out


def group_of(pid: int) -> list[int]:
    """Every process in ``pid``'s process group (an engine and the workers it forked)."""
    try:
        pg = os.getpgid(pid)
    except ProcessLookupError:
        return []
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pg:
                    out.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return out


def engine_pids(port: int, needle: str = "servemark.calibration.server") -> list[int]:
    """The engine on this port (its command line holds ``needle``) and every process in its group."""
    leaders = [p for p in descendants_by_marker(f"--port {port}") if needle in
               Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
    return sorted({q for pid in leaders for q in group_of(pid)})


def wait_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    """Pids among ``pids`` still alive (not zombies) after up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < end:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.2)
    return alive


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_group_of(pids: list[int]) -> None:
    """Clean-up after a failed test: never leave what we started running."""
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_for_points(db: Path, n: int, timeout: float = 120.0) -> bool:
    """Wait until the store holds at least ``n`` points (read-only peeks; the sweep writes)."""
    import duckdb

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            con = duckdb.connect(str(db), read_only=True)
            try:
                if con.execute("SELECT count(*) FROM points").fetchone()[0] >= n:
                    return True
            finally:
                con.close()
        except Exception:  # noqa: BLE001 - locked by the writer or not created yet: try again
            pass
        time.sleep(0.2)
    return False


def store_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def failures(tmp: Path) -> list[dict[str, Any]]:
    return [f for p in (tmp / "runs").glob("*/failures.json") for f in json.loads(p.read_text())]
