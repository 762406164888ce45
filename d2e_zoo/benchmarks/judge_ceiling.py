"""How high can a bridge's judge precision go? The judge precision of the *exact* posterior.

    python -m d2e_zoo.benchmarks.judge_ceiling [--generators mnist-gan mnist-gan-z50 mnist-vae]
        [--targets even odd 0 1 ... 9] [--num-latents 100000] [--temperature 0.5] [--json [PATH]]

A bridge that samples its target p1(z) ∝ N(z; 0, I) p_T(C | G(z)) exactly has the judge
precision of the exact posterior, whatever the bridge. That number is a property of the
generator, the energy's classifier and T, not of the bridge. It is estimated here without
rejection: with z_i ~ N(0, I) and w_i = p_T(C | G(z_i)) (the rejection sampler's acceptance
probability),

    precision = sum_i w_i 1[judge(G(z_i)) in C] / sum_i w_i.

The same weighting applied to the real MNIST test images x_j, with w_j = p_T(C | x_j), gives
the precision this energy would have if the generator drew real digits. Comparing the two
separates what the classifier/judge disagreement costs on real images from what the
generator's ambiguous images cost. The table also gives the classifier/judge argmax
agreement and the judge's mean confidence on generated and on real images.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Sequence

import torch

from ..domains import DEFAULT_DOMAIN, get_domain
from ..endpoints.base import EndpointError
from ..energies import parse_classes
from ..zoo import load
from ..zoo.registry import BRIDGE_TEMPERATURE, UnknownModelError, domain_of, energy_classifier, get_entry, list_models
from ..zoo.registry import judge as judge_of
from ..argtypes import HelpFormatter, output_file, positive_float, positive_int, zoo_name

logger = logging.getLogger(__name__)

GENERATORS = ("mnist-gan", "mnist-gan-z50", "mnist-vae")
TARGETS = ("even", "odd", *(str(d) for d in range(10)))


def weighted_judge_precision(class_probs: torch.Tensor, judge_labels: torch.Tensor, classes,
                             domain=DEFAULT_DOMAIN) -> float:
    """``sum_i w_i 1[judge_labels_i in C] / sum_i w_i`` with ``w_i = sum_{c in C} class_probs[i, c]``.

    Args:
        class_probs: ``(N, K)`` tempered softmax of the energy's classifier, ``softmax(logits / T)``.
        judge_labels: ``(N,)`` the judge's argmax class of each image.
        classes: the target class set C (anything :func:`~d2e_zoo.energies.parse_classes` takes
            for ``domain``).
    """
    classes = torch.tensor(parse_classes(classes, domain=domain))
    if class_probs.ndim != 2 or class_probs.shape[0] != judge_labels.shape[0]:
        raise ValueError(f"class_probs must be (N, {get_domain(domain).num_classes}) and judge_labels (N,); got "
                         f"{tuple(class_probs.shape)} and {tuple(judge_labels.shape)}")
    w = class_probs[:, classes].sum(-1).double()
    if not w.sum() > 0:
        raise ValueError(f"the target set {classes.tolist()} has zero weight on every image")
    return float((w * torch.isin(judge_labels, classes).double()).sum() / w.sum())


@torch.no_grad()
def _logits(model, images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    model.eval()
    return torch.cat([model(images[i:i + chunk]) for i in range(0, len(images), chunk)])


@torch.no_grad()
def generate_images(decoder, num_latents: int, seed: int, chunk: int = 4096) -> torch.Tensor:
    """``num_latents`` images ``(n, 1, 28, 28)`` of ``decoder`` (a zoo generator's latent-to-image
    network) from ``z ~ N(0, I)`` drawn with ``seed``."""
    z = torch.randn(num_latents, decoder.latent_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([decoder(z[i:i + chunk]) for i in range(0, num_latents, chunk)])


def image_rows(images: torch.Tensor, classifier, judge, targets: Sequence[str], temperature: float,
               domain=DEFAULT_DOMAIN) -> dict:
    """Precision per target and the classifier/judge agreement on one set of images ``(N, 1, 28, 28)``."""
    clf_logits, judge_probs = _logits(classifier, images), _logits(judge, images).softmax(-1)
    probs, judge_labels = (clf_logits / temperature).softmax(-1), judge_probs.argmax(-1)
    return {"precision": {t: weighted_judge_precision(probs, judge_labels, t, domain) for t in targets},
            "agreement": float((clf_logits.argmax(-1) == judge_labels).double().mean()),
            "judge_confidence": float(judge_probs.max(-1).values.double().mean()),
            "num_images": len(images)}


def run_judge_ceiling(generators: Sequence[str] = GENERATORS, targets: Sequence[str] = TARGETS,
                      num_latents: int = 100_000, temperature: float = BRIDGE_TEMPERATURE, seed: int = 0) -> dict:
    """``{"real": rows, "<generator>": rows, ...}`` (see :func:`image_rows`). Every argument is
    checked before any model is loaded."""
    for name in generators:
        if get_entry(name).kind != "generator":
            raise ValueError(f"{name!r} is a zoo {get_entry(name).kind}, not a generator; "
                             f"valid: {', '.join(list_models(kind='generator'))}")
    domains = sorted({get_entry(name).domain for name in generators})
    if len(domains) > 1:
        raise ValueError(f"the generators belong to several domains ({', '.join(domains)}); compare one at a time")
    domain = domain_of(generators[0]) if generators else domain_of(GENERATORS[0])
    for t in targets:
        parse_classes(t, domain=domain)  # clear error on a bad target before any work
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if int(num_latents) != num_latents or num_latents < 1:
        raise ValueError(f"num_latents must be an integer >= 1, got {num_latents}")
    classifier, judge_model = load(energy_classifier(domain.name)), load(judge_of(domain.name))
    out = {"real": image_rows(domain.load("test").images, classifier, judge_model, targets, temperature, domain)}
    for name in generators:
        start = time.perf_counter()
        out[name] = image_rows(generate_images(load(name), num_latents, seed), classifier, judge_model, targets,
                               temperature, domain)
        logger.info("%s: %d latents in %.1f s", name, num_latents, time.perf_counter() - start)
    return out


def format_judge_ceiling_table(results: dict, targets: Sequence[str]) -> str:
    """A markdown table of :func:`run_judge_ceiling`'s results: one column per image source."""
    names = list(results)
    label = {n: ("real MNIST test images" if n == "real" else f"`{n}` exact posterior") for n in names}
    lines = ["| target | " + " | ".join(label[n] for n in names) + " |", "|---|" + "---|" * len(names)]
    for t in targets:
        lines.append(f"| {t} | " + " | ".join(f"{results[n]['precision'][t]:.3f}" for n in names) + " |")
    lines.append("| classifier/judge agreement | " + " | ".join(f"{results[n]['agreement']:.3f}" for n in names) + " |")
    lines.append("| judge mean confidence | " + " | ".join(f"{results[n]['judge_confidence']:.3f}" for n in names)
                 + " |")
    return "\n".join(lines)


def _target(text: str) -> str:
    """argparse type of ``--targets``: a class set :func:`~d2e_zoo.energies.parse_classes` accepts."""
    try:
        parse_classes(text)
    except EndpointError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.judge_ceiling",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--generators", nargs="+", type=zoo_name("generator"), default=list(GENERATORS),
                   help="zoo generators")
    p.add_argument("--targets", nargs="+", type=_target, default=list(TARGETS), help="target class sets")
    p.add_argument("--num-latents", type=positive_int, default=100_000, help="prior draws weighted per generator")
    p.add_argument("--temperature", type=positive_float, default=BRIDGE_TEMPERATURE, help="T of p_T(C | x)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--json", nargs="?", const="-", default=None, type=output_file(stdout=True),
                   help="write JSON (to PATH, or stdout)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        results = run_judge_ceiling(args.generators, args.targets, args.num_latents, args.temperature, args.seed)
    except (EndpointError, UnknownModelError, ValueError) as e:  # one clear line, no traceback
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(results, indent=2))
        return 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print(f"Judge precision of the exact posterior (T = {args.temperature}, {args.num_latents} latents per "
          "generator; real images weighted by the same p_T(C | x)):\n")
    print(format_judge_ceiling_table(results, args.targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
