"""Turn a recipe into a trainable task and an export function (step-based kinds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..data import load_mnist
from ..models import CNNJudge, MLPClassifier, MLPDiscriminator, MLPGenerator, MLPVAE
from .gan import GANTask
from .recipe import RecipeError
from .supervised import ClassifierTask, test_accuracy
from .vae import VAETask

logger = logging.getLogger(__name__)

TRAINING_INFO = "training.json"  # written next to every exported model


def _kwargs(recipe: dict, section: str, drop=("num_steps", "checkpoint_every", "log_every")) -> dict:
    return {k: v for k, v in recipe.get(section, {}).items() if k not in drop}


def write_training_info(out_dir: Path, recipe: dict, data_source: str, metrics: dict):
    info = {"recipe": {k: v for k, v in recipe.items()}, "data_source": data_source, "metrics": metrics}
    (out_dir / TRAINING_INFO).write_text(json.dumps(info, indent=2))


def build_step_task(recipe: dict, accelerator):
    """``(task, export)`` for kinds classifier / judge / gan / vae; ``export(out_dir)`` saves
    the trained model with ``save_pretrained`` and a ``training.json``."""
    kind, seed = recipe["kind"], int(recipe["seed"])
    data = load_mnist("train", recipe["data_source"])
    test = load_mnist("test", recipe["data_source"])
    train_kw = _kwargs(recipe, "train")
    num_steps = int(recipe["train"].get("num_steps", 1000))
    torch.manual_seed(seed)  # identical initial weights on every process
    try:
        if kind in ("classifier", "judge"):
            model = (MLPClassifier if kind == "classifier" else CNNJudge)(**recipe["model"])
            task = ClassifierTask(model, data, accelerator, seed, num_steps=num_steps, **train_kw)
            final = model
        elif kind == "gan":
            generator = MLPGenerator(**recipe["model"])
            discriminator = MLPDiscriminator(**recipe.get("discriminator", {}))
            task = GANTask(generator, discriminator, data, accelerator, seed, **train_kw)
            final = task.export_model
        elif kind == "vae":
            final = MLPVAE(**recipe["model"])
            task = VAETask(final, data, accelerator, seed, **train_kw)
        else:
            raise RecipeError(f"kind {kind!r} is not a step-based kind")
    except TypeError as e:  # an unknown key in [model] / [train]
        raise RecipeError(f"recipe {recipe['name']!r}: {e}") from None

    def export(out_dir) -> dict:
        out_dir = Path(out_dir)
        final.eval()
        final.to("cpu").save_pretrained(out_dir)
        metrics = {}
        if kind in ("classifier", "judge"):
            metrics["test_accuracy"] = test_accuracy(final, test)
            logger.info("%s: test accuracy %.4f on %s", recipe["name"], metrics["test_accuracy"], test.source)
        write_training_info(out_dir, recipe, data.source, metrics)
        return metrics

    return task, export, num_steps
