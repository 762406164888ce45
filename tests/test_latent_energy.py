"""Classifier posteriors and the bridge scheduler against closed forms."""

import math

import pytest
import torch
from diffusers import ConfigMixin, ModelMixin
from torch import nn

from d2e_zoo.energies import ClassifierPosterior, parse_classes
from d2e_zoo.models import BridgeDriftModel, MLPClassifier
from d2e_zoo.pipelines import BridgeScheduler, D2EBridgePipeline


class LineGenerator(nn.Module):
    """A 1-d decoder: the image is filled with the latent value (N, 1) -> (N, 1, 28, 28)."""

    latent_dim = 1

    def forward(self, z):
        return z.view(-1, 1, 1, 1).expand(-1, 1, 28, 28)


class LogisticClassifier(nn.Module):
    """Logits (w * mean pixel, 0, ..., 0): p(class 0 | z) = e^{wz} / (e^{wz} + 9)."""

    def __init__(self, w=3.0):
        super().__init__()
        self.w = w

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 10)
        logits[:, 0] = self.w * x.mean(dim=(1, 2, 3))
        return logits


def _quadrature(temperature):
    z = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    prior = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    a = 3.0 * z / temperature
    lik = torch.exp(a) / (torch.exp(a) + 9.0)
    dz = z[1] - z[0]
    zc = (prior * lik).sum() * dz
    mean = (z * prior * lik).sum() * dz / zc
    return math.log(zc), mean.item()


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_rejection_sampling_and_log_z_match_quadrature(temperature):
    post = ClassifierPosterior(LineGenerator(), LogisticClassifier(), "0", temperature)
    log_z, mean = _quadrature(temperature)
    g = torch.Generator().manual_seed(0)
    est, se = post.estimate_log_z(200_000, g)
    assert abs(est - log_z) < 4 * se + 1e-3
    z, acceptance = post.rejection_sample(40_000, g)
    assert z.shape == (40_000, 1)
    assert acceptance == pytest.approx(math.exp(log_z), abs=0.01)
    assert z.mean().item() == pytest.approx(mean, abs=0.03)
    # log_prob = log N(z; 0, 1) + log p_T(C | G(z))
    zz = torch.tensor([[0.3], [-1.0]])
    a = 3.0 * zz[:, 0] / temperature
    expected = -0.5 * zz[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) + a - torch.log(torch.exp(a) + 9)
    assert torch.allclose(post.log_prob(zz), expected, atol=1e-5)


def test_all_classes_is_the_prior():
    post = ClassifierPosterior(LineGenerator(), LogisticClassifier(), "all")
    z = torch.randn(100, 1)
    assert torch.allclose(post.log_likelihood(z), torch.zeros(100), atol=1e-6)
    assert post.rejection_sample(1000)[1] == 1.0


def test_energy_gradients_flow_to_latents_only():
    clf = MLPClassifier(hidden=(16,))
    post = ClassifierPosterior(LineGenerator(), clf, "even", 0.5)
    g = post.grad_log_prob(torch.randn(4, 1))
    assert g.shape == (4, 1) and torch.isfinite(g).all()
    assert all(p.grad is None for p in clf.parameters())


def test_parse_classes():
    assert parse_classes("even") == (0, 2, 4, 6, 8) and parse_classes("odd") == (1, 3, 5, 7, 9)
    assert parse_classes("3,8") == (3, 8) and parse_classes([8, 3, 3]) == (3, 8) and parse_classes([7]) == (7,)


@pytest.mark.parametrize("reference,alpha", [("brownian", 1.0), ("ou", 0.7)])
@pytest.mark.parametrize("steps", [3, 40])
def test_zero_drift_pipeline_is_the_reference_on_any_grid(reference, alpha, steps):
    """A fresh drift model (zero head) is the reference process, whose transitions are exact:
    z1 | z0 ~ N(a z0, v) with a = e^{-alpha T}, v = sigma2 (1 - a^2) / (2 alpha) (Brownian: a=1, v=sigma2 T)."""
    sigma2, t_max, d = 0.8, 1.5, 3
    sched = BridgeScheduler(num_train_timesteps=10, t_max=t_max, grid="cosine", reference=reference,
                            sigma2=sigma2, alpha=alpha)
    pipe = D2EBridgePipeline(bridge=BridgeDriftModel(dim=d, hidden=8), scheduler=sched,
                             decoder=_TinyDecoder(d), classifier=MLPClassifier(hidden=(8,)),
                             target_classes=[1], temperature=1.0)
    z0 = torch.full((20_000, d), 2.0)
    out = pipe(latents=z0, num_inference_steps=steps, decode=False, progress=False,
               generator=torch.Generator().manual_seed(0))
    if reference == "brownian":
        a, v = 1.0, sigma2 * t_max
    else:
        a = math.exp(-alpha * t_max)
        v = sigma2 * (1 - a**2) / (2 * alpha)
    assert out.latents.mean().item() == pytest.approx(2.0 * a, abs=0.02)
    assert out.latents.var(0).mean().item() == pytest.approx(v, rel=0.04)


class _TinyDecoder(ModelMixin, ConfigMixin):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 784)
        self.latent_dim = d

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 28, 28)
