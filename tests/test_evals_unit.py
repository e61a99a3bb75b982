"""Unit tests of the checks' pure parts: extraction, prompts, statistics, agreement, gates, store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servemark.errors import ServemarkError
from servemark.evals import gsm8k_data
from servemark.evals.agreement import AgreementConfig, Side, compare, token_agreement
from servemark.evals.client import Endpoint, Generation, parse_response
from servemark.evals.extract import INVALID, extract_flexible, extract_strict, gold_answer, is_correct
from servemark.evals.gates import select_concurrencies
from servemark.evals.gsm8k import score_completions
from servemark.evals.result import EvalResult, mean_stderr
from servemark.evals.store import GATE_FLAG, evals, flag_points, save_eval
from servemark.point import Point
from servemark.engines.check import parse_recipe
from servemark.store.db import Store

from conftest import GSM8K, SHARED as SHARED_ROOT

# the full pinned files (hash checks) live in ../shared; tests/data/gsm8k has a slice every clone has
SHARED = SHARED_ROOT / "data" / "gsm8k"
needs_shared = pytest.mark.skipif(not (SHARED / "test.jsonl").is_file(), reason="../shared/data/gsm8k absent")


# extraction ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "completion, strict, flexible",
    [
        ("She makes 9 * 2 = $18 every day.\n#### 18", "18", "18"),
        ("The total is 1,000 dollars.\n#### 1,000", "1,000", "1,000"),
        ("So she pays $1,234.50 in total.\n#### $1,234.50", INVALID, "$1,234.50"),  # "#### $" is not strict
        ("The answer is 42.", INVALID, "42."),  # no ####: strict fails, flexible takes the last number
        ("#### 7.\nQuestion: next", "7.", "7."),
        ("First 3 apples, then 5 more, so 8", INVALID, "8"),
        ("#### -5", "-5", "-5"),
        ("no digits at all", INVALID, INVALID),
        ("#### 12\nand later 99", "12", "99"),  # strict takes the first marker, flexible the last number
    ],
)
def test_extraction(completion: str, strict: str, flexible: str) -> None:
    assert extract_strict(completion) == strict
    assert extract_flexible(completion) == flexible


@pytest.mark.parametrize(
    "extracted, gold, ok",
    [
        ("1,000", "#### 1000", True),  # commas ignored
        ("$18", "#### 18", True),  # dollar ignored
        ("$1,234.50", "#### 1234.50", True),
        ("18.", "#### 18", True),  # one trailing period ignored
        ("1,234.", "Some work\n#### 1,234", True),
        ("18.0", "#### 18", False),  # no numeric parsing, as lm-eval
        ("17", "#### 18", False),
        (INVALID, "#### 18", False),
    ],
)
def test_is_correct(extracted: str, gold: str, ok: bool) -> None:
    assert is_correct(extracted, gold) is ok


def test_gold_answer_strips_worked_solution() -> None:
    assert gold_answer("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 1,800") == "1800"


def test_score_completions_both_filters() -> None:
    items = [gsm8k_data.Item(0, "q", "x\n#### 18"), gsm8k_data.Item(1, "q", "y\n#### 5")]
    got = score_completions(items, ["so 18 in all.", "#### 5"])
    assert got == {"strict": [0.0, 1.0], "flexible": [1.0, 1.0]}


# statistics ------------------------------------------------------------------------------------
def test_mean_stderr_matches_lm_eval_definition() -> None:
    mean, se = mean_stderr([1.0, 0.0, 1.0, 1.0])
    assert mean == 0.75
    assert se == pytest.approx((0.25 ** 0.5) / 2)  # sample sd sqrt(1/4... n-1) / sqrt(n)
    assert mean_stderr([1.0]) == (1.0, None)
    assert mean_stderr([]) == (0.0, None)


def test_gate_verdict() -> None:
    assert EvalResult("gsm8k", 0.5, 0.1, 10).gate(0.6).passed is False
    assert EvalResult("gsm8k", 0.6, 0.1, 10).gate(0.6).passed is True
    assert EvalResult("gsm8k", 0.6, 0.1, 10).gate(None).passed is None


# prompts ---------------------------------------------------------------------------------------
def test_prompt_is_lm_eval_five_shot_and_stable_under_limit() -> None:
    test = gsm8k_data.load(GSM8K / "test.jsonl")
    train = gsm8k_data.load(GSM8K / "train.jsonl")
    assert len(test) == 20 and len(train) == 60  # the vendored slice (tests/data/gsm8k/README.md)
    full = gsm8k_data.build_prompts(test, train, shots=5, limit=3)
    short = gsm8k_data.build_prompts(test, train, shots=5, limit=1)
    assert full[0].text == short[0].text  # item i's prompt does not depend on --limit
    text = full[0].text
    assert text.count("Question: ") == 6 and text.count("#### ") == 5
    assert text.endswith(f"Question: {test[0].question}\nAnswer:")
    assert "\n\nQuestion: " in text
    # a file other than the pinned upstream one is named by its path and hash
    assert gsm8k_data.dataset_id(GSM8K / "test.jsonl").startswith(f"{GSM8K / 'test.jsonl'} sha256:")


@needs_shared
def test_pinned_upstream_file_is_named_by_its_commit() -> None:
    test = gsm8k_data.load(SHARED / "test.jsonl")
    assert len(test) == 1319 and len(gsm8k_data.load(SHARED / "train.jsonl")) == 7473
    assert gsm8k_data.dataset_id(SHARED / "test.jsonl").startswith("openai/grade-school-math@")


def test_load_rejects_bad_rows(tmp_path: Path) -> None:
    bad = tmp_path / "test.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(ServemarkError, match=r"test.jsonl:1: not a GSM8K row"):
        gsm8k_data.load(bad)
    with pytest.raises(ServemarkError, match="not found"):
        gsm8k_data.resolve("test", tmp_path / "missing.jsonl")


# client parsing --------------------------------------------------------------------------------
def test_parse_token_ids_from_vllm_logprobs() -> None:
    data = {"choices": [{"text": " 18", "finish_reason": "length",
                         "logprobs": {"tokens": ["token_id:235248", "token_id:235274"]}}],
            "usage": {"completion_tokens": 2}}
    g = parse_response(data, "completions")
    assert g.token_ids == [235248, 235274] and g.tokens is None and g.completion_tokens == 2
    chat = {"choices": [{"message": {"content": "hi"}, "logprobs": {"content": [{"token": "h"}, {"token": "i"}]}}]}
    g = parse_response(chat, "chat")
    assert g.text == "hi" and g.tokens == ["h", "i"] and g.token_ids is None


def test_endpoint_url_accepts_v1_suffix() -> None:
    assert Endpoint("http://h:1/v1/", "m").url() == "http://h:1/v1/completions"
    assert Endpoint("http://h:1", "m", api="chat").url() == "http://h:1/v1/chat/completions"
    assert "api_key" not in repr(Endpoint("http://h:1", "m", api_key="sk-secret")).replace("api_key=", "")
    assert "sk-secret" not in json.dumps(Endpoint("http://h:1", "m", api_key="sk-secret").describe())


# agreement -------------------------------------------------------------------------------------
def test_token_agreement_prefix_definition() -> None:
    assert token_agreement([1, 2, 3, 4], [1, 2, 3, 4], 4) == (1.0, 4)
    assert token_agreement([1, 2, 3, 4], [1, 2, 9, 4], 4) == (0.5, 2)  # nothing after divergence counts
    assert token_agreement([1, 2, 3, 4, 5], [1, 2, 3, 4, 6], 4) == (1.0, 4)  # only the first N
    assert token_agreement([1, 2], [1, 2, 3, 4], 4) == (0.5, 2)  # one side stopped early
    assert token_agreement([], [], 4) == (1.0, 0)


def test_compare_counts_errors_as_disagreement() -> None:
    ref = Side({"base_url": "r"}, [Generation("ab", token_ids=[1, 2]), Generation("cd", token_ids=[3, 4])])
    test = Side({"base_url": "t"}, [Generation("ab", token_ids=[1, 2]), Generation(error="HTTP 500")])
    r = compare(ref, test, AgreementConfig(limit=2, tokens=2, min_token_agreement=0.9))
    assert r.score == 0.5 and r.details["errors"] == 1 and r.passed is False
    assert r.details["identical"] == 0.5 and json.loads(r.reference) == {"base_url": "r"}


# gates and store -------------------------------------------------------------------------------
def _pt(pid: str, conc: int, scenario: str = "256/64") -> Point:
    return Point(run_id="r1", point_id=pid, conc=conc, scenario=scenario, isl=256, osl=64)


def test_select_highest_and_median_per_scenario() -> None:
    pts = [_pt(f"a{c}", c) for c in (1, 2, 4, 8, 16)] + [_pt(f"b{c}", c, "1k/1k") for c in (1, 2, 4, 8)]
    got = select_concurrencies(pts)
    assert got == {4: ["a4", "b4"], 8: ["b8"], 16: ["a16"]}
    assert select_concurrencies(pts, "max") == {8: ["b8"], 16: ["a16"]}


def test_store_evals_and_gate_flag(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.add_points([_pt("p1", 1), _pt("p2", 4)])
        r = EvalResult("gsm8k", 0.25, 0.1, 8, reference="ds", details={"em_flexible": 0.5}).gate(0.5)
        r.run_id, r.point_ids = "r1", ["p2"]
        save_eval(store, r)
        assert flag_points(store, ["p1", "p2"]) == 2
        assert flag_points(store, ["p1", "p2"]) == 0  # idempotent
        rows = evals(store, "r1")
        assert len(rows) == 1 and rows[0]["passed"] is False and rows[0]["point_ids"] == ["p2"]
        assert rows[0]["details"] == {"em_flexible": 0.5} and rows[0]["threshold"] == 0.5
        assert all(GATE_FLAG in p.flags for p in store.points())


# recipe keys -----------------------------------------------------------------------------------
BASE = {"name": "t", "model": {"name": "m"}, "engine": {"name": "vllm"}, "scenarios": [{"isl": 8, "osl": 8}], "concurrency": [1]}


def test_recipe_evals_section_is_strict() -> None:
    r = parse_recipe({**BASE, "evals": {"gsm8k": {"limit": 8, "min_score": 0.3},
                                        "agreement": {"reference": {"file": "ref.jsonl"}, "min_token_agreement": 0.9}}})
    assert r.evals.gsm8k.limit == 8 and r.evals.agreement.tokens == 64
    with pytest.raises(ServemarkError, match=r"evals.gsm8k.min_scor: unknown key"):
        parse_recipe({**BASE, "evals": {"gsm8k": {"min_scor": 0.3}}})
    with pytest.raises(ServemarkError, match=r"evals.agreement.reference: .*exactly one of base_url or file"):
        parse_recipe({**BASE, "evals": {"agreement": {"reference": {}}}})


def test_recipe_evals_never_raise_and_flag_when_endpoint_is_down(tmp_path: Path) -> None:
    """A check that cannot run is a failed gate with its reason, and the sweep's points survive."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recipe = parse_recipe({**BASE, "concurrency": [1, 2, 4], "evals": {
        "gsm8k": {"limit": 1, "shots": 0, "min_score": 0.1, "data": str(tmp_path / "missing.jsonl")},
        "agreement": {"reference": {"base_url": f"http://127.0.0.1:{port}"}, "limit": 1, "shots": 0,
                      "data": str(GSM8K)},
    }})
    pts = [_pt("p1", 1), _pt("p2", 2), _pt("p4", 4)]
    from servemark.evals import run_recipe_evals

    with Store(tmp_path / "s.duckdb") as store:
        store.add_points(pts)
        results = run_recipe_evals(recipe, f"http://127.0.0.1:{port}", "m", store, "r1", pts)
        assert [r.kind for r in results] == ["gsm8k", "agreement"] * 2  # conc 2 (median) and 4 (max)
        assert all(r.passed is False and r.details["error"] for r in results)
        assert "GSM8K test data not found" in results[0].details["error"]
        assert "every request failed" in results[1].details["error"]
        assert "FAILED" in str(results[0]) and "not found" in str(results[0])
        assert len(evals(store, "r1")) == 4
        assert all(p.flags == [GATE_FLAG] for p in store.points())


