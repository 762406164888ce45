"""Training recipes: TOML files naming everything that defines a checkpoint.

::

    name = "mnist-gan"            # the zoo name the run produces
    kind = "gan"                  # classifier | judge | gan | vae | bridge
    seed = 0
    data_source = "auto"          # MNIST source (see d2e_zoo.data.mnist)
    [model]                       # keyword arguments of the model class
    [train]                       # keyword arguments of the task, plus num_steps etc.
    [bridge]                      # bridges only: generator, classifier, targets, temperature
    [ipf]                         # bridges only: IPFConfig fields
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

KINDS = ("classifier", "judge", "gan", "vae", "bridge")


class RecipeError(ValueError):
    """A missing or invalid recipe."""


def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ``$D2E_ZOO_RECIPES`` then the repository's ``training/recipes``."""
    dirs = [Path(p) for p in os.environ.get("D2E_ZOO_RECIPES", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[2] / "training" / "recipes")
    return dirs


def available_recipes() -> list[str]:
    return sorted({p.stem for d in recipe_dirs() if d.is_dir() for p in d.glob("*.toml")})


def load_recipe(name_or_path: str) -> dict:
    """Read a recipe by file path or by name (``mnist-gan`` -> ``training/recipes/mnist-gan.toml``)."""
    path = Path(name_or_path)
    if not path.is_file():
        candidates = [d / f"{name_or_path}.toml" for d in recipe_dirs()]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise RecipeError(f"unknown recipe {name_or_path!r}; valid recipes: {', '.join(available_recipes())}")
    try:
        recipe = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"invalid TOML in recipe {str(path)!r}: {e}") from None
    for key in ("name", "kind"):
        if key not in recipe:
            raise RecipeError(f"recipe {str(path)!r} has no {key!r}")
    if recipe["kind"] not in KINDS:
        raise RecipeError(f"recipe {str(path)!r}: unknown kind {recipe['kind']!r}; valid kinds: {', '.join(KINDS)}")
    recipe.setdefault("seed", 0)
    recipe.setdefault("data_source", "auto")
    recipe.setdefault("model", {})
    recipe.setdefault("train", {})
    recipe["recipe_file"] = path.name
    return recipe
