"""GAN training: non-saturating loss, one-sided label smoothing, an EMA of the generator,
differentiable random shifts of every image the discriminator sees (for small datasets) and,
optionally, an auxiliary class head on the discriminator that asks for unambiguous images."""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from ..data import MNISTData
from ..models import MLPDiscriminator, MLPGenerator
from .loop import average_gradients, batch_indices, random_shift


class GANTask:
    """One discriminator step then one generator step per call (batch ``batch_size``).

    With ``ema_decay > 0`` an exponential moving average of the generator's weights is kept
    (``ema_generator``) and is what gets exported: it is much less noisy than the last iterate.

    With ``class_entropy_weight = w > 0`` (the discriminator needs a class head,
    ``num_classes > 0``) the discriminator also learns the real images' labels by cross-entropy,
    and the generator's loss gains, with ``p_i`` the class head's softmax on generated image i,

        w * ( mean_i H(p_i) - H(mean_i p_i) ),        H(p) = -sum_k p_k log p_k,

    the first term asking for images of one clear class each (a continuous generator from a
    Gaussian latent otherwise spends mass on in-between shapes), the second keeping the batch's
    classes balanced (CatGAN's objective, here with a supervised head).
    """

    def __init__(self, generator: MLPGenerator, discriminator: MLPDiscriminator, data: MNISTData, accelerator,
                 seed: int, batch_size: int = 64, lr: float = 2e-4, betas=(0.5, 0.999), real_label: float = 0.9,
                 ema_decay: float = 0.0, augment_shift: int = 0, class_entropy_weight: float = 0.0):
        dev = accelerator.device
        self.G, self.D = generator.to(dev), discriminator.to(dev)
        self.data, self.accelerator, self.batch_size, self.real_label = data, accelerator, batch_size, real_label
        if not 0 <= augment_shift <= 8:
            raise ValueError(f"augment_shift must be an integer in 0..8 pixels, got {augment_shift!r}")
        self.augment_shift = int(augment_shift)
        self.class_entropy_weight = float(class_entropy_weight)
        self.num_classes = int(getattr(discriminator.config, "num_classes", 0))
        if self.class_entropy_weight > 0 and not self.num_classes:
            raise ValueError("class_entropy_weight > 0 needs a discriminator with a class head: set "
                             "num_classes in [discriminator] (architecture = \"conv\")")
        pack = discriminator.config.pack
        if batch_size % pack:
            raise ValueError(f"batch_size {batch_size} must be a multiple of the discriminator's pack {pack}")
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=tuple(betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=tuple(betas))
        self.modules = {"generator": self.G, "discriminator": self.D}
        self.optimizers = {"generator": self.opt_g, "discriminator": self.opt_d}
        self.generators = {"data": torch.Generator().manual_seed(seed * 1000 + accelerator.process_index)}
        self.ema_decay = float(ema_decay)
        self.ema_generator = copy.deepcopy(self.G).eval() if self.ema_decay > 0 else None
        if self.ema_generator is not None:
            self.ema_generator.requires_grad_(False)
            self.modules["generator_ema"] = self.ema_generator

    @property
    def export_model(self) -> MLPGenerator:
        """The generator to ship: the EMA weights when kept, else the last iterate."""
        return self.ema_generator if self.ema_generator is not None else self.G

    def step(self, step: int) -> dict:
        g, dev, n = self.generators["data"], self.accelerator.device, self.batch_size
        idx = batch_indices(len(self.data), n, g)
        real = self.data.images[idx].to(dev)
        z = torch.randn(n, self.G.config.latent_dim, generator=g).to(dev)
        self.G.train()
        self.D.train()
        fake = self.G(z)
        # the discriminator sees every image randomly shifted (real and generated alike, differentiably,
        # so the generator is not taught to shift its digits): more varied real images (DiffAugment)
        seen_real = random_shift(real, self.augment_shift, g)
        seen_fake = random_shift(fake, self.augment_shift, g)
        # discriminator: real -> real_label (one-sided smoothing), fake -> 0; class head: real labels
        d_real, classes_real = self._discriminate(seen_real)
        d_fake, _ = self._discriminate(seen_fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.real_label))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        metrics = {}
        if classes_real is not None:
            labels = self.data.labels[idx].to(dev)
            loss_class = F.cross_entropy(classes_real, labels)
            loss_d = loss_d + loss_class
            metrics["loss_class"] = loss_class.item()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        average_gradients(self.accelerator, self.D.parameters())
        self.opt_d.step()
        # generator: non-saturating loss (+ the class-entropy term)
        d_gen, classes_gen = self._discriminate(seen_fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        if self.class_entropy_weight > 0:
            entropy_each, entropy_mix = class_entropies(classes_gen)
            loss_g = loss_g + self.class_entropy_weight * (entropy_each - entropy_mix)
            metrics.update(class_entropy=entropy_each.item(), mix_entropy=entropy_mix.item())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        average_gradients(self.accelerator, self.G.parameters())
        self.opt_g.step()
        if self.ema_generator is not None:
            with torch.no_grad():
                for p_ema, p in zip(self.ema_generator.parameters(), self.G.parameters()):
                    p_ema.lerp_(p, 1.0 - self.ema_decay)
        return {"loss": loss_g.item() + loss_d.item(), "loss_d": loss_d.item(), "loss_g": loss_g.item(), **metrics}

    def _discriminate(self, images: torch.Tensor):
        """``(real/fake logits (N,), class logits (N, K) or None)``."""
        if self.num_classes:
            return self.D.logits_and_classes(images)
        return self.D(images), None


def class_entropies(class_logits: torch.Tensor):
    """``(mean_i H(p_i), H(mean_i p_i))`` for ``p_i = softmax(class_logits[i])``, logits ``(N, K)``."""
    log_p = class_logits.log_softmax(-1)
    p = log_p.exp()
    mix = p.mean(0)
    return -(p * log_p).sum(-1).mean(), -(mix * mix.clamp_min(1e-12).log()).sum()
