"""Loading a recipe completely: its schema (``servemark.recipe``), then whether its engine can take it.

Every reader of a recipe (``run``, ``plan``, ``bench``, Slurm jobs, evals, the Python API) calls
:func:`load_recipe` or :func:`parse_recipe` from here, so each gets the same checks and the same
messages. The engine check lives with the adapters because only they know what an engine can
serve; ``servemark.recipe`` stays below the engines (they import its schema, it imports no engine).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from servemark.engines import ADAPTERS
from servemark.errors import ServemarkError
from servemark.recipe.load import parse_schema, read_recipe_file
from servemark.recipe.schema import Recipe

_FIELD_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z_0-9]+)*): ")
_TOP_LEVEL = ("engine.", "executor.", "hardware.", "model.", "precision", "scenarios", "concurrency")


def load_recipe(path: str | Path) -> Recipe:
    """The recipe in a YAML file, schema and engine checked; errors name the file and key."""
    p = Path(path)
    return parse_recipe(read_recipe_file(p), str(p))


def parse_recipe(data: Any, source: str = "<recipe>") -> Recipe:
    """The recipe in ``data`` (a dict as read from YAML), schema and engine checked."""
    recipe = parse_schema(data, source)
    check_engine(recipe, source)
    return recipe


def check_engine(recipe: Recipe, source: str = "<recipe>") -> None:
    """Ask the recipe's engine adapter whether it can take each layout; its reason names the key.

    An adapter raises ``ValueError("ep: ...")``; that becomes ``FILE: layouts.0.ep: ...``. Keys of
    the rest of the recipe (``engine.build: ...``) are reported as they are, once. Every layout's
    problem is listed, one line each, so one edit fixes them all.
    """
    adapter = ADAPTERS.get(recipe.engine.name)
    if adapter is None:
        raise ServemarkError(f"{source}: engine.name: unknown engine {recipe.engine.name!r}; known: {', '.join(sorted(ADAPTERS))}")
    lines: list[str] = []
    for i, layout in enumerate(recipe.layouts):
        try:
            adapter.validate(recipe, layout)
        except ValueError as exc:
            line = _located(str(exc), i, source)
            if line not in lines:
                lines.append(line)
    if lines:
        raise ServemarkError("\n".join(lines))


def _located(reason: str, i: int, source: str) -> str:
    """``FILE: KEY: reason`` with the key under ``layouts.<i>`` unless it is a top-level section's."""
    m = _FIELD_PREFIX.match(reason)
    if m and m.group(1).startswith(_TOP_LEVEL):
        return f"{source}: {reason}"
    if m:
        return f"{source}: layouts.{i}.{reason}"
    return f"{source}: layouts.{i}: {reason}"
