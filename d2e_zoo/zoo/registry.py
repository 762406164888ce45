"""The zoo's registry (timm-style): every named entry with typed metadata.

``list_models()`` gives the names; :func:`get_entry` the :class:`ZooEntry`. Model cards
and the parametrised tests are generated from these entries.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Optional

CLASS_NAMES = tuple(str(d) for d in range(10))
KINDS = ("generator", "classifier", "judge", "bridge")
DEFAULT_HUB_ORG = "d2e-zoo"
LICENSE = "mit"
ENERGY_CLASSIFIER = "mnist-classifier"  # the classifier whose softmax defines the zoo's energies
JUDGE = "mnist-judge"  # the independent classifier used only to evaluate
DEFAULT_REVISION = "main"  # until the Hub repositories exist; then each entry pins a commit
#: The softmax temperature T of every zoo bridge's target p_T(C | G(z)) (each bridge recipe's
#: ``[bridge] temperature``); the app and the command lines sample composed targets at it.
BRIDGE_TEMPERATURE = 0.5
#: The components a bridge shares with other bridges (fields of its :class:`ZooEntry` naming zoo
#: entries): the latent-to-image network (a zoo entry of kind ``generator``: GAN or VAE) and the
#: classifier whose softmax defines the energy. The zoo bundles each once; a bridge's folder may
#: leave them out, and loading passes them in.
SHARED_COMPONENTS = ("decoder", "classifier")


class UnknownModelError(KeyError):
    """A name that is not in the zoo."""

    def __str__(self):  # KeyError quotes its message; keep it readable
        return self.args[0]


@dataclass(frozen=True)
class ZooEntry:
    """What a zoo entry is.

    Attributes:
        name: the zoo name, e.g. ``mnist-even``.
        kind: ``generator`` (a latent generative model: GAN or VAE), ``classifier``, ``judge``
            or ``bridge``.
        description: one line for tables and model cards.
        latent_dim: latent dimension (generators and bridges).
        class_names: names of the classifier's classes.
        target_classes: bridges: the target class set C.
        source_classes: energy-to-energy bridges: the source class set (else None: N(0, I)).
        decoder, classifier: bridges: zoo names of the components they use (``decoder``: the
            latent-to-image network, a zoo entry of kind ``generator``; ``classifier``: the
            classifier whose softmax defines the energy).
        license: SPDX-style licence id of the weights.
        tags: free-form tags for model cards.
        revision: the Hub revision (branch, tag or commit hash) that ``load`` downloads; pin a
            commit hash once the repository exists, so a push to the repository cannot change
            what an installed version of the package loads.
    """

    name: str
    kind: str
    description: str
    latent_dim: Optional[int] = None
    class_names: tuple = CLASS_NAMES
    target_classes: tuple = ()
    source_classes: Optional[tuple] = None
    decoder: Optional[str] = None
    classifier: Optional[str] = None
    license: str = LICENSE
    tags: tuple = field(default_factory=tuple)
    revision: str = DEFAULT_REVISION

    @property
    def hub_repo(self) -> str:
        """Hub repository id: ``$D2E_ZOO_HUB_ORG/<name>`` (default org ``d2e-zoo``)."""
        return f"{os.environ.get('D2E_ZOO_HUB_ORG', DEFAULT_HUB_ORG)}/{self.name}"


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    if entry.kind not in KINDS:
        raise ValueError(f"unknown kind {entry.kind!r}; valid kinds: {', '.join(KINDS)}")
    if not isinstance(entry.revision, str) or not entry.revision.strip():
        raise ValueError(f"zoo entry {entry.name!r}: revision must be a non-empty string, got {entry.revision!r}")
    if entry.name in _REGISTRY:
        raise ValueError(f"zoo entry {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def list_models(pattern: Optional[str] = None, kind: Optional[str] = None) -> list[str]:
    """Names in the zoo, optionally filtered by a glob ``pattern`` and a ``kind``."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return [n for n, e in _REGISTRY.items()
            if (pattern is None or fnmatch.fnmatch(n, pattern)) and (kind is None or e.kind == kind)]


def get_entry(name: str) -> ZooEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown zoo model {name!r}; valid names: {', '.join(_REGISTRY)}") from None


def _digits(classes) -> str:
    return ", ".join(str(c) for c in classes)


def _register_defaults():
    register(ZooEntry("mnist-gan", "generator", "MLP GAN generator, 10-d latent, prior N(0, I)", latent_dim=10,
                      tags=("gan",)))
    register(ZooEntry("mnist-gan-z50", "generator", "MLP GAN generator, 50-d latent, prior N(0, I)",
                      latent_dim=50, tags=("gan",)))
    register(ZooEntry("mnist-vae", "generator", "MLP VAE (decoder = generator, encoder maps images to latents), "
                      "10-d latent", latent_dim=10, tags=("vae",)))
    register(ZooEntry("mnist-classifier", "classifier", "MLP digit classifier; its softmax defines the energies"))
    register(ZooEntry("mnist-judge", "judge", "small CNN digit classifier, used only to evaluate"))
    named = {"even": (0, 2, 4, 6, 8), "odd": (1, 3, 5, 7, 9)}
    targets = {**named, **{str(d): (d,) for d in range(10)}}
    for prior, dim, keys in (("mnist-gan", 10, list(targets)), ("mnist-vae", 10, ["even", "odd"]),
                             ("mnist-gan-z50", 50, ["even", "odd"])):
        prefix = "mnist" if prior == "mnist-gan" else prior
        for key in keys:
            classes = targets[key]
            what = f"{key} digits" if key in named else f"digit {key}"
            register(ZooEntry(f"{prefix}-{key}", "bridge",
                              f"data-to-energy bridge: {prior} prior N(0, I) -> {what} ({_digits(classes)})",
                              latent_dim=dim, target_classes=classes, decoder=prior,
                              classifier="mnist-classifier", tags=("d2e",)))
    register(ZooEntry("mnist-3-to-8", "bridge", "energy-to-energy bridge: posterior of digit 3 -> posterior of "
                      "digit 8 (mnist-gan latent)", latent_dim=10, target_classes=(8,), source_classes=(3,),
                      decoder="mnist-gan", classifier="mnist-classifier", tags=("e2e",)))


_register_defaults()
