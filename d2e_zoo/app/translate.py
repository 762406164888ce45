"""One seeded translation with everything the page shows, computed once and cached by run id.

``translate("mnist-even", num_samples=16, seed=0, steps=20)`` draws z0 from the bridge's
source, runs the learned bridge for ``steps`` steps keeping the whole latent path, decodes
every step (the frames of the animation and of the step slider), asks the judge for the
probability of the target set along the path, and computes the numbers (judge precision,
transport cost, time). The result is a pure function of ``(bridge, num_samples, seed, steps)``
(or of the given latents), so the run id names it and a later call (the step slider, an API
client) gets the same translation back from the cache or, if evicted, recomputed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..domains import DEFAULT_DOMAIN, get_domain
from ..zoo.registry import get_entry
from .choices import DEFAULT_STEPS, InputError, validate_request
from .deadline import Deadline
from .models import get_judge, get_pipeline, pipeline_lock

logger = logging.getLogger(__name__)

MAX_PROBES = 21  # the judge looks at most this many steps along the path (always the first and last)
CACHE_SIZE = 16

Progress = Optional[Callable[[float, str], None]]


@dataclass
class Translation:
    """A finished translation of ``N`` samples over ``K`` steps.

    Attributes:
        run_id: names this run (see :func:`make_run_id`); pass it to :func:`get_run`.
        bridge: zoo name of the bridge; ``target_classes`` / ``source_classes`` from its entry.
        times: ``(K+1,)`` grid times; ``trajectory``: ``(K+1, N, d)`` latents.
        frames: ``(K+1, N, 28, 28)`` uint8, the decoded image of every sample at every step
            (``frames[0]`` = G(z0), the sources; ``frames[-1]`` = G(z1), the translations).
        probe_steps: the steps the judge looked at; ``target_prob``: ``(len(probe_steps), N)``
            the judge's probability of the target set there.
        judge_labels: ``(N,)`` the judge's class index for each translation.
        metrics: the numbers (judge precision, transport cost, seconds, ...), JSON-ready.
    """

    run_id: str
    bridge: str
    target_classes: tuple
    source_classes: Optional[tuple]
    num_samples: int
    seed: int
    steps: int
    times: torch.Tensor
    trajectory: torch.Tensor
    frames: torch.Tensor
    probe_steps: list
    target_prob: torch.Tensor
    judge_labels: torch.Tensor
    metrics: dict = field(default_factory=dict)

    def images(self, step: int) -> torch.Tensor:
        """``(N, 1, 28, 28)`` float images in [0, 1] at ``step`` (0..K)."""
        return self.frames[step].unsqueeze(1).float() / 255.0

    @property
    def sources(self) -> torch.Tensor:
        return self.images(0)

    @property
    def translations(self) -> torch.Tensor:
        return self.images(self.steps)


_RUN_ID = re.compile(r"^(?P<bridge>[a-z0-9-]+)\|n=(?P<n>\d+)\|seed=(?P<seed>\d+)\|steps=(?P<steps>\d+)"
                     r"(?:\|z=(?P<z>[0-9a-f]{12}))?$")


def make_run_id(bridge: str, num_samples: int, seed: int, steps: int, latents: Optional[torch.Tensor] = None) -> str:
    """``mnist-even|n=16|seed=0|steps=20``; given latents add ``|z=<hash of the latents>``."""
    run_id = f"{bridge}|n={num_samples}|seed={seed}|steps={steps}"
    if latents is not None:
        digest = hashlib.sha1(latents.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()[:12]
        run_id += f"|z={digest}"
    return run_id


class _LRU:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self):
        with self.lock:
            self.items.clear()


_runs = _LRU(CACHE_SIZE)


def clear_cache() -> None:
    _runs.clear()


def probe_steps(steps: int, max_probes: int = MAX_PROBES) -> list[int]:
    """Up to ``max_probes`` steps in 0..steps, evenly spread, always with 0 and ``steps``."""
    if steps + 1 <= max_probes:
        return list(range(steps + 1))
    return sorted({round(i * steps / (max_probes - 1)) for i in range(max_probes)})


@torch.no_grad()
def judge_target_probability(judge, images: torch.Tensor, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's probability of the class set ``targets`` ``(N,)`` and its labels ``(N,)``."""
    probs = judge(images).softmax(-1)
    return probs[:, list(targets)].sum(-1), probs.argmax(-1)


