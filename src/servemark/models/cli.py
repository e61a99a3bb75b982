"""``servemark model synth``: write a model of any supported architecture with random weights."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from servemark.cli import app


def _model_app() -> typer.Typer:
    """The ``model`` sub-app: reuse the core's when it exists, else create it."""
    for group in app.registered_groups:
        if group.name == "model" and group.typer_instance is not None:
            return group.typer_instance
    sub = typer.Typer(help="Build, convert and synthesise models.", no_args_is_help=True)
    app.add_typer(sub, name="model")
    return sub


model_app = _model_app()


@model_app.command("synth")
def synth_cmd(
    config: str = typer.Argument(..., help="A preset (llama-3.1-8b, qwen3-8b, mixtral-8x7b, ...) or an HF config.json / folder."),
    fmt: str = typer.Option("gguf", "--format", help="gguf (llama.cpp) or hf (safetensors folder)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (gguf) or folder (hf); default under SERVEMARK_HOME/models."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="gguf: f16 (default), bf16, f32, q8_0, q4_0; hf: bf16 (default), f16, f32."),
    vocab: Optional[str] = typer.Option(None, "--vocab", help="gguf: llama.cpp vocab name (llama-bpe, llama-spm, qwen2) or a .gguf path."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="hf: an HF folder to copy the tokenizer from."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
    weights: bool = typer.Option(True, "--weights/--no-weights", help="hf: --no-weights writes config + tokenizer only (vLLM/SGLang --load-format dummy)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the size and stop."),
    threads: int = typer.Option(4, "--threads", min=1, help="gguf: threads writing the weights (the bytes do not depend on it)."),
    split_gb: float = typer.Option(0, "--split-gb", min=0, help="gguf: shards of at most this many GB (NAME-0000i-of-0000N.gguf; a shard path may be a link to another disk)."),
) -> None:
    """Write CONFIG's architecture with random weights and a real tokenizer.

    Timing with random weights matches the real model when the output length is fixed (ignore_eos); MoE routing becomes near-uniform. For vLLM/SGLang, --load-format dummy on the real config does the same without writing weights.
    """
    from servemark.models.arch import load_spec
    from servemark.models.synth import GB, describe, param_count, synth, weight_bytes

    if dry_run:
        spec = load_spec(config)
        d = dtype or ("f16" if fmt == "gguf" else "bf16")
        n = weight_bytes(spec, d, fmt)
        typer.echo(f"{spec.name}: {param_count(spec) / 1e9:.3f} B params, {n / GB:.2f} GB of {d} weights ({fmt})")
        return
    res = synth(config, fmt, out, dtype, vocab, tokenizer, seed, weights, threads=threads, split_gb=split_gb)
    typer.echo(describe(res))


@app.command("gpu-data")
def gpu_data_cmd(
    db: Optional[Path] = typer.Option(None, "--db", help="Results store (DuckDB). Default: $SERVEMARK_DB or ~/.cache/servemark/servemark.duckdb."),
    root: Optional[Path] = typer.Option(None, "--root", help="Folder of GPU datasets (default: data/gpu of this checkout)."),
) -> None:
    """Import the measured GPU datasets (data/gpu) with their speed-of-light overlay into the store."""
    from servemark import paths
    from servemark.errors import ServemarkError
    from servemark.gpudata import data_root, import_all
    from servemark.store import Store

    where = root or data_root()
    with Store(db or paths.default_db()) as store:
        done = import_all(store, where)
    if not done:
        raise ServemarkError(f"no GPU datasets (points.parquet) under {where}")
    for name, n in done.items():
        typer.echo(f"{name}: {n} points")
