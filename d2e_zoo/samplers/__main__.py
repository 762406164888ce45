"""Sample an energy from the command line and read how the run ended.

    python -m d2e_zoo.samplers gmm8 --method mala --stop settled
    python -m d2e_zoo.samplers "even and not 4" --prior mnist-gan --method mala --stop log-sobolev
    python -m d2e_zoo.samplers 3 --prior mnist-gan --method flow --save-grid flow3.png

ENERGY is a distribution of the 2D suite (``gmm8``, ``gmm40``, ``manywell32``, ...) or, with
``--prior``, a target expression over digits in that zoo generator's latent space (see
:mod:`d2e_zoo.energies.expression`). Chains start from ``N(0, init_std^2 I)`` (the prior for
latents). Printed: the run's report (steps, time, acceptance, stopping rule and why it
stopped, log-Sobolev estimate, energy settling diagnostic / R_t crossing) and a quality
number: W2^2 to exact samples for the 2D suite, the class mix and judge precision for digits.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

import torch

from ..argtypes import HelpFormatter, image_suffixes, one_of, output_file, positive_float, positive_int, zoo_name
from ..endpoints.toy import DISTRIBUTION_NAMES, get_distribution
from ..endpoints.base import DEFAULT_NEGATION_WEIGHT, EndpointError
from ..zoo.registry import BRIDGE_TEMPERATURE
from .run import SAMPLING_METHODS, STOP_RULES, sample
from .stopping import STOP_RULE_TYPES

logger = logging.getLogger(__name__)


def _latent_energy(expression: str, prior: str, temperature: float, weight: float):
    from ..energies.expression import ExpressionPosterior
    from ..zoo import get_entry, load
    from ..zoo.registry import energy_classifier

    domain = get_entry(prior).domain
    return ExpressionPosterior(load(prior), load(energy_classifier(domain)), expression, temperature, weight,
                               domain=domain)


def _digit_quality(energy, z: torch.Tensor, grid) -> dict:
    from ..evaluate import class_mix, classify
    from ..zoo import load
    from ..zoo.registry import judge as judge_of

    images = energy.decoder(z)
    judge = classify(load(judge_of(energy.domain.name)), images).argmax(-1)
    mix = class_mix(classify(energy.classifier, images).argmax(-1), energy.domain.num_classes)
    out = {"class_mix": [round(v, 4) for v in mix],
           "judge_precision": torch.isin(judge, torch.tensor(energy.classes)).double().mean().item(),
           "selected_classes": list(energy.classes)}
    if grid:
        from ..visual import image_grid, to_pil

        to_pil(image_grid(images[:64], nrow=8), scale=3).save(grid)
        logger.warning("saved %s", grid)
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.samplers", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("energy", help=f"2D suite: {', '.join(DISTRIBUTION_NAMES)}; with --prior: a digit expression")
    p.add_argument("--prior", default=None, type=zoo_name("generator"),
                   help="latent generator (mnist-gan, mnist-gan-z50, mnist-vae)")
    p.add_argument("--temperature", type=positive_float, default=BRIDGE_TEMPERATURE,
                   help="softmax temperature of the digit terms")
    p.add_argument("--weight", type=float, default=DEFAULT_NEGATION_WEIGHT,
                   help="weight of 'without' in digit expressions")
    p.add_argument("--method", choices=SAMPLING_METHODS, default="mala", help="sampler")
    p.add_argument("--stop", default=None, type=one_of(STOP_RULE_TYPES, "stopping rule"),
                   help="steps | settled | log-sobolev (Langevin); r_t | steps (flow)")
    p.add_argument("--num-samples", type=positive_int, default=1000, help="chains")
    p.add_argument("--steps", type=positive_int, default=200, help="steps for --stop steps")
    p.add_argument("--max-steps", type=positive_int, default=5000, help="cap of the stopping rules")
    p.add_argument("--step-size", type=positive_float, default=0.05, help="initial step (MALA adapts it per chain)")
    p.add_argument("--tolerance", type=positive_float, default=0.01, help="KL tolerance of the log-Sobolev rule")
    p.add_argument("--init-std", type=positive_float, default=1.0, help="chains start from N(0, init_std^2 I)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--save-grid", default=None, metavar="FILE.png", type=output_file(suffixes_from=image_suffixes),
                   help="digits: save 64 samples as a picture")
    p.add_argument("--save-samples", default=None, metavar="FILE.npz", type=output_file(".npz"),
                   help="save the samples (array x)")
    return p


def _check_combinations(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What one flag cannot check alone, before any model is loaded (exits with code 2)."""
    if not (math.isfinite(args.weight) and args.weight >= 0):
        p.error(f"argument --weight: must be a finite number >= 0, got {args.weight!r}")
    if args.stop is not None and args.stop not in STOP_RULES[args.method]:
        p.error(f"argument --stop: stopping rule {args.stop!r} does not apply to {args.method}; "
                f"valid: {', '.join(STOP_RULES[args.method])}")
    if args.save_grid and not args.prior:
        p.error("argument --save-grid: pictures are of digits; give --prior too")
    if args.prior:
        from ..domains import get_domain
        from ..energies.expression import parse_expression, selected_classes
        from ..zoo import get_entry

        domain = get_domain(get_entry(args.prior).domain)
        try:
            if not selected_classes(parse_expression(args.energy, domain)):
                p.error(f"argument energy: {args.energy!r} selects no {domain.noun}")
        except EndpointError as e:
            p.error(f"argument energy: {e}")
    elif args.energy not in DISTRIBUTION_NAMES:
        p.error(f"argument energy: unknown distribution {args.energy!r}; valid names: {', '.join(DISTRIBUTION_NAMES)} "
                "(or a digit expression with --prior)")


def main(argv=None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    _check_combinations(p, args)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    g = torch.Generator().manual_seed(args.seed)
    try:
        energy = (_latent_energy(args.energy, args.prior, args.temperature, args.weight) if args.prior
                  else get_distribution(args.energy).energy_view())
        res = sample(energy, num_samples=args.num_samples, method=args.method, stop=args.stop,
                     num_steps=args.steps, max_steps=args.max_steps, step_size=args.step_size,
                     tolerance=args.tolerance, init_std=args.init_std, generator=g, progress=not args.json)
    except (EndpointError, ValueError) as e:
        p.error(str(e))
    out = res.to_dict()
    if args.prior:
        out.update(_digit_quality(energy, res.samples, args.save_grid))
    else:
        truth = get_distribution(args.energy)
        if truth.has_samples:
            from ..metrics.w2 import w2_squared

            out["w2_squared"] = w2_squared(res.samples, truth.sample(len(res.samples), g))
    if args.save_samples:
        import numpy as np

        np.savez(args.save_samples, x=res.samples.numpy())
    if args.json:
        print(json.dumps(out))
    else:
        print(res.report())
        for key in ("w2_squared", "judge_precision", "class_mix"):
            if key in out:
                print(f"{key}: {out[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
