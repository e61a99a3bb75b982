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
    """``concurrency.0``: union members pydantic names in the path (``list[int]``) are left out."""
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("literal")))) \
        or "(top level)"


def parse_schema(data: Any, source: str = "<recipe>") -> Recipe:
    """The recipe in ``data`` if it satisfies the schema (no engine check: see the module doc)."""
    if not isinstance(data, dict):
        raise ServemarkError(f"{source}: a recipe is a mapping of keys, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
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


MAX_RECIPE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64
"""A recipe is a few levels deep; a 20,000-deep list is an attack or an accident, not a recipe."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (YAML says keys are unique;
    PyYAML silently keeps the last one, so a doubled ``concurrency:`` would drop the first list)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _depth(node: yaml.Node) -> int:
    """Nesting depth of a composed YAML node, iteratively (no recursion to overflow)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_NESTING:
            return d
        if isinstance(n, yaml.SequenceNode):
            stack.extend((c, d + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend((c, d + 1) for kv in n.value for c in kv)
    return deepest


def read_yaml(p: Path, what: str = "recipe") -> Any:
    """Parse a YAML file strictly: UTF-8 text, unique keys, bounded size and depth; errors name the file."""
    if not p.is_file():
        raise ServemarkError(f"{what} not found: {p}" + (" (it is a folder)" if p.is_dir() else ""))
    raw = p.read_bytes()
    if len(raw) > MAX_RECIPE_BYTES:
        raise ServemarkError(f"{p}: {len(raw)} bytes is too large for a {what} (limit {MAX_RECIPE_BYTES})")
    if b"\0" in raw:
        raise ServemarkError(f"{p}: a binary file, not a YAML {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServemarkError(f"{p}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") from None
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _depth(node) > MAX_NESTING:
                raise ServemarkError(f"{p}: nested more than {MAX_NESTING} levels deep; not a {what}")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ServemarkError(f"{p}: not valid YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise ServemarkError(f"{p}: nested too deeply; not a {what}") from None


def read_recipe_file(path: Path) -> Any:
    """The YAML document in ``path`` (not yet checked), or an error naming the file."""
    return read_yaml(path)
