"""The classifier posterior in a decoder's latent space (docs/method.md sections 1 and 5).

    p1(z) ∝ N(z; 0, I) p_T(C | G(z)),   p_T(C | x) = sum_{c in C} softmax(logits(x) / T)_c

Because ``p_T(C | x) <= 1`` the posterior can be sampled exactly by rejection: draw
``z ~ N(0, I)`` and accept with probability ``p_T(C | G(z))``. The same draws estimate the
normaliser ``Z = E_{N(0, I)}[p_T(C | G(z))]`` (so ``log p1(z) = log_prob(z) - log Z``).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..domains import DEFAULT_DOMAIN, MNIST, DomainError, get_domain
from ..dynamics.transition import gaussian_log_prob
from ..endpoints.base import Endpoint, EndpointError
from ..rng import standard_normal, standard_uniform

NUM_CLASSES = MNIST.num_classes  # MNIST's; other domains: get_domain(name).num_classes


def parse_classes(classes, what: str = "target classes", domain=DEFAULT_DOMAIN) -> tuple[int, ...]:
    """Validate a class set of ``domain`` (:func:`d2e_zoo.domains.get_domain`): a group
    (``"even"``, ``"odd"``, ``"all"``; Fashion: ``"footwear"``, ``"tops"``), a class slug
    (``"3"``, ``"ankle-boot"``), slugs or indices joined by commas (``"3,8"``) or an iterable
    of class indices. Returns a sorted tuple; :class:`EndpointError` names the valid choices."""
    domain = checked_domain(domain)
    try:
        return domain.parse_classes(classes, what)
    except DomainError as e:
        raise EndpointError(str(e)) from None


def checked_domain(name):
    """The domain called ``name`` (a :class:`~d2e_zoo.domains.Domain` is returned as is), or
    :class:`EndpointError` listing the valid ones."""
    try:
        return get_domain(name)
    except DomainError as e:
        raise EndpointError(str(e)) from None


class LatentPosterior(Endpoint):
    """``p1(z) ∝ N(z; 0, I) L(z)`` over latents ``z: (N, d)`` for a likelihood term ``L``.

    Subclasses implement :meth:`log_likelihood` (``log L(z)``, shape ``(N,)``, differentiable)
    and set :attr:`log_likelihood_bound` (an upper bound ``log M`` on it, or None when L is
    unbounded). With a bound, rejection from the prior (accept with ``L(z) / M``) is exact.
    """

    log_likelihood_bound: Optional[float] = 0.0

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z, torch.zeros((), device=z.device), 1.0) + self.log_likelihood(z)

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """``U(z) = -log p1~(z)``, shape ``(N,)``."""
        return -self.log_prob(z)

    @torch.no_grad()
    def _sample(self, n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Exact posterior samples by rejection from the prior."""
        return self.rejection_sample(n, generator)[0]

    @property
    def has_samples(self) -> bool:
        return self.log_likelihood_bound is not None

    @torch.no_grad()
    def rejection_sample(self, n: int, generator: Optional[torch.Generator] = None, max_proposals: int = 10_000_000):
        """``(samples: (n, d), acceptance_rate)``: exact draws from p1 by rejection."""
        if self.log_likelihood_bound is None:
            raise EndpointError(f"'{self.name}' has an unbounded likelihood (a negation): no exact rejection "
                                "sampler; use MALA (d2e_zoo.samplers.sample) instead")
        accepted, proposed, total = [], 0, 0
        while total < n:
            m = min(max(4 * (n - total), 4096), self.chunk_size * 16)
            z = standard_normal((m, self.dim), generator)
            u = standard_uniform((m,), generator)
            keep = u.log() < self.log_likelihood(z) - self.log_likelihood_bound
            accepted.append(z[keep])
            total += int(keep.sum())
            proposed += m
            if proposed >= max_proposals and total < n:
                raise EndpointError(f"rejection sampling accepted only {total} of {proposed} proposals for "
                                    f"'{self.name}': the target has too little prior mass")
        return torch.cat(accepted)[:n], total / proposed

    @torch.no_grad()
    def estimate_log_z(self, n: int = 100_000, generator: Optional[torch.Generator] = None) -> tuple[float, float]:
        """Monte Carlo ``log Z = log E_{N(0,I)}[L(z)]`` and its standard error (delta method)."""
        z = standard_normal((n, self.dim), generator)
        ll = self.log_likelihood(z).double()
        shift = ll.max()
        p = (ll - shift).exp()
        mean = p.mean().item()
        return math.log(mean) + shift.item(), (p.std().item() / math.sqrt(n)) / mean

    @torch.no_grad()
    def kl_from_prior(self, n: int = 100_000, generator: Optional[torch.Generator] = None) -> tuple[float, float]:
        """``KL(N(0, I) || p1) = log Z - E_{N(0,I)}[log L(z)]`` and its standard error: the
        starting KL of a sampler initialised at the prior."""
        z = standard_normal((n, self.dim), generator)
        ll = self.log_likelihood(z).double()
        shift = ll.max()
        p = (ll - shift).exp()
        log_z = math.log(p.mean().item()) + shift.item()
        return log_z - ll.mean().item(), ll.std().item() / math.sqrt(n)

    def log_sobolev_split(self):
        """``(kappa_0, V)`` with ``U = |z|^2 / 2 + V``: the prior part is 1-strongly convex and
        ``V(z) = -log L(z)`` (for the Holley-Stroock estimate of the log-Sobolev constant)."""
        return 1.0, lambda z: -self.log_likelihood(z)

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        """Classifier logits of ``G(z)`` in chunks, ``(N, K)``, on ``z``'s device (the networks
        run on their own device: latents drawn on the CPU can score a decoder on a GPU)."""
        weight = next(self.decoder.parameters(), None)  # a parameter-free decoder runs anywhere
        x = z if weight is None else z.to(weight.device)
        parts = [self.classifier(self.decoder(x[i:i + self.chunk_size]))
                 for i in range(0, x.shape[0], self.chunk_size)]
        logits = torch.cat(parts) if len(parts) > 1 else parts[0]
        return logits.to(z.device)

    def class_probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """The energy classifier's class probabilities at T=1 for latents ``z``: ``(N, K)``."""
        with torch.no_grad():
            return self._logits(z).softmax(-1)

    def _freeze(self, decoder, classifier, chunk_size: int):
        self.decoder, self.classifier = decoder.eval(), classifier.eval()
        for p in list(decoder.parameters()) + list(classifier.parameters()):
            p.requires_grad_(False)
        self.chunk_size = int(chunk_size)