def test_request_bodies() -> None:
    from servemark.evals.client import _payload

    ep = Endpoint("http://h:1", "m", api="chat", temperature=0.0, extra_body={"top_k": 1})
    body = _payload(ep, "Question: 1+1?\nAnswer:", 16, ["Question:"], want_tokens=True)
    assert body["messages"] == [{"role": "user", "content": "Question: 1+1?\nAnswer:"}]
    assert body["logprobs"] is True and body["return_tokens_as_token_ids"] is True and body["top_k"] == 1
    assert body["temperature"] == 0.0 and body["stop"] == ["Question:"] and "seed" not in body
    plain = _payload(Endpoint("http://h:1", "m", seed=3), "p", 8, None, want_tokens=False)
    assert plain["prompt"] == "p" and plain["seed"] == 3 and "logprobs" not in plain and "stop" not in plain


@needs_shared
def test_cached_download_is_used_when_its_hash_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --data: the pinned files in <home>/data/gsm8k are used without touching the network."""
    import shutil

    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    cache = gsm8k_data.cache_dir()
    cache.mkdir(parents=True)
    for split in ("test", "train"):
        shutil.copy(SHARED / f"{split}.jsonl", cache / f"{split}.jsonl")
    prompts, test_path = gsm8k_data.load_prompts(None, shots=5, limit=2)
    assert test_path == cache / "test.jsonl" and len(prompts) == 2
    assert gsm8k_data.dataset_id(test_path).startswith("openai/grade-school-math@")


def test_local_data_folder_supplies_its_own_train_split(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}", "answer": f"w{i}\\n#### {i}"} for i in range(3)]
    for split in ("test", "train"):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    prompts, test_path = gsm8k_data.load_prompts(tmp_path, shots=2, limit=None)
    assert len(prompts) == 3 and prompts[0].text.count("Question: ") == 3
    assert "sha256:" in gsm8k_data.dataset_id(test_path)  # a local file is named by its hash


def test_reference_file_round_trip_and_prompt_mismatch(tmp_path: Path) -> None:
    from servemark.evals.agreement import _reference_side, save_reference

    side = Side({"base_url": "r", "concurrency": 1}, [Generation("a", token_ids=[1]), Generation("b", token_ids=[2])])
    path = save_reference(tmp_path / "ref.jsonl", side, ["p0", "p1"], AgreementConfig(limit=2, tokens=1))
    back = _reference_side(path, ["p0", "p1"])
    assert [g.token_ids for g in back.generations] == [[1], [2]] and back.source["base_url"] == "r"
    assert _reference_side(path, ["p0"]).generations[0].text == "a"  # a lower limit uses the first prompts
    with pytest.raises(ServemarkError, match="prompt 1 differs"):
        _reference_side(path, ["p0", "other"])
    with pytest.raises(ServemarkError, match="holds 2 prompts, the check needs 3"):
        _reference_side(path, ["p0", "p1", "p2"])
    (tmp_path / "bad.jsonl").write_text('{"format": "x"}\n')
    with pytest.raises(ServemarkError, match="format is 'x'"):
        _reference_side(tmp_path / "bad.jsonl", ["p0"])


def test_agreement_settings_from_recipe() -> None:
    from servemark.evals.reference import agreement_config_from

    r = parse_recipe({**BASE, "evals": {"agreement": {"reference": {"file": "f"}, "limit": 5, "tokens": 7}}})
    cfg = agreement_config_from(r, limit=3, tokens=None)
    assert (cfg.limit, cfg.tokens, cfg.shots) == (3, 7, 5)
    assert agreement_config_from(parse_recipe(BASE)).limit == 32
