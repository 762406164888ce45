"""d2e-zoo: data-to-energy stochastic dynamics (Schrödinger bridges and diffusion samplers
towards unnormalised densities).

Sub-packages, one concept each: ``endpoints`` (the two ends of a bridge), ``dynamics``
(time grids, reference processes, Gaussian kernels, simulation), ``objectives`` (losses),
``exploration`` (Langevin samplers, replay buffer), ``ipf`` (the trainer and checkpoints),
``metrics`` and ``benchmarks``.
"""

__version__ = "0.1.0"
