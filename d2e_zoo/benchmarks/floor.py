"""The sampling floor of W2^2: two independent exact samples of one distribution.

    python -m d2e_zoo.benchmarks.floor --dist gmm8 --num-samples 4000 --repeats 5

A bridge whose W2^2 is within this spread is indistinguishable from exact sampling at
that sample size.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ..endpoints.toy import DISTRIBUTION_NAMES, get_distribution
from ..metrics.w2 import w2_squared
from ..argtypes import HelpFormatter, positive_int


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.floor", description=__doc__.split("\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--dist", required=True, choices=DISTRIBUTION_NAMES, help="the distribution")
    p.add_argument("--num-samples", type=positive_int, default=4000, help="samples on each side")
    p.add_argument("--repeats", type=positive_int, default=5, help="independent pairs of draws")
    args = p.parse_args(argv)
    dist = get_distribution(args.dist)
    values = []
    for seed in range(args.repeats):
        g = torch.Generator().manual_seed(seed)
        values.append(w2_squared(dist.sample(args.num_samples, g), dist.sample(args.num_samples, g)))
    t = torch.tensor(values)
    print(f"{args.dist}: W2^2 between two exact samples of {args.num_samples}: "
          f"mean {t.mean():.4f}, min {t.min():.4f}, max {t.max():.4f} over {args.repeats} repeats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
