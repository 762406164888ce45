"""d2e-zoo: data-to-energy stochastic dynamics (Schrödinger bridges and diffusion samplers
towards unnormalised densities) and a model zoo of data-free latent translators.

    import d2e_zoo
    d2e_zoo.list_models()                  # names in the zoo (list_models(domain="mnist"): one domain's)
    pipe = d2e_zoo.load("mnist-even")       # a diffusers DiffusionPipeline
    out = pipe(num_samples=16, generator=torch.Generator().manual_seed(0))

Sub-packages, one concept each: ``endpoints`` (the two ends of a bridge), ``dynamics``
(time grids, reference processes, Gaussian kernels, simulation), ``objectives`` (losses),
``exploration`` (Langevin kernels, replay buffer), ``samplers`` (ULA / MALA / gradient
flow on any energy, with stopping rules), ``ipf`` (the trainer and checkpoints), ``metrics``,
``benchmarks``, ``domains`` (what a kind of image is: class names, groups, data), ``data``
(MNIST, Fashion-MNIST), ``models`` (diffusers models), ``energies`` (classifier posteriors,
the energy algebra, class expressions), ``pipelines`` (the bridge
pipeline and scheduler), ``trainers`` (recipe-driven and live training), ``zoo`` (registry
and loading) and ``app`` (the Gradio demo).

The zoo API and the model classes are imported lazily, so the toy-2D tools do not pay for
importing diffusers.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load": "d2e_zoo.zoo", "list_models": "d2e_zoo.zoo", "get_entry": "d2e_zoo.zoo", "ModelInfo": "d2e_zoo.zoo",
    "ZooLoadError": "d2e_zoo.zoo", "UnknownModelError": "d2e_zoo.zoo",
    "D2EBridgePipeline": "d2e_zoo.pipelines", "BridgeScheduler": "d2e_zoo.pipelines",
    "BridgePipelineOutput": "d2e_zoo.pipelines",
    "MLPGenerator": "d2e_zoo.models", "MLPVAE": "d2e_zoo.models", "MLPClassifier": "d2e_zoo.models",
    "ConvClassifier": "d2e_zoo.models",
    "CNNJudge": "d2e_zoo.models", "BridgeDriftModel": "d2e_zoo.models", "MLPDiscriminator": "d2e_zoo.models",
    "ConvGenerator": "d2e_zoo.models", "ConvVAE": "d2e_zoo.models", "ConvDiscriminator": "d2e_zoo.models",
    "ClassifierPosterior": "d2e_zoo.energies", "ExpressionPosterior": "d2e_zoo.energies",
    "Domain": "d2e_zoo.domains", "DOMAINS": "d2e_zoo.domains", "get_domain": "d2e_zoo.domains",
}

__all__ = sorted(_LAZY)


def __getattr__(name):  # PEP 562: diffusers also finds the model classes here when loading
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'd2e_zoo' has no attribute {name!r}")
