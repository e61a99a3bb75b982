"""Outputs of the model-spec and SOL paths, recorded as JSON goldens (tests/data/golden_spec/).

The goldens were written from the code before the two HF ``config.json`` parsers were merged
(issue 12), so ``test_golden_spec.py`` proves the merge changed no number. Regenerate only on
purpose: ``python tests/golden_spec_support.py [path/to/inferencex]`` (``check_slice.json``:
``check_outputs(tests/data/inferencex_slice)`` from commit 2754d12, the code before the merge).

CLI outputs go through the ``servemark`` Typer app in-process (what ``python -m servemark`` runs); synthesis plans through the
library (``model synth`` without ``--dry-run`` writes gigabytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "golden_spec"
SOL_MODELS = ("deepseek-v3", "deepseek-r1", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b",
              "gpt-oss-120b", "qwen3-235b-a22b", "gemma-3-270m", "dsr1")
SYNTH_PRESETS = ("llama-3.1-8b", "llama-3.1-70b", "llama-3.2-1b", "mistral-7b", "mixtral-8x7b",
                 "qwen2.5-7b", "qwen3-8b", "qwen3-30b-a3b", "tiny-llama")
HARDWARE = {"deepseek-v3": "b200", "deepseek-r1": "h20", "dsr1": "mi355x", "llama-3.1-8b": "h100",
            "llama-3.1-70b": "h200", "llama-3.3-70b": "mi300x", "gpt-oss-120b": "b300",
            "qwen3-235b-a22b": "gb200", "gemma-3-270m": "l4"}


def cli(*args: str, db: str | None = None) -> dict:
    """One ``servemark`` command, in-process (the same Typer app ``python -m servemark`` runs; a
    subprocess per command made this test take minutes on two cores)."""
    from typer.testing import CliRunner

    from servemark.cli import app

    from servemark.errors import ServemarkError

    r = CliRunner().invoke(app, list(args), env={"SERVEMARK_DB": db} if db else None)
    rc = r.exception.exit_code if isinstance(r.exception, ServemarkError) else r.exit_code  # as servemark.cli.main
    return {"rc": rc, "out": json.loads(r.stdout) if rc == 0 and args[-1] == "--json" else
            r.stdout.strip() if rc == 0 else None}


def sol_commands() -> dict[str, tuple[str, ...]]:
    cmds: dict[str, tuple[str, ...]] = {}
    for m in SOL_MODELS:
        hw = HARDWARE[m]
        cmds[f"sol_model/{m}"] = ("sol", "model", m, "--json")
        for phase in ("prefill", "decode"):
            for prec, mode, tp, ep in (("fp8", "corrected", 8, 1), ("bf16", "article", 1, 1), ("fp4", "corrected", 8, 8)):
                cmds[f"sol_breakdown/{m}/{hw}/{phase}/{prec}/{mode}/tp{tp}ep{ep}"] = (
                    "sol", "breakdown", m, hw, "--phase", phase, "--precision", prec, "--mode", mode,
                    "--tp", str(tp), "--ep", str(ep), "--batch", "16", "--isl", "2048", "--osl", "512", "--json")
        for kind in ("strict", "calibrated"):
            cmds[f"sol_frontier/{m}/{hw}/{kind}"] = ("sol", "frontier", m, hw, "--kind", kind, "--json")
    for m in SYNTH_PRESETS:
        for fmt in ("gguf", "hf"):
            cmds[f"model_synth_dry_run/{m}/{fmt}"] = ("model", "synth", m, "--format", fmt, "--dry-run")
    return cmds


def cli_outputs() -> dict[str, dict]:
    cmds = sol_commands()
    return {k: cli(*a) for k, a in cmds.items()}


def synth_plans() -> dict[str, dict]:
    """Per preset: the shape, parameter count, weight bytes and the tensor plan synthesis writes."""
    from servemark.models import synth as S
    from servemark.models.arch import load_spec

    out = {}
    for m in SYNTH_PRESETS:
        spec = load_spec(m)
        out[m] = {
            "spec": spec.to_dict(), "gguf_arch": spec.gguf_arch, "params": S.param_count(spec),
            "bytes": {f"{fmt}/{d}": S.weight_bytes(spec, d, fmt) for fmt, d in
                      (("gguf", "f16"), ("gguf", "q8_0"), ("gguf", "q4_0"), ("hf", "bf16"), ("hf", "f32"))},
            "tensors": [[t.gguf_name, t.hf_names, list(t.shape), t.fill, t.force_f32] for t in S.plan_tensors(spec)],
            "hf_config": spec.hf_config,
        }
    return out


def check_outputs(inferencex: Path) -> dict:
    """``sol check --json`` and the per-point fractions it stores, on the InferenceX import."""
    from servemark.importers.inferencex import import_inferencex
    from servemark.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "g.duckdb")
        with Store(db) as st:
            import_inferencex(st, inferencex / "benchmarks.json")
        res = {}
        for kind in ("strict", "calibrated"):
            res[f"sol_check/{kind}"] = cli("sol", "check", "--kind", kind, "--no-frontiers", "--json", db=db)
            with Store(db) as st:
                rows = st.query("SELECT point_id, sol_tput_per_gpu, fraction, note, layout, intvty, tput_per_gpu, "
                                "hardware FROM sol_point_fractions WHERE kind = ? ORDER BY point_id", [kind])
            res[f"sol_check_fractions/{kind}"] = {"rc": 0, "out": rows}
    return res


def write_all(inferencex: Path | None) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    (GOLDEN / "cli.json").write_text(json.dumps(cli_outputs(), indent=1, sort_keys=True))
    (GOLDEN / "synth.json").write_text(json.dumps(synth_plans(), indent=1, sort_keys=True))
    if inferencex:
        (GOLDEN / "check.json").write_text(json.dumps(check_outputs(inferencex), indent=1, sort_keys=True))


if __name__ == "__main__":
    write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
