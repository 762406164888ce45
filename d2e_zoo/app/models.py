"""Zoo objects the app uses, loaded once per process and shared by all requests.

A bridge pipeline keeps its time grid in its scheduler, so one call at a time may run a given
pipeline: :func:`pipeline_lock` gives the lock to hold while sampling. Loading has two steps:
finding the folders (:func:`~d2e_zoo.zoo.loading.plan_load`, the only one that may use the
network, bounded by the Hub timeout) runs under a lock per name, so a stalled download delays
only the requests for that model; building the models from those folders is serialised under
one lock (about a second each): diffusers' lazy first import is not thread-safe.
"""

from __future__ import annotations

import logging
import threading

from ..zoo import ZooLoadError
from ..zoo.loading import build, plan_load
from ..domains import DEFAULT_DOMAIN
from ..zoo.registry import UnknownModelError, get_entry, judge
from .choices import InputError

logger = logging.getLogger(__name__)

_cache: dict = {}
_locks: dict = {}
_guard = threading.Lock()
_build_lock = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(name, threading.Lock())


def get_model(name: str):
    """The zoo object ``name`` (a pipeline, generator, VAE or the judge), loaded on first use.

    Raises :class:`InputError` with a readable message (no server paths) if it cannot be loaded."""
    obj = _cache.get(name)
    if obj is not None:
        return obj
    try:
        get_entry(name)  # before making a lock for the name
    except UnknownModelError as e:
        raise InputError(str(e)) from None
    with _lock_for("load:" + name):  # one download per name; other names go on meanwhile
        obj = _cache.get(name)
        if obj is None:
            try:
                plan = plan_load(name)  # network I/O (bounded): outside the build lock
                with _build_lock:
                    obj = build(plan)
            except ZooLoadError as e:  # the reason names server paths: for the log only
                logger.warning("%s could not be loaded: %s", name, e)
                raise InputError(f"Model: {name!r} could not be loaded in this installation (the server's log "
                                 "says why).") from None
            # debug: a fallback to the bundled copy was already reported in one line by the loader
            logger.debug("loaded %s (%s)", name, getattr(getattr(obj, "zoo_info", None), "origin", "?"))
            _cache[name] = obj
    return obj


def get_pipeline(bridge: str):
    """The :class:`~d2e_zoo.pipelines.D2EBridgePipeline` of a bridge."""
    return get_model(bridge)


def get_judge(domain: str = DEFAULT_DOMAIN):
    """``domain``'s judge (image -> ``K`` logits), used only to evaluate."""
    try:
        name = judge(domain)
    except (UnknownModelError, ValueError) as e:
        raise InputError(str(e)) from None
    return get_model(name)


def pipeline_lock(bridge: str) -> threading.Lock:
    """Hold this while running ``bridge``'s pipeline (its scheduler's grid is per call)."""
    return _lock_for("run:" + bridge)


def loaded() -> list[str]:
    """Names loaded so far in this process."""
    return sorted(_cache)
