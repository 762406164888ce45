"""Trained bridge versus MCMC on the same classifier posterior: accuracy against wall clock.

    python -m d2e_zoo.benchmarks.bridge_vs_mcmc [--bridges mnist-even mnist-3] [--num-samples 2000]
        [--mala-steps 10 30 100 300 1000] [--step-size 0.05] [--settled-max-steps 2000]
        [--seed 0] [--json FILE]

For each zoo bridge, on its own target ``p1(z) ∝ N(z; 0, I) p_T(C | G(z))`` (docs/method.md section 5):

* exact posterior samples by rejection sampling give the reference class mix (drawn once);
  a second, independent rejection draw is both a baseline sampler (time, acceptance) and one
  realisation of the sampling-noise floor of the TV distance (two exact sample sets of this
  size differ by it); the floor's mean and 95 % quantile come from a parametric bootstrap;
* MALA from ``N(0, I)`` (the generator's prior, where the bridge starts too) with one chain
  per sample, for several fixed lengths K and with the two stopping rules; each row has its
  acceptance rate and the energy settling diagnostic (settled, split-R-hat);
* the trained bridge (its training steps), with its recorded training time stated apart.

Every row reports the total-variation distance of its class mix (labelled by the energy's
own classifier) to the exact mix, the judge's precision (``mnist-judge``: fraction of images
in the target classes) and wall-clock seconds per 1,000 samples. Times cover producing
decoded images: sampler plus decoding (the bridge pipeline decodes inside its call); the
labelling by the classifier and the judge is not timed. One torch thread by default.

Break-even: the bridge costs ``T_train + n c_bridge`` for ``n`` samples, a sampler with no
training ``n c``; the bridge is cheaper from ``n* = T_train / (c - c_bridge)`` samples on
(never when ``c <= c_bridge``). It is computed against the cheapest MALA setting whose TV is
at most the bridge's (or, if none reaches it, the MALA setting with the closest TV) and
against exact rejection sampling.

The stopping rules run as rows of their own: ``stop="settled"`` (the energy statistics settle)
and ``stop="log-sobolev"`` (the sufficient time ``log(KL_0 / eps) / (2 C_LS)`` with ``KL_0`` of
the prior start and ``C_LS`` from Bakry-Emery where the energy is convex, else from the
measured relaxation of the mean energy; see :mod:`d2e_zoo.samplers.log_sobolev`).
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

from ..evaluate import class_mix, classify, total_variation
from ..samplers import sample
from ..zoo import load
from ..zoo.loading import read_training_info
from ..zoo.registry import get_entry
from ..zoo.registry import judge as judge_of
from ..argtypes import HelpFormatter, output_file, positive_float, positive_int, zoo_name

logger = logging.getLogger("d2e_zoo.benchmarks.bridge_vs_mcmc")

DEFAULT_BRIDGES = ("mnist-even", "mnist-3")
MALA_STEP_COUNTS = (10, 30, 100, 300, 1000)


# ---------------------------------------------------------------------------------------
# break-even
# ---------------------------------------------------------------------------------------
def break_even_samples(train_seconds: float, bridge_per_1000: float, other_per_1000: float) -> float:
    """Samples ``n*`` from which ``T_train + n c_bridge < n c_other`` (costs in seconds per
    1,000 samples): ``1000 T_train / (c_other - c_bridge)``; ``inf`` when the other sampler is
    not more expensive per sample than the bridge."""
    if not train_seconds >= 0:
        raise ValueError(f"train_seconds must be >= 0, got {train_seconds!r}")
    gap = other_per_1000 - bridge_per_1000
    if gap <= 0:
        return math.inf
    return 1000.0 * train_seconds / gap


def break_even(train_seconds: float, bridge_per_1000: float, bridge_tv: float, mala_rows: Sequence[dict]) -> dict:
    """Break-even against MALA.

    ``mala_rows``: dicts with ``label``, ``seconds_per_1000`` and ``tv``. The reference is the
    cheapest row with ``tv <= bridge_tv`` (``matched=True``); if none, the row whose TV is
    closest to the bridge's (``matched=False``). Returns ``{"reference", "reference_tv",
    "reference_seconds_per_1000", "matched", "samples"}`` (``samples`` is ``inf`` for never).
    """
    if not mala_rows:
        raise ValueError("no MALA rows to compare against")
    matching = [r for r in mala_rows if r["tv"] <= bridge_tv]
    if matching:
        ref, matched = min(matching, key=lambda r: r["seconds_per_1000"]), True
    else:
        ref, matched = min(mala_rows, key=lambda r: (abs(r["tv"] - bridge_tv), r["seconds_per_1000"])), False
    return {"reference": ref["label"], "reference_tv": ref["tv"], "reference_seconds_per_1000": ref["seconds_per_1000"],
            "matched": matched, "samples": break_even_samples(train_seconds, bridge_per_1000, ref["seconds_per_1000"])}


def tv_noise_floor(mix: Sequence[float], num_samples: int, repeats: int = 500, seed: int = 0) -> dict:
    """TV between the class mixes of two independent ``num_samples``-draws from ``mix`` (a
    parametric bootstrap): ``{"mean", "q95"}``. TVs below ``q95`` cannot be told apart from
    an exact sampler's at this sample size."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.tensor(mix, dtype=torch.float64).clamp_min(0)
    draws = torch.multinomial(probs.expand(2 * repeats, -1), num_samples, replacement=True, generator=g)
    freq = torch.nn.functional.one_hot(draws, len(mix)).double().mean(1)  # (2 repeats, classes)
    tv = 0.5 * (freq[:repeats] - freq[repeats:]).abs().sum(-1)
    return {"mean": tv.mean().item(), "q95": tv.quantile(0.95).item(), "repeats": repeats}


