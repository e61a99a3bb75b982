"""Tokenizers from anywhere, without an engine: a local folder, and a hub id resolved offline
through a Hugging Face cache populated here (the real huggingface_hub code path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_cache import HUB_ID, REVISION, populate
from servemark.errors import ServemarkError
from servemark.models import demo
from servemark.workload.random_tokens import RandomPromptBuilder
from servemark.workload.tokenizer import is_hub_id, open_tokenizer


@pytest.fixture()
def demo_tokenizer() -> Path:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")
    return demo.model_dir("gemma-3-270m")


def test_hub_id_resolves_offline_from_the_cache(tmp_path, demo_tokenizer, monkeypatch):
    cache = tmp_path / "hub"
    populate(cache, demo_tokenizer)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok, label = open_tokenizer(HUB_ID)
    assert label == f"hf:{HUB_ID}@{REVISION}"
    local, _ = open_tokenizer(str(demo_tokenizer))
    text = RandomPromptBuilder(tok, seed=1).prompt_of_length(40)
    assert len(local.encode(text).ids) == 40  # the same tokenizer as the local files


def test_hub_id_missing_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ServemarkError, match="not in .*HF_HUB_OFFLINE is set"):
        open_tokenizer("nobody/no-such-model")


def test_hub_ids_and_paths_are_told_apart(tmp_path):
    assert is_hub_id("meta-llama/Llama-3.1-8B-Instruct") and is_hub_id("org/name@v1.0")
    assert not is_hub_id("./tok") and not is_hub_id("/abs/tok") and not is_hub_id("server")
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "name").mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert not is_hub_id("org/name")  # an existing local folder wins
    finally:
        os.chdir(cwd)
