"""One model spec, same numbers: the merged HF config parser and preset catalogue reproduce what
the two separate parsers printed (goldens in tests/data/golden_spec, written before the merge)."""

from __future__ import annotations

import json

import pytest

import golden_spec_support as G


def _load(name: str) -> dict:
    return json.loads((G.GOLDEN / name).read_text())


def _normalise(key: str, val: dict) -> dict:
    # the catalogue moved: `sol model` names its new file (only the folder differs)
    if key.startswith("sol_model/") and val.get("out"):
        val = {**val, "out": {**val["out"], "source": val["out"]["source"].rsplit("/", 1)[-1]}}
    return val


def test_sol_and_synth_cli_outputs_unchanged():
    want = _load("cli.json")
    got = G.cli_outputs()
    assert set(got) == set(want)
    diffs = [k for k in want if _normalise(k, got[k]) != _normalise(k, want[k])]
    assert not diffs, diffs[:5]


def test_synthesis_plans_unchanged():
    want = _load("synth.json")
    got = json.loads(json.dumps(G.synth_plans()))
    for name, w in want.items():
        g = got[name]
        for key in ("spec", "gguf_arch", "params", "bytes", "tensors"):
            assert g[key] == w[key], (name, key)
        # the preset is now the checkpoint's real config.json: every key synthesis used to copy is
        # still there with its value (a real config carries more keys, e.g. rope_scaling)
        assert {k: g["hf_config"].get(k) for k in w["hf_config"]} == w["hf_config"], name


def test_sol_check_on_inferencex_unchanged(shared_dir):
    want = _load("check.json")
    got = json.loads(json.dumps(G.check_outputs(shared_dir / "data/inferencex"), default=str))
    assert got == want


def test_sol_check_on_the_vendored_slice_unchanged():
    """Same as above on tests/data/inferencex_slice, so a plain clone runs it (golden from 2754d12)."""
    want = _load("check_slice.json")
    got = json.loads(json.dumps(G.check_outputs(G.GOLDEN.parent / "inferencex_slice"), default=str))
    assert got == want
