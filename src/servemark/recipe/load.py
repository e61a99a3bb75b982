"""Reading a recipe file and checking its schema, each error one line naming file and key.

This is the part of recipe validation that needs only the recipe: whether an engine can serve a
layout is the adapters' knowledge, so the complete check (schema, then engine) is
``servemark.engines.check.load_recipe`` / ``parse_recipe``, which every reader of a recipe calls.
Keeping it there lets the adapters import ``recipe.schema`` while ``recipe`` imports no engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from servemark.errors import ServemarkError
from servemark.recipe.schema import Recipe


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_schema(data: Any, source: str = "<recipe>") -> Recipe:
    """The recipe in ``data`` if it satisfies the schema (no engine check: see the module doc)."""
    if not isinstance(data, dict):
        raise ServemarkError(f"{source}: a recipe is a mapping of keys, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        # every problem at once, one line each naming file and key: fix them all in one edit
        lines = []
        for err in exc.errors():
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {_loc(err['loc'])}: {msg}")
        raise ServemarkError("\n".join(lines)) from None


def read_recipe_file(path: Path) -> Any:
    """The YAML document in ``path`` (not yet checked), or an error naming the file."""
    if not path.is_file():
        raise ServemarkError(f"recipe not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ServemarkError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
