"""Turn a recipe into a trainable task and an export function (step-based kinds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..domains import DEFAULT_DOMAIN, DOMAINS, Domain, get_domain
from .recipe import STEP_KINDS, Recipe, RecipeError, as_recipe, step_constructors
from .supervised import test_accuracy

logger = logging.getLogger(__name__)

TRAINING_INFO = "training.json"  # written next to every exported model


def write_training_info(out_dir: Path, recipe: Recipe | dict, data_source: str, metrics: dict):
    """``training.json``: the recipe (its JSON form, :meth:`Recipe.to_dict`), the data source and the metrics."""
    info = {"recipe": as_recipe(recipe).to_dict(), "data_source": data_source, "metrics": metrics}
    (out_dir / TRAINING_INFO).write_text(json.dumps(info, indent=2))


def recipe_domain(recipe: Recipe | dict) -> Domain:
    """The domain whose data a recipe trains on: that of the zoo entry of the recipe's name, else
    the domain its name starts with (``fashion-gan`` -> ``fashion``), else MNIST."""
    from ..zoo.registry import UnknownModelError, get_entry

    name = as_recipe(recipe).name
    try:
        return get_domain(get_entry(name).domain)
    except UnknownModelError:
        prefix = name.split("-", 1)[0]
        return get_domain(prefix if prefix in DOMAINS else DEFAULT_DOMAIN)


def build_step_task(recipe: Recipe | dict, accelerator):
    """``(task, export, num_steps)`` for kinds classifier / judge / gan / vae; ``export(out_dir)``
    saves the trained model with ``save_pretrained`` and a ``training.json``."""
    recipe = as_recipe(recipe)
    kind, seed, spec = recipe.kind, recipe.seed, recipe.train
    if kind not in STEP_KINDS:
        raise RecipeError(f"kind {kind!r} is not a step-based kind; step-based kinds: {', '.join(STEP_KINDS)}")
    classes = step_constructors(kind, recipe.architecture)
    domain = recipe_domain(recipe)  # its official split; data_source picks MNIST's files
    data = domain.load("train", source=recipe.data_source)
    test = domain.load("test", source=recipe.data_source)
    torch.manual_seed(seed)  # identical initial weights on every process
    model = classes["model"](**recipe.model)
    if kind in ("classifier", "judge"):
        task = classes["train"](model, data, accelerator, seed, num_steps=spec.num_steps, **spec.options)
        final = model
    else:  # gan, vae: a discriminator where the architecture has one (a VAE uses it only when adversarial)
        discriminator = classes["discriminator"](**recipe.discriminator) if "discriminator" in classes else None
        task = classes["train"](model, discriminator, data, accelerator, seed, **spec.options)
        final = task.export_model

    def export(out_dir) -> dict:
        out_dir = Path(out_dir)
        final.eval()
        final.to("cpu").save_pretrained(out_dir)
        metrics = {}
        if kind in ("classifier", "judge"):
            metrics["test_accuracy"] = test_accuracy(final, test)
            logger.info("%s: test accuracy %.4f on %s", recipe.name, metrics["test_accuracy"], test.source)
        write_training_info(out_dir, recipe, data.source, metrics)
        return metrics

    return task, export, spec.num_steps