def _fmt_n(n: float) -> str:
    return "never (it is not cheaper per sample)" if math.isinf(n) else f"{math.ceil(n):,} samples"


def describe_break_even(name: str, result: dict) -> list[str]:
    """Sentences (markdown) saying when the bridge pays for its training."""
    bridge = next(r for r in result["rows"] if r["method"] == "bridge")
    exact = next(r for r in result["rows"] if r["method"] == "rejection")
    train = result["train_seconds"]
    if train is None:
        return [f"No recorded training time for `{name}`: no break-even."]
    be = result["break_even"]
    lines = [(f"Bridge `{name}`: {bridge['seconds_per_1000']:.3f} s per 1,000 samples after {train:.0f} s of "
              f"training (one-off, recorded when it was trained); TV {bridge['tv']:.3f}, judge precision "
              f"{bridge['judge_precision']:.3f}.")]
    if be["matched"]:
        lines.append(f"Cheapest MALA setting with TV ≤ the bridge's: {be['reference']} (TV {be['reference_tv']:.3f}, "
                     f"{be['reference_seconds_per_1000']:.2f} s per 1,000). The bridge, training included, is cheaper "
                     f"from {_fmt_n(be['samples'])} on.")
    else:
        lines.append(f"No MALA setting reached the bridge's TV; the closest is {be['reference']} "
                     f"(TV {be['reference_tv']:.3f}, {be['reference_seconds_per_1000']:.2f} s per 1,000). Against it "
                     f"the bridge, training included, is cheaper from {_fmt_n(be['samples'])} on.")
    lines.append(f"Exact rejection sampling needs no training and is exact (its TV {exact['tv']:.3f} is one draw of "
                 f"the noise; {exact['seconds_per_1000']:.3f} s per 1,000, acceptance {exact['acceptance']:.3f}): "
                 f"the bridge, less accurate, is cheaper than it from {_fmt_n(result['break_even_rejection'])} on.")
    fl = result["tv_floor"]
    lines.append(f"TV noise floor at {result['num_samples']} samples (two independent exact draws, bootstrap): mean "
                 f"{fl['mean']:.3f}, 95 % {fl['q95']:.3f}; the bridge's TV {bridge['tv']:.3f} is "
                 f"{'within' if bridge['tv'] <= fl['q95'] else 'above'} it.")
    for r in result["rows"]:
        if r["method"] == "mala-settled":
            lines.append(f"Settling rule: {r['stop_reason']}.")
        if r["method"] == "mala-log-sobolev":
            ls = r["log_sobolev"]
            est = (f"C_LS ≈ {ls['constant']:.3g} by {ls['method']} ({ls['detail']})" if ls and ls["constant"]
                   else "no C_LS estimate")
            lines.append(f"Log-Sobolev rule: KL_0 = {r['kl0']:.3g} (prior to posterior), {est}; {r['stop_reason']}.")
    return lines


# ---------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def _labels(pipe, judge, images: torch.Tensor, targets: torch.Tensor) -> tuple[list[float], float]:
    mix = class_mix(classify(pipe.classifier, images).argmax(-1), pipe.domain.num_classes)
    precision = torch.isin(classify(judge, images).argmax(-1), targets).double().mean().item()
    return mix, precision


