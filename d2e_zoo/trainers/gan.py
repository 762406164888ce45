"""GAN training: non-saturating loss, one-sided label smoothing, an EMA of the generator,
differentiable random shifts of every image the discriminator sees (for small datasets) and,
optionally, an auxiliary class head on the discriminator that asks for unambiguous images.

:class:`Adversary` owns the discriminator side (its update and the generator's adversarial
loss); :class:`GANTask` trains a generator against it, and the VAE task
(:mod:`d2e_zoo.trainers.vae`) can add it to the ELBO for sharper decoded prior samples."""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch.nn import functional as F

from ..data import MNISTData
from ..models import MLPDiscriminator, MLPGenerator
from .loop import average_gradients, batch_indices, random_shift


class Adversary:
    """A discriminator ``D`` with its optimizer, and the adversarial loss it gives a generator.

    ``D`` learns real images -> ``real_label`` (one-sided smoothing) and generated ones -> 0;
    with a class head (``num_classes > 0``) it also learns the real images' labels by
    cross-entropy. Every image it sees is randomly shifted by up to ``augment_shift`` pixels
    (real and generated alike, differentiably, so the generator is not taught to shift its
    images: DiffAugment). The generator's loss is the non-saturating ``-log sigmoid D(G(z))``
    plus, with ``class_entropy_weight = w > 0`` and ``p_i`` the class head's softmax on
    generated image i,

        w * mean_i H(p_i) - b * H(mean_i p_i),        H(p) = -sum_k p_k log p_k,

    the first term asking for images of one clear class each (a continuous generator from a
    Gaussian latent otherwise spends mass on in-between shapes), the second keeping the batch's
    classes balanced (CatGAN's objective, here with a supervised head). ``b`` is
    ``class_balance_weight``, by default ``w``; a larger ``b`` keeps the classes that are hard to
    draw unambiguously (Fashion-MNIST's shirts) from losing their share to the sharpness term.
    """

    def __init__(self, discriminator: MLPDiscriminator, accelerator, lr: float = 2e-4, betas=(0.5, 0.999),
                 real_label: float = 0.9, augment_shift: int = 0, class_entropy_weight: float = 0.0,
                 class_balance_weight: Optional[float] = None):
        if not 0 <= augment_shift <= 8:
            raise ValueError(f"augment_shift must be an integer in 0..8 pixels, got {augment_shift!r}")
        self.D, self.accelerator = discriminator.to(accelerator.device), accelerator
        self.real_label, self.augment_shift = real_label, int(augment_shift)
        self.class_entropy_weight = float(class_entropy_weight)
        self.class_balance_weight = float(class_entropy_weight if class_balance_weight is None
                                          else class_balance_weight)
        if not (self.class_entropy_weight >= 0 and self.class_balance_weight >= 0):
            raise ValueError(f"class_entropy_weight and class_balance_weight must be >= 0, got "
                             f"{class_entropy_weight!r} and {class_balance_weight!r}")
        self.num_classes = int(getattr(discriminator.config, "num_classes", 0))
        if self.uses_class_head and not self.num_classes:
            raise ValueError("class_entropy_weight > 0 needs a discriminator with a class head (so does "
                             "class_balance_weight > 0): set num_classes in [discriminator] (architecture = \"conv\")")
        self.optimizer = torch.optim.Adam(self.D.parameters(), lr=lr, betas=tuple(betas))

    @property
    def uses_class_head(self) -> bool:
        """Whether the generator's loss has the class-head terms (either weight > 0)."""
        return self.class_entropy_weight > 0 or self.class_balance_weight > 0

    def shifted(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """What the discriminator sees of ``images (N, 1, 28, 28)``: each randomly shifted."""
        return random_shift(images, self.augment_shift, generator)

    def update(self, seen_real: torch.Tensor, seen_fake: torch.Tensor, labels: torch.Tensor) -> dict:
        """One discriminator step on shifted real and (detached) generated images, ``(N, 1, 28, 28)``
        each; ``labels (N,)`` are the real images' classes (used by a class head)."""
        self.D.train()
        d_real, classes_real = self._discriminate(seen_real)
        d_fake, _ = self._discriminate(seen_fake.detach())
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.real_label))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        metrics = {}
        if classes_real is not None:
            loss_class = F.cross_entropy(classes_real, labels.to(d_real.device))
            loss = loss + loss_class
            metrics["loss_class"] = loss_class.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.accelerator, self.D.parameters())
        self.optimizer.step()
        return {"loss_d": loss.item(), **metrics}

    def generator_loss(self, seen_fake: torch.Tensor):
        """``(loss, metrics)``: the generator's adversarial loss on shifted generated images
        ``(N, 1, 28, 28)`` (gradients flow into the generator; the class-entropy term included)."""
        d_gen, classes_gen = self._discriminate(seen_fake)
        loss = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        metrics = {}
        if self.uses_class_head:
            entropy_each, entropy_mix = class_entropies(classes_gen)
            loss = loss + self.class_entropy_weight * entropy_each - self.class_balance_weight * entropy_mix
            metrics.update(class_entropy=entropy_each.item(), mix_entropy=entropy_mix.item())
        return loss, metrics

    def _discriminate(self, images: torch.Tensor):
        """``(real/fake logits (N,), class logits (N, K) or None)``."""
        if self.num_classes:
            return self.D.logits_and_classes(images)
        return self.D(images), None


