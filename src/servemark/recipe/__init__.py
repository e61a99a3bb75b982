"""Recipes: the YAML a user writes, validated strictly, expanded into points.

Load a recipe with ``servemark.engines.check.load_recipe`` (or ``parse_recipe`` for a dict): it
adds to this package's schema check whether the recipe's engine can take each layout.
"""

from servemark.recipe.expand import PlannedPoint, expand
from servemark.recipe.load import parse_schema, read_recipe_file
from servemark.recipe.schema import Recipe

__all__ = ["PlannedPoint", "Recipe", "expand", "parse_schema", "read_recipe_file"]
