"""GAN training: non-saturating loss, one-sided label smoothing, an EMA of the generator and
differentiable random shifts of every image the discriminator sees (for small datasets)."""

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
    """

    def __init__(self, generator: MLPGenerator, discriminator: MLPDiscriminator, data: MNISTData, accelerator,
                 seed: int, batch_size: int = 64, lr: float = 2e-4, betas=(0.5, 0.999), real_label: float = 0.9,
                 ema_decay: float = 0.0, augment_shift: int = 0):
        dev = accelerator.device
        self.G, self.D = generator.to(dev), discriminator.to(dev)
        self.data, self.accelerator, self.batch_size, self.real_label = data, accelerator, batch_size, real_label
        if not 0 <= augment_shift <= 8:
            raise ValueError(f"augment_shift must be an integer in 0..8 pixels, got {augment_shift!r}")
        self.augment_shift = int(augment_shift)
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
        real = self.data.images[batch_indices(len(self.data), n, g)].to(dev)
        z = torch.randn(n, self.G.config.latent_dim, generator=g).to(dev)
        self.G.train()
        self.D.train()
        fake = self.G(z)
        # the discriminator sees every image randomly shifted (real and generated alike, differentiably,
        # so the generator is not taught to shift its digits): more varied real images (DiffAugment)
        seen_real = random_shift(real, self.augment_shift, g)
        seen_fake = random_shift(fake, self.augment_shift, g)
        # discriminator: real -> real_label (one-sided smoothing), fake -> 0
        d_real, d_fake = self.D(seen_real), self.D(seen_fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.real_label))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        average_gradients(self.accelerator, self.D.parameters())
        self.opt_d.step()
        # generator: non-saturating loss
        d_gen = self.D(seen_fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        average_gradients(self.accelerator, self.G.parameters())
        self.opt_g.step()
        if self.ema_generator is not None:
            with torch.no_grad():
                for p_ema, p in zip(self.ema_generator.parameters(), self.G.parameters()):
                    p_ema.lerp_(p, 1.0 - self.ema_decay)
        return {"loss": loss_g.item() + loss_d.item(), "loss_d": loss_d.item(), "loss_g": loss_g.item()}
