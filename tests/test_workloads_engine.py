"""Workloads on the real vLLM CPU engine: prefix caching on vs off with multi-turn sessions, and a
Mooncake trace whose shared prefixes hit the cache.

The engine comes from the session's engine pool: prefix caching on is its own configuration (the
pool stops the other one first, so one engine runs at a time). Runs go through ``--endpoint`` so
the runner, load generator, metrics and store are servemark's own, unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.loadgen.records_io import read_records
from servemark.engines.check import load_recipe
from servemark.sweep.recipe_run import SweepOptions, run_recipe

pytestmark = pytest.mark.engine

FIRST, LATER, REPLY = 600, 16, 16
"""Turn 1 brings 600 new tokens, later turns 16, replies 16: turn 3's prompt is ~664 tokens of
which ~630 were seen before. The control is a first turn of that same length."""


def run(demo_recipe_path: Path, url: str, tmp: Path, scenarios: list[dict], conc: int = 2):
    recipe = load_recipe(demo_recipe_path)
    recipe = recipe.model_validate({**recipe.model_dump(mode="json"), "scenarios": scenarios, "concurrency": [conc],
                                    "warmup": {"per_conc": 0, "min": 2}})
    opts = SweepOptions(db=tmp / "s.duckdb", runs_dir=tmp / "runs", endpoint=url, recipe_dir=tmp)
    res = run_recipe(recipe, opts)
    recs = {p.point_id: [r for r in read_records(res.run_dir / "records" / f"{p.point_id}.parquet") if not r.warmup]
            for p in res.points}
    return res.points, recs


def sessions(cache: str, n: int, turns: int, first: int = FIRST) -> dict:
    return {"prefix_cache": cache, "workload": {"kind": "multi_turn", "sessions": n, "turns": turns,
                                                "user_tokens": [first, LATER], "assistant_tokens": REPLY}}


@pytest.fixture(scope="module")
def cache_on(vllm_prefix_server, demo_recipe_path: Path, tmp_path_factory: pytest.TempPathFactory):
    control_len = FIRST + 2 * (LATER + REPLY)
    return run(demo_recipe_path, vllm_prefix_server.base_url, tmp_path_factory.mktemp("on"),
               [sessions("on", 8, 3), sessions("on", 8, 1, first=control_len)])


def test_multi_turn_with_prefix_cache_hits_and_is_faster_later(cache_on) -> None:
    (multi, control), recs = cache_on
    assert multi.failed == 0 and control.failed == 0
    assert multi.cache_source == "usage" and multi.cached_tokens > 0 and multi.prefix_cache
    turns = multi.extra["ttft_by_turn"]
    assert turns["0"]["cached_tokens"] == 0  # first turns are salted: nothing to reuse
    assert turns["2"]["cached_tokens"] >= 0.8 * FIRST * turns["2"]["requests"]
    ctrl = control.extra["ttft_by_turn"]["0"]
    assert ctrl["cached_tokens"] == 0
    # equal length: the control's first turn has turn 3's prompt length (within 5%)
    assert abs(turns["2"]["mean_prompt_tokens"] - ctrl["mean_prompt_tokens"]) < 0.05 * ctrl["mean_prompt_tokens"]
    assert turns["2"]["median_ttft"] < ctrl["median_ttft"], (turns, ctrl)


def test_mooncake_trace_exact_lengths_and_shared_prefixes_hit(vllm_prefix_server, demo_recipe_path: Path,
                                                              tmp_path: Path) -> None:
    """50 requests, 250 ms apart, of 5 'conversations': each request starts with its
    conversation's block (512 tokens) and goes on with 100-400 tokens of a block of its own."""
    rows = []
    for i in range(50):
        conv = i % 5
        rows.append({"timestamp": 250 * i, "input_length": 512 + 100 + 7 * i % 300, "output_length": 4,
                     "hash_ids": [1000 * conv, 10_000 + i]})
    (tmp_path / "trace.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (p,), recs = run(demo_recipe_path, vllm_prefix_server.base_url, tmp_path,
                     [{"prefix_cache": "on", "workload": {"kind": "trace", "path": "trace.jsonl"}}])
    rs = sorted(recs[p.point_id], key=lambda r: r.request_id)
    assert p.failed == 0 and len(rs) == 50
    assert [r.prompt_tokens for r in rs] == [row["input_length"] for row in rows]  # exactly the trace's
    fresh, shared = rs[:5], rs[5:]
    assert all(r.cached_tokens == 0 for r in fresh)  # salted: nothing else starts like them
    # a request sent after an earlier request of its conversation had its first token (its prompt,
    # shared block included, was in the cache by then) must hit; requests the server took in the
    # same batch as their conversation's first may not (a slow CPU falls behind the trace)
    done_first = {}
    due = []
    for i, r in enumerate(rs):
        conv = i % 5
        if conv in done_first and done_first[conv] < r.sent_at:
            due.append(r)
        done_first[conv] = min(done_first.get(conv, float("inf")), r.first_token_at)
    assert due and all((r.cached_tokens or 0) >= 384 for r in due), [(r.request_id, r.cached_tokens) for r in due]
    assert sum(1 for r in shared if (r.cached_tokens or 0) >= 384) >= len(due)
    assert p.cached_tokens == sum(r.cached_tokens for r in rs) and p.cache_hit_rate > 0


def test_multi_turn_without_prefix_cache_reports_zero(vllm_server, demo_recipe_path: Path,
                                                      tmp_path: Path) -> None:
    (p,), _ = run(demo_recipe_path, vllm_server.base_url, tmp_path, [sessions("off", 4, 3)])
    assert p.failed == 0 and p.num_requests == 12 and not p.prefix_cache
    assert p.cache_source in ("usage", "prometheus") and p.cached_tokens == 0
