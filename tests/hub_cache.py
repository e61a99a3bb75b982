"""A Hugging Face hub cache populated by a test: the demo model's tokenizer files laid out as
``huggingface_hub`` stores them (``models--org--name/snapshots/<rev>/`` plus ``refs/main``), so the
real hub loading code runs offline against it."""

from __future__ import annotations

import shutil
from pathlib import Path

HUB_ID = "servemark-test/gemma-3-270m-tokenizer"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def populate(cache: Path, tokenizer_dir: Path, repo_id: str = HUB_ID) -> Path:
    """Copy the tokenizer files into ``cache`` in hub layout; the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / REVISION
    snap.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, snap / name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    return snap


def offline_env(cache: Path) -> dict[str, str]:
    """Environment for a child process: the populated cache only, the network never asked."""
    return {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_HOME": str(cache.parent / "hf-home")}