class WeightAverage:
    """An exponential moving average of a module's weights, ``ema <- decay * ema + (1 - decay) * w``
    after every step (``module``: the copy holding the average, frozen, in eval mode)."""

    def __init__(self, source: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) to keep an average, got {decay!r}")
        self.source, self.decay = source, float(decay)
        self.module = copy.deepcopy(source).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self):
        for p_ema, p in zip(self.module.parameters(), self.source.parameters()):
            p_ema.lerp_(p, 1.0 - self.decay)


class GANTask:
    """One discriminator step then one generator step per call (batch ``batch_size``), against
    an :class:`Adversary` (its keyword arguments are this task's).

    With ``ema_decay > 0`` an exponential moving average of the generator's weights is kept
    (``ema``) and is what gets exported: it is much less noisy than the last iterate.
    """

    def __init__(self, generator: MLPGenerator, discriminator: MLPDiscriminator, data: MNISTData, accelerator,
                 seed: int, batch_size: int = 64, lr: float = 2e-4, betas=(0.5, 0.999), real_label: float = 0.9,
                 ema_decay: float = 0.0, augment_shift: int = 0, class_entropy_weight: float = 0.0,
                 class_balance_weight: Optional[float] = None):
        self.G = generator.to(accelerator.device)
        self.adversary = Adversary(discriminator, accelerator, lr=lr, betas=betas, real_label=real_label,
                                   augment_shift=augment_shift, class_entropy_weight=class_entropy_weight,
                                   class_balance_weight=class_balance_weight)
        self.data, self.accelerator, self.batch_size = data, accelerator, batch_size
        pack = discriminator.config.pack
        if batch_size % pack:
            raise ValueError(f"batch_size {batch_size} must be a multiple of the discriminator's pack {pack}")
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=tuple(betas))
        self.modules = {"generator": self.G, "discriminator": self.adversary.D}
        self.optimizers = {"generator": self.opt_g, "discriminator": self.adversary.optimizer}
        self.generators = {"data": torch.Generator().manual_seed(seed * 1000 + accelerator.process_index)}
        self.ema = WeightAverage(self.G, ema_decay) if ema_decay > 0 else None
        if self.ema is not None:
            self.modules["generator_ema"] = self.ema.module

    @property
    def export_model(self) -> MLPGenerator:
        """The generator to ship: the EMA weights when kept, else the last iterate."""
        return self.ema.module if self.ema is not None else self.G

    def step(self, step: int) -> dict:
        g, dev, n = self.generators["data"], self.accelerator.device, self.batch_size
        idx = batch_indices(len(self.data), n, g)
        real = self.data.images[idx].to(dev)
        z = torch.randn(n, self.G.config.latent_dim, generator=g).to(dev)
        self.G.train()
        fake = self.G(z)
        seen_real, seen_fake = self.adversary.shifted(real, g), self.adversary.shifted(fake, g)
        metrics = self.adversary.update(seen_real, seen_fake, self.data.labels[idx])
        loss_g, more = self.adversary.generator_loss(seen_fake)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        average_gradients(self.accelerator, self.G.parameters())
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update()
        return {"loss": loss_g.item() + metrics["loss_d"], "loss_g": loss_g.item(), **metrics, **more}


def class_entropies(class_logits: torch.Tensor):
    """``(mean_i H(p_i), H(mean_i p_i))`` for ``p_i = softmax(class_logits[i])``, logits ``(N, K)``."""
    log_p = class_logits.log_softmax(-1)
    p = log_p.exp()
    mix = p.mean(0)
    return -(p * log_p).sum(-1).mean(), -(mix * mix.clamp_min(1e-12).log()).sum()
