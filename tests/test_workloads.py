"""Workloads without a server: recipe keys, dataset formats and their errors, trace prompt building,
sessions, expansion into points, and the identity key that keeps workloads apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.errors import ServemarkError
from servemark.models import demo
from servemark.engines.check import parse_recipe
from servemark.recipe.expand import expand
from servemark.sweep.workload_build import build_workload
from servemark.workload.dataset import read_rows, resolve_path
from servemark.workload.random_tokens import RandomPromptBuilder, load_tokenizer

BASE = {"name": "w", "model": {"name": "m", "path": "auto"}, "engine": {"name": "vllm", "build": "cpu"},
        "hardware": {"name": "cpu"}, "concurrency": [1, 4]}


def recipe(*scenarios: dict, **over: object):
    return parse_recipe({**BASE, "scenarios": list(scenarios), **over})


@pytest.fixture(scope="module")
def builder() -> RandomPromptBuilder:
    if not demo.is_built("gemma-3-270m"):
        pytest.skip("demo model (its tokenizer) not built: servemark model build gemma-3-270m")
    return RandomPromptBuilder(load_tokenizer(demo.model_dir("gemma-3-270m")), seed=3)


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


# --- recipe ---------------------------------------------------------------------------------------


def test_random_stays_the_default_and_keeps_its_key() -> None:
    (p, _) = expand(recipe({"isl": 64, "osl": 8}))
    assert p.workload == "random" and not p.prefix_cache and p.scenario.workload.kind == "random"


def test_workload_parameters_are_in_the_identity() -> None:
    a = recipe({"workload": {"kind": "multi_turn", "turns": 3}}).scenarios[0].workload_key
    b = recipe({"workload": {"kind": "multi_turn", "turns": 4}}).scenarios[0].workload_key
    c = recipe({"workload": {"kind": "multi_turn", "turns": 3}, "prefix_cache": "on"}).scenarios[0].workload_key
    assert len({a, b, c}) == 3 and all(k.startswith("multi_turn:") for k in (a, b, c))


def test_yaml_on_off_and_engine_instances(tmp_path: Path) -> None:
    from servemark.engines.check import load_recipe

    (tmp_path / "r.yaml").write_text(
        "name: w\nmodel: {name: m}\nengine: {name: vllm, build: cpu}\nhardware: {name: cpu}\nconcurrency: [2]\n"
        "rates: [1.5]\nscenarios:\n  - {isl: 32, osl: 4, prefix_cache: on}\n  - {isl: 32, osl: 4, prefix_cache: off}\n"
        "  - {workload: {kind: trace, path: t.jsonl}}\n")
    pts = expand(load_recipe(tmp_path / "r.yaml"))
    # off scenarios first (one engine), then on; the trace is one point; rates after concurrencies
    assert [(p.prefix_cache, p.conc, p.rate) for p in pts] == [
        (False, 2, None), (False, 0, 1.5), (False, 0, None), (True, 2, None), (True, 0, 1.5)]
    assert len({p.engine_key for p in pts}) == 2


@pytest.mark.parametrize("bad, msg", [
    ({"workload": {"kind": "dataset"}}, "scenarios.0.workload.dataset.path"),
    ({"workload": {"kind": "nope"}}, "scenarios.0.workload"),
    ({"osl": 8}, "a random workload needs isl and osl"),
    ({"isl": 8, "osl": 8, "prefix_cache": "maybe"}, "scenarios.0.prefix_cache"),
])
def test_bad_workload_keys_name_the_key(bad: dict, msg: str) -> None:
    with pytest.raises(ServemarkError, match=msg.replace(".", r"\.")):
        recipe(bad)


def test_slo_and_search_keys() -> None:
    with pytest.raises(ServemarkError, match="slo_search: needs an slo"):
        recipe({"isl": 8, "osl": 8}, slo_search={"low": 1, "high": 2})
    with pytest.raises(ServemarkError, match="at least one of ttft_ms"):
        recipe({"isl": 8, "osl": 8}, slo={"percentile": 90})
    r = recipe({"isl": 8, "osl": 8}, slo={"ttft_ms": 200, "e2el_ms": 1000}, rates=[1, 2], concurrency=[])
    assert r.slo.bounds_s() == {"ttft": 0.2, "e2el": 1.0}
    assert [p.rate for p in expand(r)] == [1.0, 2.0]


# --- datasets -------------------------------------------------------------------------------------


def test_three_formats_are_detected(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "d.jsonl", [
        {"prompt": "p1", "completion": "c1"},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                      {"role": "assistant", "content": "a"}]},
        {"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}], "output_len": 7},
    ]))
    assert [(r.first_user, r.first_reply, r.output_len) for r in rows] == [("p1", "c1", None), ("u", "a", None), ("h", "g", 7)]


@pytest.mark.parametrize("line, msg", [
    ('{"text": "x"}', "fits no dataset format"),
    ("not json", "not JSON"),
    ('{"conversations": [{"from": "robot", "value": "x"}]}', "conversations[0] needs 'from'"),
    ('{"prompt": "x", "output_len": -1}', "output_len must be a positive integer"),
])
def test_a_bad_line_is_named(tmp_path: Path, line: str, msg: str) -> None:
    path = write(tmp_path / "d.jsonl", [{"prompt": "ok"}, line])
    with pytest.raises(ServemarkError, match=rf"d\.jsonl:2: .*{msg}".replace("[", r"\[").replace("]", r"\]")):
        read_rows(path)


def test_shipped_gsm8k_slice_and_its_licence() -> None:
    path = resolve_path("gsm8k")
    rows = read_rows(path)
    assert len(rows) == 200 and rows[0].first_user.startswith("Question: Janet")
    assert "MIT License" in (path.parent / "GSM8K-LICENSE").read_text()


def test_dataset_prompts_seeded_filtered_with_reference_lengths(builder: RandomPromptBuilder) -> None:
    sc = recipe({"workload": {"kind": "dataset", "path": "gsm8k", "max_input_tokens": 60}}).scenarios[0]
    a = build_workload(sc, builder, 30, 2, seed=5, salt=5)
    b = build_workload(sc, builder, 30, 2, seed=5, salt=5)
    assert [p.text for p in a.prompts] == [p.text for p in b.prompts] and len(a.prompts) == 32
    assert all(p.client_tokens <= 60 and builder.count(p.text) == p.client_tokens for p in a.prompts)
    assert len({p.max_tokens for p in a.prompts}) > 5  # each row's own reference-answer length
    fixed = recipe({"workload": {"kind": "dataset", "path": "gsm8k", "output_len": 9}}).scenarios[0]
    assert {p.max_tokens for p in build_workload(fixed, builder, 5, 0, 1, 1).prompts} == {9}


# --- sessions and traces --------------------------------------------------------------------------


def test_synthetic_sessions_exact_turn_lengths(builder: RandomPromptBuilder) -> None:
    sc = recipe({"workload": {"kind": "multi_turn", "sessions": 3, "turns": 4, "user_tokens": [50, 10],
                              "assistant_tokens": 6, "think_time_s": 0.5}}).scenarios[0]
    wl = build_workload(sc, builder, 0, 2, seed=1, salt=9)
    assert wl.num_requests == 12 and len(wl.sessions) == 3 and len(wl.prompts) == 2
    s = wl.sessions[0]
    assert [t.user_tokens for t in s.turns] == [50, 10, 10, 10] and [t.delay_s for t in s.turns] == [0, .5, .5, .5]
    assert all(builder.count(t.user) - builder.n_special == t.user_tokens for t in s.turns)
    other = build_workload(sc, builder, 0, 2, seed=1, salt=10)  # another point's salt: other text
    assert other.sessions[0].turns[0].user != s.turns[0].user


def test_mooncake_equal_hash_ids_are_equal_tokens(tmp_path: Path, builder: RandomPromptBuilder) -> None:
    path = write(tmp_path / "t.jsonl", [
        {"timestamp": 1000, "input_length": 1100, "output_length": 5, "hash_ids": [7, 8, 9]},
        {"timestamp": 1500, "input_length": 700, "output_length": 3, "hash_ids": [7, 10]},
        {"timestamp": 3000, "input_length": 300, "output_length": 2, "hash_ids": [11]},
    ])
    sc = recipe({"workload": {"kind": "trace", "path": str(path), "speedup": 2}}).scenarios[0]
    wl = build_workload(sc, builder, 0, 1, seed=0, salt=4)
    a, b, c = wl.prompts[1:]
    assert [len(p.token_ids) for p in (a, b, c)] == [1100, 700, 300] and [p.max_tokens for p in (a, b, c)] == [5, 3, 2]
    assert a.token_ids[:512] == b.token_ids[:512] and a.token_ids[512:700] != b.token_ids[512:700]
    assert wl.offsets == [0.0, 0.25, 1.0]  # ms -> s, from the first request, halved
    with pytest.raises(ServemarkError, match=r"t2\.jsonl:1: input_length 1100 needs 3 hash_ids"):
        bad = write(tmp_path / "t2.jsonl", [{"timestamp": 0, "input_length": 1100, "output_length": 1, "hash_ids": [1]}])
        build_workload(recipe({"workload": {"kind": "trace", "path": str(bad)}}).scenarios[0], builder, 0, 0, 0, 0)


def test_agentic_sessions_share_context_and_fan_out(tmp_path: Path, builder: RandomPromptBuilder) -> None:
    sub = {"turns": [{"input_tokens": 12, "output_tokens": 3}]}
    path = write(tmp_path / "a.jsonl", [
        {"timestamp": 2.0, "context_id": "repo", "context_tokens": 80,
         "turns": [{"input_tokens": 20, "output_tokens": 4},
                   {"gap_s": 1.0, "input_tokens": 10, "output_tokens": 4, "subagents": [sub, sub]}]},
        {"timestamp": 3.0, "context_id": "repo", "context_tokens": 80, "turns": [{"input_tokens": 20, "output_tokens": 4}]},
    ])
    sc = recipe({"workload": {"kind": "trace", "format": "agentic", "path": str(path)}}).scenarios[0]
    wl = build_workload(sc, builder, 0, 0, seed=0, salt=1)
    s1, s2 = wl.sessions
    assert wl.num_requests == 5 and (s1.start_s, s2.start_s) == (0.0, 1.0)
    assert s1.context == s2.context and builder.count(s1.context) - builder.n_special == 80
    assert s1.turns[1].delay_s == 1.0 and len(s1.turns[1].subagents) == 2
    with pytest.raises(ServemarkError, match=r"a2\.jsonl:1: turns\[0\]: input_tokens must be an integer"):
        bad = write(tmp_path / "a2.jsonl", [{"timestamp": 0, "turns": [{"output_tokens": 2}]}])
        build_workload(recipe({"workload": {"kind": "trace", "format": "agentic", "path": str(bad)}}).scenarios[0],
                       builder, 0, 0, 0, 0)


def test_prometheus_cache_counter_parse() -> None:
    """vLLM's exposition (one series per engine index; _created lines ignored) -> summed hits."""
    from servemark.metrics.workload import cache_from_counters
    from servemark.telemetry.cache_counters import parse_counters

    text = """# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 1536.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 512.0
vllm:prefix_cache_hits_created{engine="0",model_name="m"} 1.7e+09
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 4096.0
"""
    before, after = parse_counters(text.replace("1536.0", "0.0").replace("512.0", "0.0")), parse_counters(text)
    assert after == {"hits": 2048.0} and parse_counters("other_metric 1\n") == {}
    assert cache_from_counters(before, after, 4096) == {"cached_tokens": 2048, "cache_hit_rate": 0.5,
                                                        "cache_source": "prometheus"}


def test_plan_counts_layouts_not_engine_instances() -> None:
    """One layout with prefix cache off and on scenarios is two engine instances, not two layouts."""
    from io import StringIO

    from rich.console import Console

    from servemark.sweep.plan import build_plan, print_plan

    r = recipe({"isl": 32, "osl": 8}, {"isl": 32, "osl": 8, "prefix_cache": "on"}, trials=2, rates=[4],
               slo={"ttft_ms": 50}, slo_search={"over": "rate", "low": 1, "high": 8})
    buf = StringIO()
    print_plan(build_plan(r), Console(file=buf, width=200))
    head = buf.getvalue().splitlines()[0]
    assert "6 point(s), 1 layout(s) (2 engine instances" in head, head
    assert "2 trials" in buf.getvalue() and "search:" in buf.getvalue()
