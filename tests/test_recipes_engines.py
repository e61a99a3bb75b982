"""The shipped recipes: each validates, renders to commands, and (InferenceX mirrors) matches InferenceX's layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from servemark.sweep.plan import build_plan
from servemark.engines.check import load_recipe
from servemark.recipe import expand

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
MIRRORS = sorted((REPO / "recipes" / "inferencex").glob("*.yaml"))


def test_there_are_recipes_for_each_model_and_gpu() -> None:
    names = " ".join(p.stem for p in MIRRORS)
    for want in ("dsr1-fp8", "dsr1-fp4", "gptoss-120b", "llama70b", "h100", "h200", "b200", "mi355x", "dynamo", "sglang-pd"):
        assert want in names, want


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_validates_and_renders(path: Path) -> None:
    r = load_recipe(path)
    plan = build_plan(r)
    from servemark.recipe.expand import loads

    assert len(plan["points"]) == len(r.layouts) * sum(len(loads(r, sc)) for sc in r.scenarios)
    for lay in plan["layouts"]:
        assert lay["launches"], path
        for lg in lay["launches"]:
            assert all(isinstance(a, str) and a for a in lg["argv"])
            if r.executor.kind != "local":
                c = lg["container"]
                pulled = c["prepare"][0] if c["prepare"] else c["run"]  # enroot imports the image first
                assert r.executor.image in " ".join(pulled) and c["run"][-len(lg["argv"]):] == lg["argv"]
        assert lay["gpus"] <= r.hardware.gpus


def test_demo_llamacpp_matches_demo_cpu_workload() -> None:
    a = load_recipe(REPO / "recipes" / "demo-cpu.yaml")
    b = load_recipe(REPO / "recipes" / "demo-llamacpp.yaml")
    assert (a.model.name, a.scenarios, a.concurrency, a.requests_per_point, a.warmup) == (
        b.model.name, b.scenarios, b.concurrency, b.requests_per_point, b.warmup)
    assert b.engine.name == "llama-cpp"
    packaged = REPO / "src" / "servemark" / "data" / "recipes" / "demo-llamacpp.yaml"
    assert packaged.read_text() == (REPO / "recipes" / "demo-llamacpp.yaml").read_text()


FRAMEWORK = {("sglang", None): "sglang", ("trtllm", None): "trt", ("dynamo", "sglang"): "dynamo-sglang",
             ("dynamo", "trtllm"): "dynamo-trt", ("sglang-pd", None): "mori-sglang"}


def _key(tp: int, ep: int, dpa: bool) -> tuple[int, int, bool]:
    return (tp, ep, bool(dpa))


@pytest.mark.parametrize("path", MIRRORS, ids=[p.stem for p in MIRRORS])
def test_layouts_are_ones_inferencex_ran(path: Path, inferencex_dir: Path) -> None:
    """Every DeepSeek-R1 layout of a mirror recipe appears in InferenceX's published results."""
    r = load_recipe(path)
    if not r.model.name.startswith("DeepSeek-R1"):
        pytest.skip("the shared InferenceX rows cover DeepSeek-R1 only")
    rows = json.loads((inferencex_dir / "benchmarks.json").read_text())
    fw = FRAMEWORK[(r.engine.name, r.engine.backend)]
    mine = [x for x in rows if x["hardware"] == r.hardware.name and x["framework"] == fw and x["precision"] == r.precision]
    assert mine, f"no InferenceX rows for {r.hardware.name} {fw} {r.precision}"
    for i, lay in enumerate(r.layouts):
        spec = "mtp" if lay.spec_method == "mtp" else "none"
        if lay.disaggregated:
            assert lay.prefill and lay.decode
            want = (lay.prefill.workers, _key(lay.prefill.tp, lay.prefill.ep, lay.prefill.dp_attention),
                    lay.decode.workers, _key(lay.decode.tp, lay.decode.ep, lay.decode.dp_attention))
            seen = {(x["prefill_num_workers"], _key(x["prefill_tp"], x["prefill_ep"], x["prefill_dp_attention"]),
                     x["decode_num_workers"], _key(x["decode_tp"], x["decode_ep"], x["decode_dp_attention"]))
                    for x in mine if x["spec_method"] == spec and x["disagg"]}
        else:
            want = _key(lay.tp, lay.ep, lay.dp_attention)
            seen = {_key(x["decode_tp"], x["decode_ep"], x["decode_dp_attention"]) for x in mine
                    if x["spec_method"] == spec and not x["disagg"]}
        assert want in seen, f"{path.name} layouts.{i} {want} not among InferenceX's {sorted(seen)}"


def test_plan_command_json_and_text() -> None:
    from servemark.cli import app

    runner = CliRunner()
    path = REPO / "recipes" / "inferencex" / "dsr1-fp8-h200-trt.yaml"
    res = runner.invoke(app, ["plan", str(path), "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert len(plan["points"]) == len(expand(load_recipe(path))) == 4 * 2 * 7
    first = plan["layouts"][0]["launches"][0]
    assert first["argv"][:2] == ["trtllm-serve", "deepseek-ai/DeepSeek-R1-0528"]
    assert first["container"]["run"][:3] == ["docker", "run", "--rm"]
    text = runner.invoke(app, ["plan", str(path)])
    assert text.exit_code == 0
    assert "nothing is started" in text.output and "enable_attention_dp: true" in text.output
