"""Start the calibration server in its own process (so it never shares the client's CPU loop)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING, Any

from servemark.calibration.plan import CalibrationPlan
from servemark.errors import ServemarkError

if TYPE_CHECKING:
    from servemark.calibration.simulated import SimModel


class CalibrationServer:
    """Context manager: ``with CalibrationServer(plan) as srv: srv.base_url``."""

    def __init__(self, plan: CalibrationPlan | None = None, max_lifetime_s: float = 1800.0) -> None:
        self.plan = plan or CalibrationPlan()
        self.max_lifetime_s = max_lifetime_s
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "servemark.calibration.server", "--port", "0",
                "--plan", self.plan.to_json(), "--max-lifetime-s", str(self.max_lifetime_s)]

    def start(self) -> "CalibrationServer":
        cmd = self.command()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise ServemarkError(f"{cmd[2]} did not start: {line.strip()} {err.strip()[-300:]}")
        self.port = int(line.split()[1])
        return self

    def truth(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url + "/calibration/truth", timeout=60) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        req = urllib.request.Request(self.base_url + "/calibration/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "CalibrationServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatedServer(CalibrationServer):
    """The simulated batch engine (``calibration.simulated``) in its own process, same interface."""

    def __init__(self, model: "SimModel | None" = None, seed: int = 0, max_lifetime_s: float = 1800.0) -> None:
        from servemark.calibration.simulated import SimModel

        super().__init__(None, max_lifetime_s)
        self.model = model or SimModel()
        self.seed = seed

    def command(self) -> list[str]:
        return [sys.executable, "-m", "servemark.calibration.simulated", "--port", "0", "--model",
                self.model.to_json(), "--seed", str(self.seed), "--max-lifetime-s", str(self.max_lifetime_s)]
