"""Layouts an engine cannot take are rejected when the recipe is loaded, naming file, key and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from servemark.errors import ServemarkError
from servemark.engines.check import load_recipe

BASE: dict[str, Any] = {
    "name": "t",
    "model": {"name": "m", "path": "org/model"},
    "scenarios": [{"isl": 128, "osl": 16}],
    "concurrency": [1, 2],
    "hardware": {"name": "h200", "gpus": 8},
}

PD = {"prefill": {"tp": 4}, "decode": {"tp": 4}}

# (engine section, layout, extra top-level keys, expected "KEY: reason" fragment)
CASES = [
    ({"name": "llama-cpp"}, {"ep": 2}, {}, "layouts.0.ep: llama.cpp has no expert parallelism"),
    ({"name": "llama-cpp"}, {"dp_attention": True, "tp": 2}, {}, "layouts.0.dp_attention: llama.cpp has no data-parallel attention"),
    ({"name": "llama-cpp"}, {"tp": 2}, {"hardware": {"name": "cpu"}}, "layouts.0.tp: llama.cpp splits a model over GPUs only"),
    ({"name": "llama-cpp"}, {"spec_method": "mtp"}, {}, "layouts.0.spec_method: llama.cpp supports none, draft_model, ngram"),
    ({"name": "llama-cpp"}, {"kv_cache_dtype": "fp8"}, {}, "layouts.0.kv_cache_dtype: llama.cpp takes one of"),
    ({"name": "llama-cpp", "build": "rocm"}, {}, {}, "engine.build: llama.cpp builds are cpu or cuda"),
    ({"name": "vllm"}, {"tp": 8, "ep": 4}, {}, "layouts.0.ep: vLLM shards experts over all tp ranks"),
    ({"name": "vllm"}, {"dp_attention": True}, {}, "layouts.0.dp_attention: needs tp >= 2"),
    ({"name": "vllm", "build": "cpu"}, {"ep": 1, "spec_method": "ngram"}, {"hardware": {"name": "cpu"}},
     "layouts.0.spec_method: speculative decoding is not supported on the vLLM CPU build"),
    ({"name": "vllm"}, {"spec_method": "eagle3"}, {}, "layouts.0.spec_model: eagle3 needs the draft model"),
    ({"name": "vllm"}, PD, {}, "layouts.0.prefill: the vllm adapter serves aggregated"),
    ({"name": "sglang"}, {"tp": 8, "ep": 3}, {}, "layouts.0.ep: SGLang's expert parallel runs inside the TP group"),
    ({"name": "sglang"}, {"tp": 4, "pp": 2, "dp_attention": True}, {}, "layouts.0.dp_attention: SGLang does not combine"),
    ({"name": "sglang"}, {"kv_cache_dtype": "q8_0"}, {}, "layouts.0.kv_cache_dtype: SGLang takes one of"),
    ({"name": "sglang"}, {}, {"hardware": {"name": "cpu"}}, "hardware.name: servemark renders SGLang for GPUs"),
    ({"name": "trtllm"}, {"tp": 4}, {"hardware": {"name": "mi355x", "gpus": 8}}, "hardware.name: TensorRT-LLM runs on NVIDIA GPUs"),
    ({"name": "trtllm"}, {"tp": 8, "ep": 3}, {}, "layouts.0.ep: TensorRT-LLM splits the MoE"),
    ({"name": "trtllm"}, {"spec_method": "eagle", "spec_model": "x"}, {}, "layouts.0.spec_method: TensorRT-LLM's PyTorch backend runs EAGLE-3"),
    ({"name": "sglang-pd", "kv_transfer": "nixl"}, {"tp": 8}, {}, "layouts.0.prefill: engine sglang-pd needs a disaggregated layout"),
    ({"name": "sglang-pd"}, PD, {}, "engine.kv_transfer: engine sglang-pd needs the KV transfer backend"),
    ({"name": "sglang-pd", "kv_transfer": "nixl"}, {"prefill": {"tp": 4, "ep": 3}, "decode": {"tp": 4}}, {},
     "layouts.0.prefill.ep: SGLang's expert parallel runs inside the TP group"),
    ({"name": "sglang-pd", "kv_transfer": "nixl"}, {"prefill": {"tp": 16}, "decode": {"tp": 8}}, {"hardware": {"name": "h100", "gpus": 24}},
     "layouts.0.prefill.tp: a worker needs tp x pp = 16 GPUs, more than one node has"),
    ({"name": "dynamo", "kv_transfer": "nixl"}, PD, {}, "engine.backend: dynamo needs the workers' engine"),
    ({"name": "dynamo", "backend": "trtllm", "kv_transfer": "mori"}, PD, {}, "engine.kv_transfer: mori is AMD's transfer engine"),
    ({"name": "dynamo", "backend": "trtllm", "kv_transfer": "nixl"}, {"prefill": {"tp": 1, "dp_attention": True}, "decode": {"tp": 4}}, {},
     "layouts.0.prefill.dp_attention: needs tp >= 2"),
]


@pytest.mark.parametrize(("engine", "layout", "extra", "expected"), CASES, ids=[c[3].split(":")[0] + "-" + c[0]["name"] for c in CASES])
def test_invalid_layout_rejected_at_load(tmp_path: Path, engine: dict, layout: dict, extra: dict, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": engine, "layouts": [layout], **extra}))
    with pytest.raises(ServemarkError) as exc:
        load_recipe(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg
    assert "\n" not in msg


def test_second_layout_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "llama-cpp", "build": "cuda"}, "layouts": [{}, {"ep": 8}]}))
    with pytest.raises(ServemarkError, match=r"layouts\.1\.ep: "):
        load_recipe(path)


@pytest.mark.parametrize(("layout", "expected"), [
    ({"prefill": {"tp": 2}}, "a disaggregated layout sets both prefill and decode"),
    ({"tp": 2, **PD}, "puts tp/ep/pp/dp_attention inside prefill and decode"),
    ({"spec_tokens": 2}, "spec_tokens set but spec_method is none"),
    ({"spec_method": "mtp", "spec_model": "x"}, "spec_model is for eagle, eagle3 or draft_model"),
    ({"spec_method": "medusa"}, "layouts.0.spec_method"),
])
def test_layout_schema_rules(tmp_path: Path, layout: dict, expected: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "sglang"}, "layouts": [layout]}))
    with pytest.raises(ServemarkError, match=expected):
        load_recipe(path)


def test_disaggregated_gpus_must_fit_hardware(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    layout = {"prefill": {"workers": 1, "tp": 8}, "decode": {"workers": 2, "tp": 8}}
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "sglang-pd", "kv_transfer": "nixl"}, "layouts": [layout]}))
    with pytest.raises(ServemarkError, match="prefill \\+ decode GPUs = 24 needs more than hardware.gpus = 8"):
        load_recipe(path)


@pytest.mark.parametrize(("image", "ok"), [
    ("vllm/vllm-openai:v0.18.0", True),
    ("nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc14", True),
    ("lmsysorg/sglang@sha256:" + "a" * 64, True),
    ("lmsysorg/sglang", False),
    ("lmsysorg/sglang:latest", False),
    ("localhost:5000/sglang", False),
])
def test_container_image_must_be_pinned(tmp_path: Path, image: str, ok: bool) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "sglang"}, "executor": {"kind": "docker", "image": image}}))
    if ok:
        assert load_recipe(path).executor.image == image
    else:
        with pytest.raises(ServemarkError, match="executor.image: pin the image"):
            load_recipe(path)


def test_unknown_engine_named(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "tgi"}}))
    with pytest.raises(ServemarkError, match="engine.name: unknown engine 'tgi'; known: "):
        load_recipe(path)


def test_every_layout_problem_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "llama-cpp", "build": "cuda"},
                                    "layouts": [{"ep": 2}, {}, {"dp_attention": True, "tp": 2}]}))
    with pytest.raises(ServemarkError) as exc:
        load_recipe(path)
    lines = str(exc.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}: layouts.0.ep: llama.cpp has no expert parallelism"), lines
    assert lines[1].startswith(f"{path}: layouts.2.dp_attention: llama.cpp has no data-parallel attention"), lines


def test_a_top_level_problem_is_listed_once(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**BASE, "engine": {"name": "llama-cpp", "build": "rocm"}, "layouts": [{}, {"tp": 1}]}))
    with pytest.raises(ServemarkError) as exc:
        load_recipe(path)
    assert str(exc.value).count("engine.build: llama.cpp builds are cpu or cuda") == 1


def test_recipes_are_read_only_through_the_engine_check() -> None:
    """The schema-only readers of ``servemark.recipe`` are called by ``engines.check`` alone, so no
    command, job or API path skips the engine check (it once ran inside ``recipe.load``)."""
    src = Path(__file__).resolve().parent.parent / "src" / "servemark"
    allowed = {src / "engines" / "check.py", src / "recipe" / "load.py", src / "recipe" / "__init__.py"}
    callers = [p.relative_to(src).as_posix() for p in sorted(src.rglob("*.py"))
               if p not in allowed and any(n in p.read_text() for n in ("parse_schema", "read_recipe_file"))]
    assert callers == []
