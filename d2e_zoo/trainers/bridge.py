"""Train a latent bridge (data-to-energy or energy-to-energy IPF) from a recipe and export
it as a :class:`~d2e_zoo.pipelines.D2EBridgePipeline`.

Recipe sections: ``[bridge]`` (:class:`~d2e_zoo.trainers.recipe.BridgeSpec`: ``decoder``, the
latent-to-image network, and ``classifier``, zoo names or paths; ``target``, ``"even"``, ``"3"``,
``"even and not 4"``, ...; optional ``source``, a class set: energy-to-energy; ``temperature``, ``negation_weight``,
``max_seconds``, a safety cap on training time, and ``threads``); ``[ipf]`` with
:class:`~d2e_zoo.ipf.IPFConfig` fields. Several processes each run the same IPF schedule
with their own random streams and average gradients at every step.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from ..domains import DEFAULT_DOMAIN
from ..endpoints.toy import Gaussian
from ..endpoints.base import EndpointError
from ..energies import (DEFAULT_NEGATION_WEIGHT, DEFAULT_TEMPERATURE, ClassifierPosterior, ExpressionPosterior,
                        parse_expression)
from ..energies.expression import exact_classes
from ..ipf.checkpoint import load_checkpoint, load_latest_checkpoint
from ..ipf.trainer import IPFTrainer
from ..models import BridgeDriftModel
from ..pipelines import BridgeScheduler, D2EBridgePipeline
from ..zoo.registry import SHARED_COMPONENTS
from .build import write_training_info
from .loop import average_gradients
from .recipe import Recipe, as_recipe
from .state import BRIDGE_CHECKPOINT, RUN_ONLY_KEYS, recipe_as_dict

logger = logging.getLogger(__name__)


def target_posterior(decoder, classifier, target, temperature: float = DEFAULT_TEMPERATURE,
                     negation_weight: float = DEFAULT_NEGATION_WEIGHT, domain: str = DEFAULT_DOMAIN):
    """The target energy of a bridge: a :class:`ClassifierPosterior` when ``target`` names a
    class set of ``domain`` (``"even"``, ``"3"``, ``"3 or 8"``), else an
    :class:`ExpressionPosterior` (``"even and not 4"``)."""
    try:
        return ClassifierPosterior(decoder, classifier, target, temperature, domain=domain)
    except EndpointError:
        tree = parse_expression(target, domain)
        exact = exact_classes(tree)
        if exact is not None:
            return ClassifierPosterior(decoder, classifier, exact, temperature, domain=domain)
        return ExpressionPosterior(decoder, classifier, tree, temperature, negation_weight)


def bridge_endpoints(recipe: Recipe | dict, decoder, classifier):
    """``(source, target)`` endpoints of a bridge recipe: N(0, I) (samples) or a source
    posterior (energy), and the target posterior (energy)."""
    b = as_recipe(recipe).bridge
    target = target_posterior(decoder, classifier, b.target, b.temperature, b.negation_weight, b.domain)
    if b.source is None:
        source = Gaussian(dim=decoder.latent_dim, std=1.0, name="prior")
    else:
        source = ClassifierPosterior(decoder, classifier, b.source, b.temperature, domain=b.domain).energy_view()
    return source, target


def make_pipeline(trainer: IPFTrainer, decoder, classifier, recipe: Recipe | dict) -> D2EBridgePipeline:
    """Wrap a trained :class:`IPFTrainer`'s kernels into a pipeline."""
    c, b = trainer.config, as_recipe(recipe).bridge
    scheduler = BridgeScheduler(num_train_timesteps=c.num_steps, t_max=c.t_max, grid=c.grid, reference=c.reference,
                                sigma2=c.sigma2, alpha=c.alpha, source_std=c.source_std)
    target = target_posterior(decoder, classifier, b.target, b.temperature, b.negation_weight, b.domain)
    expression = target.expression if isinstance(target, ExpressionPosterior) else None
    source = None if b.source is None else ClassifierPosterior(decoder, classifier, b.source, domain=b.domain).classes
    return D2EBridgePipeline(bridge=BridgeDriftModel.from_drift_net(trainer.forward.net),
                             backward_bridge=BridgeDriftModel.from_drift_net(trainer.backward.net),
                             scheduler=scheduler, decoder=decoder, classifier=classifier,
                             target_classes=list(target.classes), temperature=float(b.temperature),
                             source_classes=None if source is None else list(source),
                             target_expression=expression, negation_weight=float(b.negation_weight),
                             domain=b.domain)


