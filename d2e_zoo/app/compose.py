"""Targets written as expressions ("even and not 4", "3 or 8", "even without 4"; over the class
names of the prior's domain, e.g. "footwear and not sandal"): sample them with the best
available tool, or train a bridge for them on the spot.

For a prior and an expression, :func:`sample_target` uses, in order:

1. a trained zoo bridge, when the expression is exactly a class set the zoo has a bridge for
   (``"0 or 2 or 4 or 6 or 8"`` is ``mnist-even``);
2. a bridge trained here earlier for the same prior, expression and weight (cached in memory
   and on disk, see :mod:`d2e_zoo.trainers.live`);
3. MALA on the composed energy ``N(z; 0, I) exp(-U_expr(z))`` from prior draws, with its
   settling diagnostic.

:func:`train_bridge` trains a bridge for the target (a couple of minutes, one at a time per
process) and translates with it. Every path returns a :class:`~.translate.Translation`, so the
page shows the same pictures and numbers for all three.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from typing import Optional

import torch

from ..energies import DEFAULT_NEGATION_WEIGHT, ExpressionError, ExpressionPosterior, parse_expression
from ..domains import DEFAULT_DOMAIN, get_domain
from ..energies.expression import OPERATOR_WORDS, exact_classes, selected_classes
from ..samplers import sample
from ..trainers.live import DEFAULT_MAX_SECONDS, cache_folder, live_recipe, load_cached, train_live_bridge
from ..zoo.registry import BRIDGE_TEMPERATURE, energy_classifier, get_entry, list_models
from .choices import DEFAULT_STEPS, EXCERPT_CHARS, LIMITS, InputError, as_int, check_prior, excerpt
from .deadline import Deadline, DeadlineSteps
from .models import get_model, pipeline_lock
from .translate import Progress, build_translation, remember, report_progress, translate

logger = logging.getLogger(__name__)

TEMPERATURE = BRIDGE_TEMPERATURE  # the softmax temperature of every zoo bridge
DEFAULT_EXPRESSION = "even and not 4"
DEFAULT_WEIGHT = DEFAULT_NEGATION_WEIGHT
COMPOSE_MALA_STEPS = 300  # about 2.5 s for 16 samples on one core; TV ~0.02 for even (bridge_vs_mcmc)
MALA_STEPS = (10, 2000)
MALA_STEP_SIZE = 0.05
FRAMES = 20  # MALA paths are shown at about this many points

_live: dict = {}
_training = threading.Lock()


_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*|\d+")


def _terms(expression: str) -> int:
    """How many class terms (words and numbers other than the operators) ``expression`` has."""
    return sum(1 for w in _WORD.findall(expression) if w.lower() not in OPERATOR_WORDS)


def _domain_of_prior(prior: str):
    return get_domain(get_entry(prior).domain)


def check_expression_size(expression: str, domain=DEFAULT_DOMAIN) -> str:
    """``expression`` if it is within the app's caps on length, terms and bracket depth
    (``LIMITS.expression_*``), else :class:`InputError` quoting only its first characters.
    Runs in time linear in the length, before the parser sees the text."""
    domain = get_domain(domain)
    if len(expression) > LIMITS.expression_chars:
        raise InputError(f"Target expression: {len(expression)} characters is too long; at most "
                         f"{LIMITS.expression_chars} are accepted (it begins {expression[:EXCERPT_CHARS]!r}…).")
    terms = _terms(expression)
    if terms > LIMITS.expression_terms:
        kind = f"{domain.noun} or class" if domain.noun != "class" else "class"
        group = next(iter(domain.groups))
        raise InputError(f"Target expression: {terms} {kind} terms are too many; at most "
                         f"{LIMITS.expression_terms} are accepted (write '{domain.comma_example}' or '{group}' for a "
                         f"set of {domain.noun}{'es' if domain.noun.endswith('s') else 's'}).")
    depth = deepest = 0
    for c in expression:
        depth += (c == "(") - (c == ")")
        deepest = max(deepest, depth)
    if deepest > LIMITS.expression_depth:
        raise InputError(f"Target expression: brackets nested {deepest} deep; at most {LIMITS.expression_depth} "
                         "levels are accepted.")
    return expression


def parse_target(expression, domain=DEFAULT_DOMAIN) -> object:
    """The parsed expression over ``domain``'s classes, or :class:`InputError` with the syntax
    (inputs beyond the caps of :func:`check_expression_size` are refused before parsing)."""
    domain = get_domain(domain)
    if not isinstance(expression, str) or not expression.strip():
        examples = [f"'{e}'" for e in domain.examples]
        raise InputError(f"Target expression: write a target, e.g. {', '.join(examples[:-1])} or {examples[-1]}.")
    check_expression_size(expression, domain)
    try:
        tree = parse_expression(expression, domain)
    except ExpressionError as e:
        raise InputError(f"Target expression: {e}") from None
    if not selected_classes(tree):
        first, second = (list(domain.groups)[:2] if len(domain.groups) > 2 else domain.slugs[:2])
        raise InputError(f"Target expression: {str(tree)!r} selects no {domain.noun} (e.g. '{first} and {second}'): "
                         "nothing to sample.")
    return tree


def check_weight(weight) -> float:
    try:
        w = float(weight)
    except (TypeError, ValueError):
        raise InputError(f"The weight of 'without' must be a number from 0 to 1, got {weight!r}.") from None
    if not 0.0 <= w <= 1.0:
        raise InputError(f"The weight of 'without' must be from 0 to 1, got {w:g}.")
    return w


def zoo_bridge_for(prior: str, tree) -> Optional[str]:
    """The zoo bridge on ``prior`` whose target is exactly this expression, if any."""
    classes = exact_classes(tree)
    if classes is None:
        return None
    for name in list_models(kind="bridge"):
        e = get_entry(name)
        if e.decoder == prior and e.source_classes is None and tuple(e.target_classes) == tuple(classes):
            return name
    return None


def training_budget() -> float:
    """Seconds a live training may take: ``$D2E_ZOO_LIVE_MAX_SECONDS`` or the default."""
    import os

    value = os.environ.get("D2E_ZOO_LIVE_MAX_SECONDS")
    return float(value) if value else DEFAULT_MAX_SECONDS


def live_recipe_for(prior: str, tree, weight: float):
    """The :class:`~d2e_zoo.trainers.recipe.Recipe` of a bridge trained here for ``tree`` on ``prior``."""
    # the weight only matters with 'without': other targets share one cached bridge whatever it is
    return live_recipe(prior, str(tree), TEMPERATURE, weight if "without" in str(tree) else DEFAULT_WEIGHT,
                       training_budget())


def live_bridge_for(prior: str, tree, weight: float):
    """A bridge trained here earlier for this target (memory, then disk cache), or None.

    A cache entry counts once it is complete (its ``live.json``, written last, is there). One
    that fails to load (a crash while writing, a truncated weight file) is moved aside to
    ``<key>.broken-<time>`` with one log line, and None is returned: the target falls back
    to MALA, and "Train a bridge" trains it again."""
    recipe = live_recipe_for(prior, tree, weight)
    folder = cache_folder(recipe)
    key = str(folder)
    if key not in _live:
        if not (folder / "live.json").is_file():
            if folder.exists():
                _move_aside(folder, "incomplete (no live.json)")
            return None
        try:
            pipe = load_cached(recipe)
        except Exception as e:  # any failure to read the files: the entry is unusable
            _move_aside(folder, f"{type(e).__name__}: {excerpt(str(e), 200)}")
            return None
        if pipe is None:
            return None
        _live[key] = pipe
    return _live[key]


def _move_aside(folder, why: str) -> None:
    aside = folder.with_name(f"{folder.name}.broken-{int(time.time())}")
    try:
        folder.rename(aside)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        aside = "(deleted)"
    logger.warning("cached live bridge %s could not be loaded (%s): moved to %s", folder.name, why, aside)


def describe(prior: str, expression, weight) -> dict:
    """What :func:`sample_target` would use for this target, without running anything."""
    check_prior(prior)
    domain = _domain_of_prior(prior)
    tree, w = parse_target(expression, domain), check_weight(weight)
    bridge = zoo_bridge_for(prior, tree)
    live = None if bridge else live_bridge_for(prior, tree, w)
    method = "zoo bridge" if bridge else "trained here" if live is not None else "MALA"
    classes = sorted(selected_classes(tree))
    return {"expression": str(tree), "digits": classes, "classes": classes,  # "digits": the older name
            "class_names": [domain.class_names[c] for c in classes], "domain": domain.name,
            "method": method, "bridge": bridge}


def _run_live(pipe, prior, tree, n, seed, progress: Progress):
    started = time.perf_counter()
    deadline = Deadline()
    g = torch.Generator().manual_seed(seed)
    with pipeline_lock(f"live:{prior}:{tree}"):  # a pipeline's scheduler grid is per call: one run at a time
        out = pipe(num_samples=n, generator=g, num_inference_steps=DEFAULT_STEPS, return_trajectory=True,
                   decode=False, progress=False)
    deadline.check("running the bridge")
    info = getattr(pipe, "live_info", {})
    metrics = {"bridge": f"bridge trained here for '{tree}'", "prior": prior, "source": "N(0, I)",
               "seconds_bridge": time.perf_counter() - started, "origin": "trained in this app",
               "train_seconds": info.get("train_seconds")}
    run_id = f"live:{prior}:{tree}|n={n}|seed={seed}"
    return remember(build_translation(run_id, metrics["bridge"], pipe.decode, out.trajectory, out.times,
                                      pipe.target_classes, None, seed, started, progress, metrics, deadline,
                                      _domain_of_prior(prior).name))


def _run_mala(prior, tree, weight, n, seed, mala_steps, progress: Progress):
    started = time.perf_counter()
    deadline = Deadline()
    decoder = get_model(prior)
    domain = _domain_of_prior(prior)
    energy = ExpressionPosterior(decoder, get_model(energy_classifier(domain.name)), tree, TEMPERATURE, weight)
    report_progress(progress, 0.1, f"MALA: {mala_steps} steps on {n} chains")
    g = torch.Generator().manual_seed(seed)
    stop = DeadlineSteps(mala_steps, deadline)
    res = sample(energy, num_samples=n, method="mala", stop=stop, step_size=MALA_STEP_SIZE,
                 record_every=max(1, mala_steps // FRAMES), check_every=max(5, mala_steps // 20),
                 min_steps=min(50, mala_steps), generator=g)
    diag = res.diagnostic
    metrics = {"bridge": f"MALA ({res.steps} steps, shown at {len(res.trajectory_steps) - 1} frames) on '{tree}'",
               "prior": prior, "source": "N(0, I)",
               "seconds_bridge": res.seconds, "origin": "MALA (no bridge for this target yet)",
               "mala_steps": res.steps, "mala_steps_asked": mala_steps, "mala_stopped_early": stop.stopped_early,
               "mala_acceptance": res.acceptance_rate,
               "energy_settled": diag.settled, "energy_rhat": diag.rhat, "energy_drift_z": diag.drift_z}
    times = torch.tensor(res.trajectory_steps, dtype=torch.float32) * MALA_STEP_SIZE
    run_id = f"compose:{prior}:{tree}:w={weight:g}|n={n}|seed={seed}|mala={mala_steps}"
    return remember(build_translation(run_id, metrics["bridge"], decoder, res.trajectory, times,
                                      energy.classes, None, seed, started, progress, metrics, Deadline(),
                                      domain.name))


def sample_target(prior: str, expression, weight=DEFAULT_WEIGHT, num_samples=16, seed=0,
                  mala_steps=COMPOSE_MALA_STEPS, progress: Progress = None):
    """Samples of the target ``expression`` on ``prior``: ``(Translation, method)`` with method
    ``"zoo bridge"``, ``"trained here"`` or ``"MALA"``."""
    check_prior(prior)
    tree, w = parse_target(expression, _domain_of_prior(prior)), check_weight(weight)
    n = as_int(num_samples, "Number of samples", LIMITS.samples)
    seed = as_int(seed, "Seed", LIMITS.seed)
    steps = as_int(mala_steps, "MALA steps", MALA_STEPS)
    bridge = zoo_bridge_for(prior, tree)
    if bridge is not None:
        return translate(bridge, n, seed, DEFAULT_STEPS, prior=prior, progress=progress), "zoo bridge"
    live = live_bridge_for(prior, tree, w)
    if live is not None:
        return _run_live(live, prior, tree, n, seed, progress), "trained here"
    return _run_mala(prior, tree, w, n, seed, steps, progress), "MALA"


def train_bridge(prior: str, expression, weight=DEFAULT_WEIGHT, num_samples=16, seed=0,
                 progress: Progress = None):
    """Train (or fetch from the cache) a bridge for the target and translate with it:
    ``(Translation, method)``. One training runs at a time; a second request gets a clear error."""
    check_prior(prior)
    tree, w = parse_target(expression, _domain_of_prior(prior)), check_weight(weight)
    n = as_int(num_samples, "Number of samples", LIMITS.samples)
    seed = as_int(seed, "Seed", LIMITS.seed)
    bridge = zoo_bridge_for(prior, tree)
    if bridge is not None:
        return translate(bridge, n, seed, DEFAULT_STEPS, prior=prior, progress=progress), "zoo bridge"
    live = live_bridge_for(prior, tree, w)
    if live is None:
        recipe = live_recipe_for(prior, tree, w)
        if not _training.acquire(blocking=False):
            raise InputError("Another bridge is being trained right now (one at a time): try again in a few "
                             "minutes, or sample this target with MALA meanwhile.")
        try:
            seconds = recipe.bridge.max_seconds
            report_progress(progress, 0.0, f"Training a bridge for '{tree}' (at most {seconds:.0f} s)")
            live = train_live_bridge(recipe, callback=lambda f, m: report_progress(progress, 0.9 * f, m))
        finally:
            _training.release()
        _live[str(cache_folder(recipe))] = live
    return _run_live(live, prior, tree, n, seed, progress), "trained here"