def compare(name: str, num_samples: int = 2000, mala_steps: Sequence[int] = MALA_STEP_COUNTS,
            step_size: float = 0.05, seed: int = 0, settled_max_steps: int = 2000, judge=None,
            log_sobolev: bool = True, tolerance: float = 0.01) -> dict:
    """All rows for one bridge (see the module docstring). Returns a JSON-able dict with
    ``rows`` (method, label, steps, seconds, seconds_per_1000, tv, judge_precision, class_mix,
    acceptance, settled, rhat, drift_z), ``exact_class_mix``, ``train_seconds``,
    ``break_even`` and ``break_even_rejection``; with ``log_sobolev`` a row for the log-Sobolev rule."""
    for arg, v in (("num_samples", num_samples), ("settled_max_steps", settled_max_steps),
                   *((f"mala_steps[{i}]", k) for i, k in enumerate(mala_steps))):
        if int(v) != v or v < 1:
            raise ValueError(f"{arg} must be an integer >= 1, got {v!r}")
    for arg, v in (("step_size", step_size), ("tolerance", tolerance)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{arg} must be a finite number > 0, got {v!r}")
    pipe = load(name)
    judge = judge if judge is not None else load(judge_of(get_entry(name).domain))
    energy = pipe.energy
    targets = torch.tensor(list(pipe.target_classes))

    def per_1000(seconds: float) -> float:
        return 1000.0 * seconds / num_samples
    rows = []

    # reference: exact posterior samples (draw A, untimed)
    exact_a, _ = energy.rejection_sample(num_samples, torch.Generator().manual_seed(seed))
    mix_exact, _ = _labels(pipe, judge, pipe.decode(exact_a), targets)

    def tv(mix) -> float:
        return total_variation(mix, mix_exact)

    # exact rejection sampling as a sampler (draw B, timed): also the TV noise floor
    logger.info("%s: exact rejection sampling, %d samples", name, num_samples)
    t0 = time.perf_counter()
    exact_b, acceptance = energy.rejection_sample(num_samples, torch.Generator().manual_seed(seed + 1))
    images = pipe.decode(exact_b)
    seconds = time.perf_counter() - t0
    mix, prec = _labels(pipe, judge, images, targets)
    rows.append({"method": "rejection", "label": "exact rejection (independent 2nd draw: its TV is noise)",
                 "steps": None,
                 "seconds": seconds, "seconds_per_1000": per_1000(seconds), "tv": tv(mix), "judge_precision": prec,
                 "class_mix": mix, "acceptance": acceptance, "settled": None, "rhat": None, "drift_z": None})

    # MALA from N(0, I): warm-up (autograd, allocator), then fixed lengths and the settled rule
    sample(energy, num_samples=16, method="mala", num_steps=2, step_size=step_size,
           generator=torch.Generator().manual_seed(seed))
    runs = [(f"MALA K={k}", "steps", int(k)) for k in mala_steps]
    runs.append((f"MALA settled (max {settled_max_steps})", "settled", int(settled_max_steps)))
    if log_sobolev:
        runs.append((f"MALA log-Sobolev time, eps={tolerance:g} (max {settled_max_steps})", "log-sobolev",
                     int(settled_max_steps)))
    for i, (label, stop, k) in enumerate(runs):
        logger.info("%s: %s, %d chains", name, label, num_samples)
        g = torch.Generator().manual_seed(seed + 100 + i)
        t0 = time.perf_counter()
        res = sample(energy, num_samples=num_samples, method="mala", stop=stop, num_steps=k, max_steps=k,
                     step_size=step_size, tolerance=tolerance, generator=g)
        images = pipe.decode(res.samples)
        seconds = time.perf_counter() - t0
        mix, prec = _labels(pipe, judge, images, targets)
        d = res.diagnostic
        rows.append({"method": {"steps": "mala", "settled": "mala-settled"}.get(stop, "mala-log-sobolev"),
                     "label": label, "steps": res.steps,
                     "seconds": seconds, "seconds_per_1000": per_1000(seconds), "tv": tv(mix), "judge_precision": prec,
                     "class_mix": mix, "acceptance": res.acceptance_rate, "settled": d.settled, "rhat": d.rhat,
                     "drift_z": d.drift_z, "mean_step_size": res.langevin_time / max(res.steps, 1),
                     "stop_reason": res.stop_reason, "kl0": res.kl0, "sufficient_time": res.sufficient_time,
                     "log_sobolev": None if res.log_sobolev is None else
                     {"method": res.log_sobolev.method, "constant": res.log_sobolev.constant,
                      "detail": res.log_sobolev.detail}})

    # the bridge: pipeline call (source draw, translation, decoding) after a warm-up call
    logger.info("%s: bridge, %d samples", name, num_samples)
    pipe(num_samples=64, generator=torch.Generator().manual_seed(seed + 2), progress=False)
    t0 = time.perf_counter()
    out = pipe(num_samples=num_samples, generator=torch.Generator().manual_seed(seed + 3), progress=False)
    seconds = time.perf_counter() - t0
    mix, prec = _labels(pipe, judge, out.images, targets)
    rows.append({"method": "bridge", "label": f"bridge `{name}`", "steps": pipe.scheduler.num_inference_steps,
                 "seconds": seconds, "seconds_per_1000": per_1000(seconds), "tv": tv(mix), "judge_precision": prec,
                 "class_mix": mix, "acceptance": None, "settled": None, "rhat": None, "drift_z": None})

    train_seconds = read_training_info(name).get("metrics", {}).get("train_seconds")
    bridge = rows[-1]
    mala_rows = [r for r in rows if r["method"].startswith("mala")]
    result = {"name": name, "target_classes": list(pipe.target_classes), "temperature": pipe.temperature,
              "num_samples": num_samples, "step_size": step_size, "seed": seed, "threads": torch.get_num_threads(),
              "exact_class_mix": mix_exact, "tv_floor": tv_noise_floor(mix_exact, num_samples, seed=seed),
              "train_seconds": train_seconds, "rows": rows,
              "break_even": None, "break_even_rejection": None}
    if train_seconds is not None:
        result["break_even"] = break_even(train_seconds, bridge["seconds_per_1000"], bridge["tv"], mala_rows)
        result["break_even_rejection"] = break_even_samples(train_seconds, bridge["seconds_per_1000"],
                                                            rows[0]["seconds_per_1000"])
    return result


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------
MCMC_TABLE_HEADER = ("| sampler | steps | s / 1,000 samples | TV class mix | judge precision | acceptance | settled "
                     "| R-hat | training |\n|---|---|---|---|---|---|---|---|---|")


def _cell(v, fmt: str) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, fmt)


