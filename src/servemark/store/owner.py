"""Who owns a ``running`` run row, and whether that process still exists.

A sweep writes ``owner = "<host>:<pid>:<start ticks>"`` into its run row. When the process is
gone (``kill -9``, a crash, a node that rebooted) the row would say ``running`` forever; every
writer that opens the store turns such rows into ``interrupted``. The start time from
``/proc/<pid>/stat`` guards against a recycled pid. Rows owned by another host (a Slurm node)
are left alone: this machine cannot see that process.
"""

from __future__ import annotations

import os
import socket

from servemark.procinfo import start_ticks


def this_owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_ticks(pid) or '?'}"


def owner_alive(owner: str | None) -> bool:
    """False only when the owner is on this host and its process is gone (or its pid was reused)."""
    if not owner:
        return True
    try:
        host, pid_s, ticks = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    now = start_ticks(pid)
    if now is None:
        return False
    return ticks == "?" or now == ticks


def owned_here_and_alive(owner: str | None) -> bool:
    """True when the owner is a live process on this host (it is surely still writing)."""
    if not owner or owner.rsplit(":", 2)[0] != socket.gethostname():
        return False
    return owner_alive(owner)
