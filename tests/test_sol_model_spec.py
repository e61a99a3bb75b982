"""Model specs parsed from HF config.json: totals against published counts, KV bytes per token."""

from __future__ import annotations

import json

import pytest

from servemark.errors import ServemarkError
from servemark.modelspec.catalogue import PUBLISHED
from servemark.modelspec.architecture import load_architecture
from servemark.sol.precision import profile_for


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_total_params_match_published(name):
    spec = load_architecture(name)
    assert spec.total_params / 1e9 == pytest.approx(PUBLISHED[name]["total"], rel=0.005)


@pytest.mark.parametrize("name,rel", [("deepseek-v3", 0.02), ("gpt-oss-120b", 0.01), ("qwen3-235b-a22b", 0.03),
                                      ("qwen3-30b-a3b", 0.03)])
def test_active_params_match_published(name, rel):
    spec = load_architecture(name)
    # DeepSeek and Qwen quote active counts with the input embedding, OpenAI without it
    active = spec.active_params if name == "gpt-oss-120b" else spec.active_params_with_embedding
    assert active / 1e9 == pytest.approx(PUBLISHED[name]["active"], rel=rel)


def test_deepseek_blocks_exactly():
    s = load_architecture("dsr1")  # InferenceX's key is an alias
    assert s.name == "deepseek-r1" and s.n_layers == 61 and len(s.moe_layers) == 58
    assert s.attn_params / 1e9 == pytest.approx(11.4134, abs=1e-4)  # 187.1M MLA projections x 61
    assert s.moe_layers[0].expert_params == 3 * 7168 * 2048
    assert s.mtp_layers == 1
    # FP8 MLA cache: (512 latent + 64 rope) x 1 B; as FlashMLA stores it 656 B
    assert profile_for(s, "fp8", "strict").kv_bytes_per_token_layer(s)[0] == 576
    assert profile_for(s, "fp8", "realistic").kv_bytes_per_token_layer(s)[0] == 656
    assert profile_for(s, "bf16", "realistic").kv_bytes_per_token_layer(s)[0] == 1152


def test_gqa_and_sliding_window_cache():
    llama = load_architecture("llama-3.1-8b")
    kvb = profile_for(llama, "bf16", "realistic").kv_bytes_per_token_layer(llama)
    assert kvb.sum() == 32 * 2 * 8 * 128 * 2  # 128 KiB per token
    oss = load_architecture("gpt-oss-120b")
    b = profile_for(oss, "bf16", "realistic").kv_bytes_per_token_layer(oss)
    # half the layers stop growing at the 128-token window
    assert oss.kv_bytes_for_context(10_000, b) == pytest.approx(18 * 10_000 * b[1] + 18 * 128 * b[0])
    gemma = load_architecture("gemma-3-270m")
    assert sum(1 for l in gemma.layers if l.window == 512) == 15


def test_config_path_and_errors(tmp_path):
    cfg = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
           "intermediate_size": 128}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s = load_architecture(tmp_path)
    assert s.total_params == 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64 + 2 * 100 * 64
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(ServemarkError, match="missing key 'num_hidden_layers'"):
        load_architecture(bad)
    with pytest.raises(ServemarkError, match="unknown model"):
        load_architecture(tmp_path / "nowhere")
