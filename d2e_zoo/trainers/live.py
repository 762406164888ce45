"""Train a bridge for a new target in minutes, and cache it (the app's "train a bridge" button).

The schedule is the one the zoo's bridges of the same prior were trained with (read from the
bundled ``training.json``), shortened (``LIVE_SCHEDULE``) and capped by a wall-clock budget
that only stops training early: the off-policy annealing follows the IPF iterations done, so
one seed gives one bridge on any machine. The trained pipeline is written to the cache folder
(``$D2E_ZOO_CACHE`` or ``~/.cache/d2e_zoo``, under ``live-bridges/<key>``) with
``save_pretrained`` (safetensors), without the shared decoder and classifier, and later
requests for the same prior, target, temperature and negation weight load it from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from ..energies.algebra import DEFAULT_NEGATION_WEIGHT
from ..ipf.trainer import IPFTrainer
from ..zoo.registry import BRIDGE_TEMPERATURE, energy_classifier, get_entry, list_models
from ..checkpointing import staged_folder
from .bridge import bridge_endpoints, make_pipeline, save_bridge
from .recipe import Recipe, RecipeError, as_recipe

logger = logging.getLogger(__name__)

# a shorter schedule; and without the class-mix extras of some zoo recipes (global moves cost a
# decoder pass each, and bridge matching only runs in the last IPF iteration, which a live
# bridge's time budget may never reach: docs/method.md section 4.5). The first buffer fill runs
# before the time budget is first checked, so it is kept short: 20 extra MALA steps (with the zoo
# recipes' 50 and the CNN energy classifier, a live bridge given 4 s took 38 s in CI).
LIVE_SCHEDULE = {"ipf_iterations": 8, "backward_steps": 40, "forward_steps": 100, "langevin_global_every": 0,
                 "buffer_refresh_every": 0, "matching_steps": 0, "matching_weight": 0.0, "sharpen_last_steps": 0,
                 "langevin_init_steps": 20}
DEFAULT_MAX_SECONDS = 150.0

__all__ = ["live_recipe", "cache_folder", "load_cached", "train_live_bridge", "DEFAULT_MAX_SECONDS"]


def _reference_bridge(prior: str) -> str:
    """A zoo bridge (prior -> class posterior) whose recipe the live schedule starts from."""
    for name in list_models(kind="bridge"):
        e = get_entry(name)
        if e.decoder == prior and e.source_classes is None:
            return name
    raise ValueError(f"no zoo bridge starts from the prior {prior!r}; priors with bridges: "
                     f"{sorted({get_entry(n).decoder for n in list_models(kind='bridge')})}")


def live_recipe(prior: str, target: str, temperature: float = BRIDGE_TEMPERATURE,
                negation_weight: float = DEFAULT_NEGATION_WEIGHT, max_seconds: float = DEFAULT_MAX_SECONDS,
                seed: int = 0) -> Recipe:
    """The recipe of a live bridge: the zoo recipe of ``prior``'s bridges, shortened
    (validated like every recipe, so a bad target or weight fails here)."""
    from ..zoo.loading import read_training_info

    base = read_training_info(_reference_bridge(prior)).get("recipe", {})
    return Recipe.from_dict({"name": f"live:{prior}:{target}", "kind": "bridge", "seed": seed,
                             "bridge": {"decoder": prior, "classifier": energy_classifier(get_entry(prior).domain),
                                        "target": target,
                                        "temperature": float(temperature), "negation_weight": float(negation_weight),
                                        "max_seconds": float(max_seconds)},
                             "ipf": {**base.get("ipf", {}), **LIVE_SCHEDULE}})


def cache_folder(recipe: Recipe | dict) -> Path:
    """Where the live bridge of ``recipe`` is cached (a folder named by a hash of its JSON form)."""
    root = Path(os.environ.get("D2E_ZOO_CACHE", Path.home() / ".cache" / "d2e_zoo")) / "live-bridges"
    key = hashlib.sha256(json.dumps(as_recipe(recipe).to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return root / key


def load_cached(recipe: Recipe | dict):
    """The cached pipeline of ``recipe``, or None if it was never trained here."""
    from ..zoo.loading import load_component, load_pipeline_folder

    folder = cache_folder(recipe)
    if not (folder / "model_index.json").is_file():
        return None
    b = as_recipe(recipe).bridge
    pipe = load_pipeline_folder(folder, decoder=load_component(b.decoder),
                                classifier=load_component(b.classifier))
    pipe.live_info = json.loads((folder / "live.json").read_text())
    return pipe


def train_live_bridge(recipe: Recipe | dict, callback: Optional[Callable[[float, str], None]] = None):
    """Train the bridge of ``recipe`` (single process, CPU or GPU), cache it and return the
    pipeline. ``callback(fraction_done, message)`` is called after every IPF half-step."""
    import torch

    from ..zoo.loading import load_component

    recipe = as_recipe(recipe)
    b = recipe.bridge
    if b.max_seconds is None:
        raise RecipeError(f"live bridge {recipe.name!r} needs a time budget ([bridge] max_seconds)")
    decoder, classifier = load_component(b.decoder), load_component(b.classifier)
    source, target = bridge_endpoints(recipe, decoder, classifier)
    trainer = IPFTrainer(source, target.energy_view(), replace(recipe.ipf))
    budget = float(b.max_seconds)

    def report(tr: IPFTrainer):
        if callback is not None:
            frac = max(tr.progress, min(1.0, tr.state.seconds / budget))
            callback(frac, f"IPF iteration {tr.state.iteration}/{tr.config.ipf_iterations}, {tr.state.seconds:.0f} s")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest, and leaves a core to the server
    t0 = time.perf_counter()
    try:
        trainer.train(max_seconds=budget, callback=report)
    finally:
        torch.set_num_threads(threads)
    pipe = make_pipeline(trainer, decoder, classifier, recipe)
    pipe.set_progress_bar_config(disable=True)
    folder = cache_folder(recipe)
    info = {"recipe": recipe.to_dict(), "train_seconds": time.perf_counter() - t0,
            "ipf_iterations": trainer.state.iteration}
    # written into a temporary folder that replaces the cache entry by a rename only once
    # complete: a crash mid-write never leaves a truncated entry behind
    with staged_folder(folder) as staging:
        save_bridge(pipe, staging)
        (staging / "live.json").write_text(json.dumps(info, indent=2))
    pipe.live_info = info
    logger.info("live bridge %s trained in %.0f s, cached in %s", recipe.name, info["train_seconds"], folder)
    return pipe
