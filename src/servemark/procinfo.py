"""Facts about a process from ``/proc``: standard library only, so the engine watchdog can use it."""

from __future__ import annotations


def start_ticks(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, ``/proc/<pid>/stat`` field 22), or None
    when there is no such live process (gone, or a zombie). With the pid it names one process
    even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    rest = stat[stat.rfind(")") + 2:].split()
    if rest and rest[0] == "Z":
        return None
    return rest[19] if len(rest) > 19 else None
