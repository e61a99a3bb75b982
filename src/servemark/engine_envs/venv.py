"""Small helpers for engine virtual environments: create, pip install, run a step with a spinner."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from rich.console import Console

from servemark.errors import ServemarkError


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def create(env: Path) -> None:
    env.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env)


def run_step(console: Console, title: str, argv: list[str], log: Path) -> None:
    """Run one install step, output to ``log``; on failure show the log's tail and the step."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with console.status(f"[bold]{title}[/] (log: {log})", spinner="dots"):
        with open(log, "a") as fh:
            fh.write(f"\n$ {' '.join(argv)}\n")
            fh.flush()
            code = subprocess.call(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ServemarkError(f"{title} failed (exit {code}); log {log}; last lines:\n{tail}")
    console.print(f"[green]✓[/] {title}")


def pip(env: Path, *args: str) -> list[str]:
    return [str(python_of(env)), "-m", "pip", "--disable-pip-version-check", *args]


def current_python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"