#: The softmax temperature of a class posterior when none is given (T = 1: the classifier's
#: own probabilities). The zoo's bridges use :data:`d2e_zoo.zoo.registry.BRIDGE_TEMPERATURE`.
DEFAULT_TEMPERATURE = 1.0


def check_temperature(temperature) -> float:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise EndpointError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


class ClassifierPosterior(LatentPosterior):
    """``p1(z) ∝ N(z; 0, I) p_T(C | G(z))`` over latents ``z: (N, d)``.

    Args:
        decoder: the latent-to-image network G, latent ``(N, d)`` -> image ``(N, 1, 28, 28)``
            (a GAN generator or a VAE); needs ``latent_dim``.
        classifier: image -> ``(N, K)`` logits, ``K`` the domain's number of classes.
        target_classes: the class set C (see :func:`parse_classes`).
        temperature: T > 0; logits are divided by T (T < 1 sharpens).
        chunk_size: latents pushed through G and the classifier at once.
        domain: the :class:`~d2e_zoo.domains.Domain` (or its name) whose class names C uses.
    """

    def __init__(self, decoder, classifier, target_classes, temperature: float = DEFAULT_TEMPERATURE,
                 chunk_size: int = 4096, name: Optional[str] = None, domain=DEFAULT_DOMAIN):
        self.domain = checked_domain(domain)
        self.classes = parse_classes(target_classes, domain=self.domain)
        temperature = check_temperature(temperature)
        super().__init__(decoder.latent_dim, name or f"posterior{list(self.classes)}@T={temperature:g}")
        self._freeze(decoder, classifier, chunk_size)
        self.temperature = temperature
        self._mask = torch.zeros(self.domain.num_classes, dtype=torch.bool)
        self._mask[list(self.classes)] = True

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log p_T(C | G(z))``, shape ``(N,)`` (differentiable in z)."""
        logits = self._logits(z) / self.temperature
        return torch.logsumexp(logits[:, self._mask.to(logits.device)], -1) - torch.logsumexp(logits, -1)
