"""Run one rendered benchmark command and hand back what it wrote (nothing parsed here).

The command runs in its own session (process group) so a timeout or Ctrl-C stops the tool and every
worker it spawned (vLLM starts an engine-core process). Its stdout and stderr go to a log file in the
run folder, kept: the raw output is the evidence behind each stored ceiling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from servemark.ceiling.render import CeilingCommand
from servemark.errors import ServemarkError
from servemark.executors.local import log_tail


@dataclass
class Executed:
    command: CeilingCommand
    log_path: Path
    stdout: str
    """The log's text (stdout and stderr interleaved)."""
    result_text: str | None
    """The tool's result file, when it writes one."""
    wall_s: float


def execute(cmd: CeilingCommand, log_path: Path, timeout_s: float) -> Executed:
    """Run ``cmd``; a non-zero exit or a timeout is an error quoting the log's tail."""
    if cmd.result_file:
        Path(cmd.result_file).unlink(missing_ok=True)  # SGLang appends; a stale file would add old rows
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **cmd.env}
    start = time.monotonic()
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd.argv) + "\n").encode())
        log.flush()
        try:
            proc = subprocess.Popen(cmd.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
        except OSError as exc:
            raise ServemarkError(f"cannot start {cmd.argv[0]}: {exc}") from None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ServemarkError(f"{cmd.tool} ran past ceiling.timeout_s = {timeout_s:.0f} s and was stopped; "
                                 f"log {log_path}:\n{log_tail(log_path)}") from None
        except BaseException:
            _kill(proc)
            raise
    wall = time.monotonic() - start
    if code != 0:
        raise ServemarkError(f"{cmd.tool} failed (exit {code}); log {log_path}:\n{log_tail(log_path)}")
    result = None
    if cmd.result_file:
        rf = Path(cmd.result_file)
        if not rf.is_file():
            raise ServemarkError(f"{cmd.tool} exited 0 but wrote no {rf}; log {log_path}")
        result = rf.read_text()
    return Executed(command=cmd, log_path=log_path, stdout=log_path.read_text(errors="replace"),
                    result_text=result, wall_s=wall)


def _kill(proc: subprocess.Popen) -> None:
    """SIGTERM the tool's process group, SIGKILL what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
