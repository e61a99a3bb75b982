"""Recipe validation: every mistake is one line naming the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from servemark.errors import ServemarkError
from servemark.engines.check import load_recipe
from servemark.recipe import expand

BASE = {
    "name": "t",
    "model": {"name": "m", "path": "auto"},
    "engine": {"name": "vllm", "build": "cpu"},
    "scenarios": [{"isl": 128, "osl": 16}],
    "concurrency": [1, 2],
}


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def error_of(tmp_path: Path, data: dict) -> str:
    with pytest.raises(ServemarkError) as exc:
        load_recipe(write(tmp_path, data))
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_demo_recipe_is_valid(demo_recipe_path: Path) -> None:
    r = load_recipe(demo_recipe_path)
    pts = expand(r)
    assert [p.conc for p in pts] == [1, 2, 4, 8, 16]
    assert all(p.num_requests >= r.requests_per_point.min for p in pts)


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    msg = error_of(tmp_path, {**BASE, "engine": {"name": "vllm", "argz": {}}})
    assert msg.startswith(str(tmp_path / "r.yaml"))
    assert "engine.argz: unknown key" in msg


def test_wrong_type(tmp_path: Path) -> None:
    assert "concurrency.0" in error_of(tmp_path, {**BASE, "concurrency": ["four"]})


def test_osl_zero(tmp_path: Path) -> None:
    assert "scenarios.0.osl" in error_of(tmp_path, {**BASE, "scenarios": [{"isl": 128, "osl": 0}]})


def test_empty_concurrency(tmp_path: Path) -> None:
    assert "concurrency" in error_of(tmp_path, {**BASE, "concurrency": []})


def test_negative_and_duplicate_concurrency(tmp_path: Path) -> None:
    assert "1..100000, got 0" in error_of(tmp_path, {**BASE, "concurrency": [0, 1]})
    assert "unique" in error_of(tmp_path, {**BASE, "concurrency": [2, 2]})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ServemarkError, match="recipe not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ServemarkError, match="not valid YAML"):
        load_recipe(bad)


def test_expansion_order_and_counts(tmp_path: Path) -> None:
    data = {**BASE, "layouts": [{"tp": 1}, {"tp": 1, "max_num_seqs": 8}], "scenarios": [{"isl": 64, "osl": 8}, {"isl": 32, "osl": 4}],
            "requests_per_point": {"per_conc": 10, "min": 15}, "warmup": {"per_conc": 2, "min": 1}}
    pts = expand(load_recipe(write(tmp_path, data)))
    assert len(pts) == 2 * 2 * 2
    assert [(p.layout_index, p.scenario.isl, p.conc) for p in pts[:4]] == [(0, 64, 1), (0, 64, 2), (0, 32, 1), (0, 32, 2)]
    assert [p.num_requests for p in pts[:2]] == [15, 20]
    assert [p.num_warmup for p in pts[:2]] == [2, 4]


def test_trials_and_adaptive_keys(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path, {**BASE, "concurrency": "adaptive", "adaptive": {"min": 2, "max": 128}, "trials": 3}))
    assert r.trials == 3 and r.max_concurrency == 128
    assert [p.conc for p in expand(r)] == [2, 16, 128]  # the first points; the sweep places the rest
    assert load_recipe(write(tmp_path, BASE)).trials == 1


def test_bad_trials_and_adaptive_name_the_key(tmp_path: Path) -> None:
    assert "trials" in error_of(tmp_path, {**BASE, "trials": 0})
    assert "adaptive" in error_of(tmp_path, {**BASE, "concurrency": "adaptive", "adaptive": {"min": 8, "max": 4}})
    msg = error_of(tmp_path, {**BASE, "concurrency": "sometimes"})
    assert msg.count("concurrency") >= 1 and "more)" not in msg
