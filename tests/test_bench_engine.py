"""``servemark bench URL`` through the real CLI against the real vLLM CPU server (one engine for
the session, conftest): prompts built with (a) the local tokenizer folder, (b) a hub id served
from a pre-populated offline HF cache, (c) the server's own /tokenize. Every request's
server-reported prompt length (``usage.prompt_tokens``) must equal the planned ISL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub_cache import HUB_ID, REVISION, offline_env, populate
from servemark.store import Store

pytestmark = pytest.mark.engine

ISL, OSL = 48, 4


def bench(tmp_path: Path, url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "servemark", "bench", url, "--isl", str(ISL), "--osl", str(OSL),
           "--concurrency", "1,2", "--num-prompts", "4", "--num-warmups", "1",
           "--db", str(tmp_path / "s.duckdb"), "--runs-dir", str(tmp_path / "runs"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("source", ["local", "hub", "server"])
def test_bench_exact_isl_with_each_tokenizer_source(vllm_server, tmp_path, source):
    env = None
    if source == "local":
        args, label = ["--tokenizer", vllm_server.tokenizer_path], vllm_server.tokenizer_path
    elif source == "hub":
        cache = tmp_path / "hf" / "hub"
        populate(cache, Path(vllm_server.tokenizer_path))
        env = offline_env(cache)
        args, label = ["--tokenizer", HUB_ID], f"hf:{HUB_ID}@{REVISION}"
    else:
        args, label = ["--tokenizer", "server"], f"server:{vllm_server.base_url}/tokenize"
    p = bench(tmp_path, vllm_server.base_url, *args, "--json", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    points = json.loads(p.stdout)
    assert sorted(pt["conc"] for pt in points) == [1, 2]
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        (run,) = store.runs()
    assert run["kind"] == "external" and run["status"] == "done"
    for pt in points:
        assert pt["model"] == vllm_server.model  # taken from /v1/models
        assert pt["tokenizer"] == label
        assert pt["completed"] == 4 and pt["prompt_token_deviation"] == 0
        assert pt["total_input_tokens"] == 4 * ISL
        recs = pq.read_table(Path(run["run_dir"]) / "records" / f"{pt['point_id']}.parquet").to_pylist()
        measured = [r for r in recs if not r["warmup"]]
        assert len(measured) == 4
        assert all(r["prompt_tokens"] == ISL for r in measured)  # the server's count == planned ISL


def test_bench_rate_point_and_saved_recipe_repeat(vllm_server, tmp_path):
    recipe = tmp_path / "bench.yaml"
    p = bench(tmp_path, vllm_server.base_url, "--tokenizer", vllm_server.tokenizer_path, "--rate", "4",
              "--concurrency", "1", "--save-recipe", str(recipe), "--json")
    assert p.returncode == 0, p.stderr[-3000:]
    points = json.loads(p.stdout)
    rate_points = [pt for pt in points if pt["request_rate"] == 4.0]
    assert len(rate_points) == 1 and rate_points[0]["completed"] == 4
    # the saved recipe repeats the same measurement through `servemark run --endpoint`
    q = subprocess.run([sys.executable, "-m", "servemark", "run", str(recipe), "--endpoint", vllm_server.base_url,
                        "--db", str(tmp_path / "s.duckdb"), "--runs-dir", str(tmp_path / "runs"), "--json"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert q.returncode == 0, q.stderr[-3000:]
    again = json.loads(q.stdout)
    assert [(pt["conc"], pt["request_rate"], pt["isl"]) for pt in again] == \
        [(pt["conc"], pt["request_rate"], pt["isl"]) for pt in points]