def save_bridge(pipe: D2EBridgePipeline, out_dir: Path, shared: bool = True):
    """``save_pretrained`` the pipeline; with ``shared`` the decoder and classifier
    folders are left out (the zoo bundles them once and passes them in at load time)."""
    pipe.save_pretrained(out_dir)
    if shared:
        for name in SHARED_COMPONENTS:
            shutil.rmtree(out_dir / name, ignore_errors=True)


def run_bridge_recipe(recipe: Recipe | dict, accelerator, run_dir: Path, resume=None, force: bool = False) -> dict:
    from ..zoo.loading import load_component

    recipe = as_recipe(recipe)
    b = recipe.bridge
    torch.set_num_threads(b.threads)  # small networks: one thread is fastest
    if accelerator.device.type != "cpu":  # the IPF engine runs its small networks on the CPU
        logger.info("bridge %s: IPF training runs on the CPU (%d thread(s) per process), not on %s",
                    recipe.name, b.threads, accelerator.device)
    decoder, classifier = load_component(b.decoder), load_component(b.classifier)
    source, target = bridge_endpoints(recipe, decoder, classifier)
    config = replace(recipe.ipf)  # the trainer's own copy (the recipe stays as it was read)
    trainer = IPFTrainer(source, target.energy_view(), config)
    if accelerator.num_processes > 1:
        trainer.grad_hook = lambda params: average_gradients(accelerator, params)
        trainer.generator.manual_seed(config.seed + 1000 * accelerator.process_index)
    ckpt = run_dir / BRIDGE_CHECKPOINT
    trainer.run_info = {"recipe": recipe_as_dict(recipe)}  # saved with each checkpoint, compared on resume
    if resume:
        if resume == "latest":  # falls back to checkpoint.prev when the newest is corrupted
            path = load_latest_checkpoint(trainer, ckpt, force, RUN_ONLY_KEYS)
        else:
            path = Path(resume)
            load_checkpoint(trainer, path, force, RUN_ONLY_KEYS)
        if path is not None:
            logger.info("resumed bridge %s from %s (IPF iteration %d)", recipe.name, path,
                        trainer.state.iteration)
        else:
            logger.info("no checkpoint at %s: starting from scratch", ckpt)

    def log(tr: IPFTrainer):
        last = tr.state.history[-1] if tr.state.history else None
        if last is not None:
            accelerator.log({f"loss_{last.phase}": last.loss, "seconds": tr.state.seconds},
                            step=tr.state.forward_steps_done + tr.state.backward_steps_done)

    main = accelerator.is_main_process
    trainer.train(max_seconds=b.max_seconds, checkpoint_dir=str(ckpt) if main else None,
                  progress=main, callback=log)
    accelerator.wait_for_everyone()
    metrics = {"train_seconds": trainer.state.seconds, "ipf_iterations": trainer.state.iteration}
    if main:
        out = run_dir / "export"
        shutil.rmtree(out, ignore_errors=True)
        save_bridge(make_pipeline(trainer, decoder, classifier, recipe), out)
        write_training_info(out, recipe, _data_source(b.decoder), metrics)
    return metrics


def _data_source(decoder_name: str) -> str:
    """The MNIST source the decoder (and so the bridge's latent space) was trained on."""
    from ..zoo.loading import read_training_info

    return read_training_info(decoder_name).get("data_source", "unknown")
