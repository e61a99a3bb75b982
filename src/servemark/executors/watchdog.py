"""A tiny process that stops an engine's process group when servemark itself disappears.

``finally`` blocks and signal handlers cannot run on ``kill -9``; an engine started in its own
session (so Ctrl-C in the terminal does not hit it mid-sweep) would then live on, holding its
port and gigabytes of memory. So every local engine gets this watchdog, started in a session of
its own: it polls the owner's pid (and its start time, against pid reuse) and, when the owner
is gone, sends SIGTERM to the engine's whole process group, then SIGKILL after a grace period.
It exits by itself once the group is empty, which is also what a normal stop leaves behind.

Run as ``python path/to/watchdog.py OWNER_PID OWNER_TICKS PGID [THEN_ARGV_JSON]`` with the interpreter that runs
servemark; it imports only :mod:`servemark.procinfo` (standard library), so it starts in ~30 ms.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Callable

from servemark.procinfo import start_ticks

POLL_S = 0.25
GRACE_S = 10.0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, grace_s: float = GRACE_S, reap: "Callable[[], object] | None" = None) -> None:
    """SIGTERM the group, wait up to ``grace_s`` for it to empty, then SIGKILL what is left.

    ``reap`` is called while waiting (the parent's ``Popen.poll``): an unreaped zombie leader
    still counts as a member of its group.
    """
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if reap is not None:
                reap()
            if not group_alive(pgid):
                return
            time.sleep(0.05)


def watch(owner: int, owner_ticks: str, pgid: int, then: list[str] | None = None) -> None:
    """Until the group is empty: when the owner is gone, stop the group and run ``then`` (a
    container's ``rm --force``: the container outlives the runtime CLI that started it)."""
    while True:
        if not group_alive(pgid):
            return
        now = start_ticks(owner)
        if now is None or (owner_ticks != "?" and now != owner_ticks):
            kill_group(pgid)
            if then:
                import subprocess

                subprocess.run(then, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)
            return
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    owner, ticks, pgid = int(argv[0]), argv[1], int(argv[2])
    watch(owner, ticks, pgid, json.loads(argv[3]) if len(argv) > 3 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
