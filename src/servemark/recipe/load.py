"""Reading a recipe file and turning pydantic's errors into one line naming file and key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from servemark.errors import ServemarkError
from servemark.recipe.schema import Recipe


def _loc(loc: tuple[Any, ...]) -> str:
    """``concurrency.0``: union members pydantic names in the path (``list[int]``) are left out."""
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("literal")))) \
        or "(top level)"


def parse_recipe(data: Any, source: str = "<recipe>") -> Recipe:
    if not isinstance(data, dict):
        raise ServemarkError(f"{source}: a recipe is a mapping of keys, got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        # every problem at once, one line each naming file and key: fix them all in one edit
        errs = exc.errors()
        # a union's "or the word adaptive" alternative is no second mistake: leave it out
        alt = [e for e in errs if any(isinstance(p, str) and p.startswith("literal[") for p in e["loc"])]
        lines = []
        for err in [e for e in errs if e not in alt] or errs:
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {_loc(err['loc'])}: {msg}")
        raise ServemarkError("\n".join(dict.fromkeys(lines))) from None
    check_engine(recipe, source)
    return recipe


_FIELD_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z_0-9]+)*): ")
_TOP_LEVEL = ("engine.", "executor.", "hardware.", "model.", "precision", "scenarios", "concurrency")


def check_engine(recipe: Recipe, source: str = "<recipe>") -> None:
    """Ask the recipe's engine adapter whether it can take each layout; its reason names the key.

    An adapter raises ``ValueError("ep: ...")``; that becomes ``FILE: layouts.0.ep: ...``. Keys of
    the rest of the recipe (``engine.build: ...``) are reported as they are.
    """
    from servemark.engines import ADAPTERS

    adapter = ADAPTERS.get(recipe.engine.name)
    if adapter is None:
        raise ServemarkError(f"{source}: engine.name: unknown engine {recipe.engine.name!r}; known: {', '.join(sorted(ADAPTERS))}")
    for i, layout in enumerate(recipe.layouts):
        try:
            adapter.validate(recipe, layout)
        except ValueError as exc:
            reason = str(exc)
            m = _FIELD_PREFIX.match(reason)
            if m and m.group(1).startswith(_TOP_LEVEL):
                raise ServemarkError(f"{source}: {reason}") from None
            if m:
                raise ServemarkError(f"{source}: layouts.{i}.{reason}") from None
            raise ServemarkError(f"{source}: layouts.{i}: {reason}") from None


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    if not p.is_file():
        raise ServemarkError(f"recipe not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ServemarkError(f"{p}: not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_recipe(data, str(p))
