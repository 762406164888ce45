"""VAE training: Bernoulli likelihood, Gaussian posterior, KL to N(0, I); optionally an
adversarial term on decoded prior samples (a VAE-GAN) for a sharper decoder."""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn import functional as F

from ..data import MNISTData
from ..models import ConvDiscriminator, MLPVAE
from .gan import Adversary, WeightAverage
from .loop import average_gradients, batch_indices


class VAETask:
    """Maximise the ELBO of a batch of ``batch_size`` real images x,

        loss = E_q[-log p(x | z)] + beta_t * KL(q(z | x) || N(0, I)),

    ``beta_t`` rising linearly to ``beta`` over ``kl_warmup`` steps.

    With ``adversarial_weight = a > 0`` (needs a discriminator: ``architecture = "conv"``) the
    decoder also plays a GAN on prior samples: the :class:`~d2e_zoo.trainers.gan.Adversary`
    learns to tell real images from ``decode(z)``, ``z ~ N(0, I)``, and ``a`` times its
    generator loss (with the class-entropy term when ``class_entropy_weight > 0``) is added to
    the loss above. The ELBO keeps the encoder and the decoder consistent; the adversary
    sharpens what the prior decodes to, which is what a bridge starts from and ends in. The
    adversary's keyword arguments (``real_label``, ``augment_shift``, ``class_entropy_weight``,
    ``class_balance_weight``) are this task's, its optimizer uses ``adversarial_lr`` and
    ``betas``. With ``ema_decay > 0`` an exponential moving average of the VAE's weights is
    exported.
    """

    def __init__(self, vae: MLPVAE, discriminator: Optional[ConvDiscriminator], data: MNISTData, accelerator,
                 seed: int, batch_size: int = 128, lr: float = 1e-3, beta: float = 1.0, kl_warmup: int = 1000,
                 adversarial_weight: float = 0.0, adversarial_lr: float = 2e-4, betas=(0.5, 0.999),
                 real_label: float = 0.9, augment_shift: int = 0, class_entropy_weight: float = 0.0,
                 class_balance_weight: Optional[float] = None, ema_decay: float = 0.0):
        self.vae, self.data, self.accelerator = vae.to(accelerator.device), data, accelerator
        self.batch_size, self.beta, self.kl_warmup = batch_size, beta, kl_warmup
        self.optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
        self.modules = {"vae": self.vae}
        self.optimizers = {"vae": self.optimizer}
        self.generators = {"data": torch.Generator().manual_seed(seed * 1000 + accelerator.process_index)}
        self.adversarial_weight = float(adversarial_weight)
        self.adversary = None
        if self.adversarial_weight > 0:
            if discriminator is None:
                raise ValueError("adversarial_weight > 0 needs a discriminator: use architecture = \"conv\" "
                                 "(its [discriminator] section configures it)")
            self.adversary = Adversary(discriminator, accelerator, lr=adversarial_lr, betas=betas,
                                       real_label=real_label, augment_shift=augment_shift,
                                       class_entropy_weight=class_entropy_weight,
                                       class_balance_weight=class_balance_weight)
            self.modules["discriminator"] = self.adversary.D
            self.optimizers["discriminator"] = self.adversary.optimizer
        elif class_entropy_weight > 0 or class_balance_weight:
            raise ValueError("class_entropy_weight acts through the adversary (so does class_balance_weight): set "
                             "adversarial_weight > 0 too")
        self.ema = WeightAverage(self.vae, ema_decay) if ema_decay > 0 else None
        if self.ema is not None:
            self.modules["vae_ema"] = self.ema.module

    @property
    def export_model(self) -> MLPVAE:
        """The VAE to ship: the EMA weights when kept, else the last iterate."""
        return self.ema.module if self.ema is not None else self.vae

    def step(self, step: int) -> dict:
        g, dev = self.generators["data"], self.accelerator.device
        idx = batch_indices(len(self.data), self.batch_size, g)
        x = self.data.images[idx].to(dev)
        self.vae.train()
        mean, log_var = self.vae.encode(x)
        z = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=g).to(dev)
        recon = F.binary_cross_entropy_with_logits(self.vae.decode_logits(z), x, reduction="sum") / len(x)
        kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(-1).mean()
        weight = self.beta * min(1.0, (step + 1) / max(self.kl_warmup, 1))
        loss = recon + weight * kl
        metrics = {"recon": recon.item(), "kl": kl.item()}
        if self.adversary is not None:
            fake = self.vae.decode(torch.randn(mean.shape, generator=g).to(dev))
            seen_real, seen_fake = self.adversary.shifted(x, g), self.adversary.shifted(fake, g)
            metrics.update(self.adversary.update(seen_real, seen_fake, self.data.labels[idx]))
            loss_adv, more = self.adversary.generator_loss(seen_fake)
            loss = loss + self.adversarial_weight * loss_adv
            metrics.update(loss_adv=loss_adv.item(), **more)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.accelerator, self.vae.parameters())
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return {"loss": loss.item(), **metrics}
