"""The inference entry point of a trained bridge: a diffusers ``DiffusionPipeline``.

Components (each saved by ``save_pretrained`` as safetensors + JSON config):

* ``bridge``: :class:`~d2e_zoo.models.BridgeDriftModel`, the learned forward kernel;
* ``backward_bridge``: the learned backward kernel (used for ELBO / EUBO evaluation);
* ``scheduler``: :class:`BridgeScheduler`, the time grid and reference process;
* ``decoder``: the latent-to-image network G, latent ``(N, d)`` -> image ``(N, 1, 28, 28)`` in
  [0, 1] (a GAN generator or a VAE);
* ``classifier``: image -> ``(N, K)`` logits over the domain's ``K`` classes (defines the energy).

Config (in ``model_index.json``): ``domain`` (the :class:`~d2e_zoo.domains.Domain` whose class
names the targets use; ``mnist`` when absent, as in folders saved before domains existed),
``target_classes`` (class indices), ``temperature`` T, and
``source_classes`` (None: the source is the prior N(0, I); else the bridge is
energy-to-energy, starting from the posterior of those classes); for a bridge trained on a
composed target, ``target_expression`` (``"even and not 4"``, see
:mod:`d2e_zoo.energies.expression`) and its ``negation_weight`` (``target_classes`` are then
the classes the expression means).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import List, Optional

import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ..dynamics.simulate import CHUNK_SIZE as SIMULATION_CHUNK
from ..dynamics.simulate import simulate
from ..energies import (DEFAULT_NEGATION_WEIGHT, DEFAULT_TEMPERATURE, ClassifierPosterior, ExpressionPosterior,
                        LatentPosterior, parse_classes, parse_expression)
from ..domains import DEFAULT_DOMAIN
from ..energies.classifier_posterior import checked_domain
from ..energies.expression import selected_classes
from ..rng import standard_normal
from ..models.common import ShapeError, check_latents


@dataclass
class BridgePipelineOutput(BaseOutput):
    """Result of a bridge pipeline call.

    Attributes:
        images: ``(N, 1, 28, 28)`` float in [0, 1], the translated images G(z1).
        initial_latents: ``(N, d)`` z0.
        latents: ``(N, d)`` z1 (after the corrector steps, if any were asked for).
        trajectory: ``(K+1, N, d)`` latents at every grid time (only when asked for); the
            bridge's path, without the corrector steps.
        times: ``(K+1,)`` the grid times.
        seconds: wall-clock time of the call.
    """

    images: torch.Tensor
    initial_latents: torch.Tensor
    latents: torch.Tensor
    trajectory: Optional[torch.Tensor] = None
    times: Optional[torch.Tensor] = None
    seconds: float = 0.0


class D2EBridgePipeline(DiffusionPipeline):
    """Data-free translation in a decoder's latent space by a learned Schrödinger bridge.

    ``pipe(num_samples=N, generator=torch.Generator().manual_seed(s))`` draws z0 from the
    source, runs the learned forward SDE for ``num_inference_steps`` steps (default: the
    training K) and decodes z1 with ``pipe.decoder``. Pass ``latents`` (``(N, d)``) to
    translate given z0. As in diffusers, ``generator`` always means a ``torch.Generator``;
    the latent-to-image network is the component ``decoder``.
    """

    model_cpu_offload_seq = "bridge->decoder"
    _optional_components = ["backward_bridge"]

    def __init__(self, bridge, scheduler, decoder, classifier, backward_bridge=None,
                 target_classes: List[int] = (0,), temperature: float = DEFAULT_TEMPERATURE,
                 source_classes: Optional[List[int]] = None, target_expression: Optional[str] = None,
                 negation_weight: float = DEFAULT_NEGATION_WEIGHT, domain: str = DEFAULT_DOMAIN):
        super().__init__()
        self.register_modules(bridge=bridge, backward_bridge=backward_bridge, scheduler=scheduler,
                              decoder=decoder, classifier=classifier)
        domain = checked_domain(domain).name
        target = list(parse_classes(target_classes, domain=domain))
        source = None if source_classes is None else list(parse_classes(source_classes, "source classes", domain))
        if target_expression is not None:  # a composed target: its set-logic classes are the target classes
            tree = parse_expression(target_expression, domain)
            target_expression, target = str(tree), sorted(selected_classes(tree))
        self.register_to_config(target_classes=target, temperature=float(temperature), source_classes=source,
                                target_expression=target_expression, negation_weight=float(negation_weight),
                                domain=domain)
        self._energies: dict = {}

    # ---------------------------------------------------------------- properties --
    @property
    def latent_dim(self) -> int:
        return self.bridge.config.dim

    @property
    def target_classes(self) -> tuple:
        return tuple(self.config.target_classes)

    @property
    def domain(self):
        """The :class:`~d2e_zoo.domains.Domain` of the targets (``pipe.domain.class_names``)."""
        return checked_domain(getattr(self.config, "domain", DEFAULT_DOMAIN))

    @property
    def source_classes(self) -> Optional[tuple]:
        return None if self.config.source_classes is None else tuple(self.config.source_classes)

    @property
    def temperature(self) -> float:
        return float(self.config.temperature)

    def _posterior(self, classes) -> ClassifierPosterior:
        key = tuple(classes)
        if key not in self._energies:
            self._energies[key] = ClassifierPosterior(self.decoder, self.classifier, key, self.temperature,
                                                      domain=self.domain)
        return self._energies[key]

    @property
    def target_expression(self) -> Optional[str]:
        """The composed target (``"even and not 4"``) of a bridge trained on one, else None."""
        return getattr(self.config, "target_expression", None)

    @property
    def energy(self) -> LatentPosterior:
        """The target p1(z) ∝ N(z; 0, I) p_T(C | G(z)) as an endpoint (``log_prob``, ``energy``,
        exact ``sample`` by rejection); for a composed target, its
        :class:`~d2e_zoo.energies.ExpressionPosterior`."""
        if self.target_expression is None:
            return self._posterior(self.target_classes)
        key = ("expr", self.target_expression)
        if key not in self._energies:
            self._energies[key] = ExpressionPosterior(self.decoder, self.classifier, self.target_expression,
                                                      self.temperature, self.config.negation_weight,
                                                      domain=self.domain)
        return self._energies[key]

    @property
    def source_energy(self) -> Optional[ClassifierPosterior]:
        """The source posterior of an energy-to-energy bridge (None when the source is N(0, I))."""
        return None if self.source_classes is None else self._posterior(self.source_classes)

    # ----------------------------------------------------------------- sampling --
    def sample_source(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """z0 ``(n, d)`` from the source: N(0, I), or the source posterior (exact, by rejection)."""
        if self.source_energy is not None:
            return self.source_energy.sample(n, generator)
        return standard_normal((n, self.latent_dim), generator)

    @torch.no_grad()
    def run_bridge(self, latents: torch.Tensor, num_inference_steps: Optional[int] = None,
                   generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
                   progress: bool = True):
        """Run the forward SDE from ``latents`` (``(N, d)``); returns ``(z1, trajectory or None)``.

        This is the trainer's simulation (:func:`d2e_zoo.dynamics.simulate` of the bridge as a
        kernel, ``scheduler.kernel(bridge)``), noise included: for the same ``generator``
        state it gives the same paths as ``IPFTrainer.sample`` on the same grid."""
        self.scheduler.set_timesteps(num_inference_steps)
        z = latents.to(self.device, torch.float32)
        kernel = self.scheduler.kernel(self.bridge, "forward")
        ticks = self.scheduler.num_inference_steps * math.ceil(z.shape[0] / SIMULATION_CHUNK)
        if progress:
            with self.progress_bar(total=ticks) as bar:
                traj = simulate(kernel, z, self.scheduler.grid, generator, on_step=lambda k: bar.update())
        else:
            traj = simulate(kernel, z, self.scheduler.grid, generator)
        # z1 is its own tensor, not a view into the trajectory (callers may change it in place)
        return traj.x_last.clone(), (traj.states if return_trajectory else None)

    def correct(self, latents: torch.Tensor, num_steps: int, step_size: float = 0.05,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``num_steps`` MALA steps on the target energy from ``latents`` ``(N, d)``; returns the
        moved latents ``(N, d)``. A corrector after the bridge (predictor): each step leaves the
        target invariant, so it can only move the bridge's samples towards it, but it also
        moves them away from their source (see the README for the measured trade-off)."""
        from ..samplers import sample  # local: the samplers import the energies, not pipelines

        return sample(self.energy, x0=latents, method="mala", stop="steps", num_steps=num_steps,
                      step_size=step_size, generator=generator).samples

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk_size: int = 4096) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in [0, 1] for latents ``(N, d)``: ``self.decoder`` in chunks."""
        return torch.cat([self.decoder(latents[i:i + chunk_size]) for i in range(0, len(latents), chunk_size)])

    @torch.no_grad()
    def __call__(self, num_samples: Optional[int] = None, generator: Optional[torch.Generator] = None,
                 latents: Optional[torch.Tensor] = None, num_inference_steps: Optional[int] = None,
                 return_trajectory: bool = False, decode: bool = True, progress: bool = True,
                 return_dict: bool = True, corrector_steps: int = 0, corrector_step_size: float = 0.05):
        """Translate ``num_samples`` source latents (or the given ``latents``) into the target.

        Args:
            num_samples: how many samples (default 16, or ``len(latents)``).
            generator: a ``torch.Generator`` for reproducible noise.
            latents: ``(N, d)`` starting latents z0; drawn from the source if None.
            num_inference_steps: number of SDE steps (default: the training K).
            return_trajectory: also return the ``(K+1, N, d)`` latent path.
            decode: decode z1 to images (``images`` is then set, else an empty tensor).
            progress: show a progress bar over the steps.
            corrector_steps: MALA steps on the target energy after the bridge (default 0: the
                bridge alone); they fix the bridge's class mix at the cost of transport.
            corrector_step_size: MALA's initial step size (adapted per chain).
        """
        start = time.perf_counter()
        if isinstance(corrector_steps, bool) or not isinstance(corrector_steps, int) or corrector_steps < 0:
            raise ValueError(f"corrector_steps must be an integer >= 0, got {corrector_steps!r}")
        if not (isinstance(corrector_step_size, (int, float)) and 0 < corrector_step_size < float("inf")):
            raise ValueError(f"corrector_step_size must be a finite number > 0, got {corrector_step_size!r}")
        if latents is None:
            n = 16 if num_samples is None else num_samples
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"num_samples must be a positive integer, got {n!r}")
            latents = self.sample_source(n, generator)
        else:
            latents = check_latents(latents, self.latent_dim, type(self).__name__)
            if num_samples is not None and num_samples != latents.shape[0]:
                raise ShapeError(f"num_samples={num_samples} but {latents.shape[0]} latents were given")
            if not torch.isfinite(latents).all():
                raise ValueError("latents contain NaN or infinite values")
        z1, traj = self.run_bridge(latents, num_inference_steps, generator, return_trajectory, progress)
        if corrector_steps:
            z1 = self.correct(z1, corrector_steps, corrector_step_size, generator)
        images = self.decode(z1) if decode else torch.empty(0)
        out = BridgePipelineOutput(images=images.cpu(), initial_latents=latents.cpu(), latents=z1.cpu(),
                                   trajectory=None if traj is None else traj.cpu(),
                                   times=self.scheduler.times.clone(), seconds=time.perf_counter() - start)
        return out if return_dict else (out.images,)


