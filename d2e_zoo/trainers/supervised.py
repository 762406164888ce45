"""Digit classifiers (the energy classifier and the judge) trained by cross-entropy."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..data import MNISTData
from .loop import average_gradients, batch_indices, random_shift


class ClassifierTask:
    """Cross-entropy on shift-augmented MNIST batches (``max_shift`` pixels).

    ``mixup_alpha > 0`` trains on convex mixtures of two images with the same mixture of
    their labels (mixup, weight ~ Beta(alpha, alpha)): the classifier learns to be unsure
    between digits on ambiguous inputs instead of confidently wrong, which is what an
    energy ``p(C | G(z))`` needs on a decoder's imperfect images.
    """

    def __init__(self, model, data: MNISTData, accelerator, seed: int, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 1e-4, max_shift: int = 2, num_steps: int = 4000, mixup_alpha: float = 0.0,
                 label_smoothing: float = 0.0):
        self.model, self.data, self.accelerator = model.to(accelerator.device), data, accelerator
        self.batch_size, self.max_shift = batch_size, max_shift
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.base_lr, self.num_steps = lr, num_steps
        self.mixup_alpha, self.label_smoothing = float(mixup_alpha), float(label_smoothing)
        self.modules = {"model": self.model}
        self.optimizers = {"model": self.optimizer}
        self.generators = {"data": torch.Generator().manual_seed(seed * 1000 + accelerator.process_index)}

    def step(self, step: int) -> dict:
        g = self.generators["data"]
        idx = batch_indices(len(self.data), self.batch_size, g)
        x = random_shift(self.data.images[idx], self.max_shift, g).to(self.accelerator.device)
        y = self.data.labels[idx].to(self.accelerator.device)
        self.model.train()
        if self.mixup_alpha > 0:
            lam = torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample((len(x), 1, 1, 1))
            perm = torch.randperm(len(x), generator=g)
            logits = self.model(lam * x + (1 - lam) * x[perm])
            per = (lam.view(-1) * F.cross_entropy(logits, y, reduction="none", label_smoothing=self.label_smoothing)
                   + (1 - lam.view(-1)) * F.cross_entropy(logits, y[perm], reduction="none",
                                                          label_smoothing=self.label_smoothing))
            loss = per.mean()
        else:
            logits = self.model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.accelerator, self.model.parameters())
        for group in self.optimizer.param_groups:  # cosine decay, a pure function of step (resumable)
            group["lr"] = self.base_lr * 0.5 * (1 + math.cos(math.pi * min(step, self.num_steps) / self.num_steps))
        self.optimizer.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(-1) == y).float().mean().item()}


@torch.no_grad()
def test_accuracy(model, data: MNISTData, batch_size: int = 1000) -> float:
    """Fraction of ``data`` classified correctly (eval mode)."""
    model.eval()
    correct = 0
    for i in range(0, len(data), batch_size):
        correct += (model(data.images[i:i + batch_size]).argmax(-1) == data.labels[i:i + batch_size]).sum().item()
    return correct / len(data)