def report_progress(progress: Progress, fraction: float, desc: str) -> None:
    """Call ``progress(fraction, desc)`` if a progress callback was given (fraction in [0, 1])."""
    if progress is not None:
        progress(fraction, desc)


@torch.no_grad()
def translate(bridge: str, num_samples: int = 16, seed: int = 0, steps: int = DEFAULT_STEPS,
              latents: Optional[torch.Tensor] = None, prior: Optional[str] = None, progress: Progress = None,
              use_cache: bool = True, deadline: Optional[Deadline] = None) -> Translation:
    """Translate ``num_samples`` source samples (or the given ``latents`` ``(N, d)``) with ``bridge``.

    Inputs are validated (:class:`~d2e_zoo.app.choices.InputError` with a readable message);
    ``prior``, when given, must be the bridge's decoder (its zoo name). ``progress(fraction, text)`` is
    called between stages; past ``deadline`` (default: the app's limit from now) it raises
    :class:`InputError`. Returns a :class:`Translation`, cached by its run id."""
    if latents is not None:
        if not isinstance(latents, torch.Tensor) or latents.dim() != 2:
            raise InputError("latents must be a tensor of shape (N, latent_dim)")
        num_samples = len(latents)
    bridge, n, seed, steps = validate_request(prior, bridge, num_samples, seed, steps)
    run_id = make_run_id(bridge, n, seed, steps, latents)
    if use_cache:
        hit = _runs.get(run_id)
        if hit is not None:
            return hit
    start = time.perf_counter()
    deadline = deadline or Deadline()
    report_progress(progress, 0.0, f"Loading {bridge}")
    pipe = get_pipeline(bridge)
    entry = get_entry(bridge)
    if latents is not None and latents.shape[1] != pipe.latent_dim:
        raise InputError(f"{bridge} works in a {pipe.latent_dim}-d latent space, got latents of shape "
                         f"{tuple(latents.shape)}")
    report_progress(progress, 0.1, f"Translating {n} samples over {steps} steps")
    g = torch.Generator().manual_seed(seed)
    with pipeline_lock(bridge):
        out = pipe(num_samples=None if latents is not None else n, latents=latents, generator=g,
                   num_inference_steps=steps, return_trajectory=True, decode=False, progress=False)
    bridge_seconds = time.perf_counter() - start
    deadline.check("running the bridge")
    domain = get_domain(entry.domain)
    source = ("given latents" if latents is not None else "N(0, I)" if entry.source_classes is None
              else f"posterior of {domain.noun}(s) {domain.join_names(entry.source_classes)}")
    result = build_translation(run_id, bridge, pipe.decode, out.trajectory, out.times, pipe.target_classes,
                               entry.source_classes, seed, start, progress,
                               {"bridge": bridge, "prior": entry.decoder, "source": source,
                                "seconds_bridge": bridge_seconds,
                                "origin": getattr(getattr(pipe, "zoo_info", None), "origin", "unknown")},
                               deadline, domain.name)
    if use_cache:
        _runs.put(run_id, result)
    return result


