"""``servemark bench URL``: a running server benchmarked from flags alone, no recipe file.

The flags become an ordinary :class:`~servemark.recipe.schema.Recipe` (so ``--save-recipe`` writes
exactly what was run, and ``servemark run FILE --endpoint URL`` repeats it), which
:func:`~servemark.sweep.recipe_run.run_recipe` measures with ``endpoint`` set: nothing is started,
the run row has kind ``external``. Flag names follow ``vllm bench serve`` where the meaning is the
same (docs/bench.md has the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from servemark.errors import ServemarkError
from servemark.engines.check import parse_recipe
from servemark.recipe.schema import Recipe
from servemark.sweep.recipe_run import check_endpoint
from servemark.workload.tokenizer import SERVER


@dataclass
class BenchFlags:
    """What ``servemark bench`` was asked for; plain values, turned into a recipe by :func:`bench_recipe`."""

    url: str
    model: str | None = None
    tokenizer: str | None = None
    isl: int = 1024
    osl: int = 128
    range_ratio: float = 1.0
    concurrency: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    arrival: str = "poisson"
    num_prompts: int | None = None
    num_warmups: int | None = None
    api: str = "completions"
    engine: str = "vllm"
    hardware: str = "cpu"
    gpus: int = 1
    precision: str = "bf16"
    seed: int = 0
    name: str | None = None


def parse_list(text: str | None, kind: type, flag: str) -> list[Any]:
    """``"1,4,16"`` -> ``[1, 4, 16]``; a clear error naming the flag otherwise."""
    if not text:
        return []
    try:
        return [kind(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ServemarkError(f"{flag}: a comma-separated list of {kind.__name__}s, got {text!r}") from None


def pick_model(url: str, given: str | None, api_key: str | None = None) -> str:
    """The served model: ``--model`` if given (checked against the server's list), else the only one listed."""
    models = check_endpoint(url, api_key)
    if given:
        if models and given not in models:
            raise ServemarkError(f"--model {given!r} is not served at {url}; it serves: {', '.join(models)}")
        return given
    if len(models) != 1:
        listed = ", ".join(models) or "none"
        raise ServemarkError(f"{url}/v1/models lists {listed}: choose one with --model")
    return models[0]


def bench_recipe(flags: BenchFlags, model: str) -> Recipe:
    """The recipe equivalent to the flags (validated like any recipe file)."""
    data: dict[str, Any] = {
        "name": flags.name or "bench-" + model.rstrip("/").rsplit("/", 1)[-1],
        "description": f"servemark bench of a running server ({flags.url})",
        "model": {"name": model, "path": model, "tokenizer": flags.tokenizer or SERVER, "served_name": model},
        "engine": {"name": flags.engine},
        "hardware": {"name": flags.hardware, "gpus": flags.gpus},
        "precision": flags.precision,
        "scenarios": [{"isl": flags.isl, "osl": flags.osl, "random_range_ratio": flags.range_ratio}],
        "concurrency": flags.concurrency if flags.concurrency or flags.rates else [1],
        "rates": flags.rates,
        "arrival": flags.arrival,
        "api": flags.api,
        "seed": flags.seed,
    }
    if flags.num_prompts is not None:
        data["requests_per_point"] = {"per_conc": 0, "min": flags.num_prompts}
    if flags.num_warmups is not None:
        data["warmup"] = {"per_conc": 0, "min": flags.num_warmups}
    return parse_recipe(data, "servemark bench")


def save_recipe(recipe: Recipe, path: Path) -> None:
    """Write the recipe as YAML (defaults left out, so it reads like a hand-written one)."""
    body = recipe.model_dump(mode="json", exclude_defaults=True)
    path.write_text(f"# written by servemark bench; repeat with: servemark run {path.name} --endpoint URL\n"
                    + yaml.safe_dump(body, sort_keys=False))
