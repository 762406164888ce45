"""VAE training: Bernoulli likelihood, Gaussian posterior, KL to N(0, I)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..data import MNISTData
from ..models import MLPVAE
from .loop import average_gradients, batch_indices


class VAETask:
    """Maximise the ELBO; ``beta`` weights the KL term (warmed up over ``kl_warmup`` steps)."""

    def __init__(self, vae: MLPVAE, data: MNISTData, accelerator, seed: int, batch_size: int = 128,
                 lr: float = 1e-3, beta: float = 1.0, kl_warmup: int = 1000):
        self.vae, self.data, self.accelerator = vae.to(accelerator.device), data, accelerator
        self.batch_size, self.beta, self.kl_warmup = batch_size, beta, kl_warmup
        self.optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
        self.modules = {"vae": self.vae}
        self.optimizers = {"vae": self.optimizer}
        self.generators = {"data": torch.Generator().manual_seed(seed * 1000 + accelerator.process_index)}

    def step(self, step: int) -> dict:
        g, dev = self.generators["data"], self.accelerator.device
        x = self.data.images[batch_indices(len(self.data), self.batch_size, g)].to(dev)
        self.vae.train()
        mean, log_var = self.vae.encode(x)
        z = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=g).to(dev)
        recon = F.binary_cross_entropy_with_logits(self.vae.decode_logits(z), x, reduction="sum") / len(x)
        kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(-1).mean()
        weight = self.beta * min(1.0, (step + 1) / max(self.kl_warmup, 1))
        loss = recon + weight * kl
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.accelerator, self.vae.parameters())
        self.optimizer.step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}