def table(result: dict) -> str:
    lines = [MCMC_TABLE_HEADER]
    for r in result["rows"]:
        train = (f"{result['train_seconds']:.0f} s (one-off)" if r["method"] == "bridge"
                 and result["train_seconds"] is not None else "–")
        lines.append(f"| {r['label']} | {_cell(r['steps'], 'd')} | {r['seconds_per_1000']:.3f} | {r['tv']:.3f} | "
                     f"{r['judge_precision']:.3f} | {_cell(r['acceptance'], '.3f')} | {_cell(r['settled'], '')} | "
                     f"{_cell(r['rhat'], '.2f')} | {train} |")
    return "\n".join(lines)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.bridge_vs_mcmc", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--bridges", nargs="+", type=zoo_name("bridge"), default=list(DEFAULT_BRIDGES),
                   help="zoo bridges to compare")
    p.add_argument("--num-samples", type=positive_int, default=2000, help="samples (MALA chains) per row")
    p.add_argument("--mala-steps", type=positive_int, nargs="+", default=list(MALA_STEP_COUNTS),
                   help="MALA lengths K")
    p.add_argument("--step-size", type=positive_float, default=0.05, help="initial MALA step (adapted per chain)")
    p.add_argument("--settled-max-steps", type=positive_int, default=2000, help="cap of the stop='settled' MALA run")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (timings depend on it)")
    p.add_argument("--no-log-sobolev", action="store_true", help="skip the log-Sobolev sufficient-time estimate")
    p.add_argument("--json", default=None, metavar="FILE", type=output_file(),
                   help="also write every number to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    judges = {}  # one judge per domain, loaded once
    results = []
    for name in args.bridges:
        domain = get_entry(name).domain
        if domain not in judges:
            judges[domain] = load(judge_of(domain))
        results.append(compare(name, args.num_samples, args.mala_steps, args.step_size, args.seed,
                               args.settled_max_steps, judges[domain], log_sobolev=not args.no_log_sobolev))
        r = results[-1]
        print(f"\n### `{name}`: classes {r['target_classes']}, T = {r['temperature']:g}, {r['num_samples']} samples, "
              f"{r['threads']} torch thread(s)\n")
        print(table(r))
        print()
        for line in describe_break_even(name, r):
            print(f"* {line}")
        sys.stdout.flush()
    print("\nTimes: wall clock to produce decoded images (sampler + decoder; the pipeline call for the bridge), "
          "labelling not timed. TV: class mix (energy classifier) vs an exact rejection draw; the rejection row's TV "
          "is the sampling-noise floor between two exact draws.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(_json_safe({"args": vars(args), "results": results}), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
