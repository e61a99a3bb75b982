"""Run a rendered :class:`~servemark.engines.base.Launch` as a local process.

The server gets its own process group (``start_new_session``) so that stopping it stops every
worker it forked, and its output goes to a log file in the run folder. :meth:`LocalServer.stop`
is idempotent and is called from ``finally`` blocks and on Ctrl-C / SIGTERM; it signals the whole
group even when the launched process has already exited (vLLM's EngineCore and workers outlive a
killed api_server). For ``kill -9`` of servemark, where no ``finally`` runs, each engine has a
watchdog process (:mod:`servemark.executors.watchdog`) that stops the group when servemark's pid
disappears. An engine is never left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from servemark.engines.base import Launch
from servemark.errors import ServemarkError
from servemark.executors import watchdog
from servemark.executors.watchdog import group_alive, kill_group
from servemark.procinfo import start_ticks


class EngineStartError(ServemarkError):
    pass


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URL from the launch)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0


class LocalServer:
    def __init__(self, launch: Launch, log_path: Path, on_orphan: list[str] | None = None):
        self.launch = launch
        self.log_path = log_path
        self.on_orphan = on_orphan
        """Run by the watchdog after it stopped an orphaned engine (a container's ``rm --force``)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.watchdog: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        lg = self.launch
        if port_in_use(lg.host, lg.port):
            raise EngineStartError(
                f"port {lg.port} on {lg.host} is already in use; stop what holds it or set engine.port in the recipe"
            )
        exe = lg.argv[0]
        if os.sep in exe and not Path(exe).exists():
            raise EngineStartError(f"engine executable not found: {exe}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for path, text in lg.files.items():  # config files the engine reads (TensorRT-LLM's YAML)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        env = {**os.environ, **lg.env}
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                lg.argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise EngineStartError(f"cannot start {lg.name} ({exe}): {exc}") from None
        finally:
            log.close()
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        """The process that stops this engine's group if servemark is killed (see watchdog.py)."""
        assert self.proc is not None
        me = os.getpid()
        self.watchdog = subprocess.Popen(
            [sys.executable, watchdog.__file__, str(me), start_ticks(me) or "?", str(self.proc.pid),
             *([json.dumps(self.on_orphan)] if self.on_orphan else [])],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(watchdog.__file__).parents[2]),
                                                                          os.environ.get("PYTHONPATH")]))},
        )

    def exit_reason(self) -> str:
        """Why the engine is not running: its exit code or the signal that ended it."""
        if self.proc is None:
            return "never started"
        code = self.proc.poll()
        if code is None:
            return "still running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}"
        return f"exited with code {code}"

    def wait_ready(self, timeout_s: float, tick: Callable[[float, str], None] | None = None) -> float:
        """Poll the health and models endpoints until both answer 200; return seconds waited."""
        assert self.proc is not None
        t0 = time.monotonic()
        base = self.launch.base_url
        stage = "starting"
        while True:
            waited = time.monotonic() - t0
            code = self.proc.poll()
            if code is not None:
                raise EngineStartError(
                    f"{self.launch.name} exited with code {code} during start-up; log {self.log_path}, last lines:\n"
                    + log_tail(self.log_path)
                )
            if waited > timeout_s:
                self.stop()
                raise EngineStartError(
                    f"{self.launch.name} not ready after {timeout_s:.0f} s ({stage}); log {self.log_path}, last lines:\n"
                    + log_tail(self.log_path)
                )
            if _get(base + self.launch.health_path) == 200:
                stage = "healthy, waiting for models"
                if _get(base + self.launch.models_path) == 200:
                    return waited
            if tick:
                tick(waited, stage)
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after ``grace_s``.

        Also when the leader has already exited: its workers may still be in the group.
        """
        if self.proc is None:
            return
        pgid = self.proc.pid
        self.proc.poll()
        if group_alive(pgid):
            kill_group(pgid, grace_s, reap=self.proc.poll)
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        if self.watchdog is not None:  # it exits by itself once the group is empty
            try:
                self.watchdog.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.watchdog.kill()
                self.watchdog.wait()
            self.watchdog = None