@torch.no_grad()
def build_translation(run_id: str, name: str, decode: Callable, trajectory: torch.Tensor, times: torch.Tensor,
                      targets, source_classes, seed: int, started: float, progress: Progress = None,
                      metrics: Optional[dict] = None, deadline: Optional[Deadline] = None,
                      domain: str = DEFAULT_DOMAIN) -> Translation:
    """Decode a latent path ``trajectory`` ``(K+1, N, d)``, ask ``domain``'s judge along it and
    compute the numbers: the part shared by bridges (zoo or freshly trained) and MALA runs. Past
    ``deadline`` (checked after decoding) it raises :class:`InputError`."""
    domain = get_domain(domain)
    if not bool(torch.isfinite(trajectory).all()):  # never judge (and show) black images of NaN latents
        raise RuntimeError(f"{name} produced non-finite latents (NaN or inf): its weights or its energy are "
                           "broken, so there is nothing to show")
    steps, n = trajectory.shape[0] - 1, trajectory.shape[1]
    report_progress(progress, 0.4, "Decoding every step")
    images = decode(trajectory.reshape(-1, trajectory.shape[-1]))  # ((K+1) N, 1, 28, 28)
    frames = (images.reshape(steps + 1, n, 28, 28) * 255).round().clamp(0, 255).to(torch.uint8)
    if deadline is not None:
        deadline.check("decoding the path")
    report_progress(progress, 0.6, "Asking the judge along the path")
    probes = probe_steps(steps)
    targets = tuple(targets)
    picked = images.reshape(steps + 1, n, 1, 28, 28)[probes].reshape(-1, 1, 28, 28)
    prob, labels = judge_target_probability(get_judge(domain.name), picked, targets)
    prob, labels = prob.reshape(len(probes), n), labels.reshape(len(probes), n)
    in_target = torch.isin(labels, torch.tensor(targets))
    metrics = {
        **(metrics or {}),
        "target_classes": list(targets),
        "num_samples": n,
        "seed": seed,
        "steps": steps,
        "judge_precision": in_target[-1].double().mean().item(),
        "judge_precision_source": in_target[0].double().mean().item(),
        "target_probability_source": prob[0].mean().item(),
        "target_probability": prob[-1].mean().item(),
        "transport_cost": ((trajectory[-1] - trajectory[0]) ** 2).sum(-1).mean().item(),
        "judge_counts": {domain.class_names[d]: int(c) for d, c in
                         enumerate(torch.bincount(labels[-1], minlength=domain.num_classes).tolist()) if c},
        "domain": domain.name,
        "seconds_compute": time.perf_counter() - started,
    }
    report_progress(progress, 0.7, "Rendering")
    return Translation(run_id=run_id, bridge=name, target_classes=targets, source_classes=source_classes,
                       num_samples=n, seed=seed, steps=steps, times=times.clone(), trajectory=trajectory,
                       frames=frames, probe_steps=probes, target_prob=prob, judge_labels=labels[-1],
                       metrics=metrics)


def remember(tr: Translation) -> Translation:
    """Keep ``tr`` in the run cache (for the step slider and /frame)."""
    _runs.put(tr.run_id, tr)
    return tr


def get_run(run_id: str) -> Translation:
    """The translation named ``run_id``: from the cache, or recomputed (same seed, same result).

    Runs of given latents (``|z=...``, e.g. a drawing) cannot be recomputed from their id:
    once evicted they raise :class:`InputError`."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise InputError("No translation yet: press Translate first.")
    run_id = run_id.strip()
    hit = _runs.get(run_id)
    if hit is not None:
        return hit
    if run_id.startswith(("compose:", "live:")):
        raise InputError("That run is no longer in memory (composed-target runs are kept for a while only): "
                         "press the button again.")
    m = _RUN_ID.match(run_id)
    if m is None:
        raise InputError(f"Not a run id: {run_id!r} (expected e.g. 'mnist-even|n=16|seed=0|steps=20').")
    if m.group("z"):
        raise InputError("That run is no longer in memory (runs of your own drawings are kept for a while "
                         "only): press the button again.")
    return translate(m.group("bridge"), int(m.group("n")), int(m.group("seed")), int(m.group("steps")))


def warm_up(names=("mnist-even",)) -> None:
    """Load ``names`` and the judge and run one tiny translation, so the first click is fast."""
    get_judge()
    for name in names:
        try:
            translate(name, num_samples=2, seed=0, steps=2, use_cache=False)
        except InputError as e:
            logger.warning("warm-up of %s skipped: %s", name, e)
