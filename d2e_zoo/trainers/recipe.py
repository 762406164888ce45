"""Training recipes: TOML files naming everything that defines a checkpoint, read into typed,
validated :class:`Recipe` objects.

::

    name = "mnist-gan"            # the zoo name the run produces
    kind = "gan"                  # classifier | judge | gan | vae | bridge
    seed = 0
    data_source = "auto"          # MNIST source (see d2e_zoo.data.mnist)
    architecture = "conv"         # gan / vae: "conv" (convolutional) or "mlp"; default "mlp"
    [model]                       # step kinds: keyword arguments of the model class
    [discriminator]               # gan, conv vae: keyword arguments of the discriminator class
    [train]                       # step kinds: num_steps, checkpoint_every, log_every and the
                                  #   keyword arguments of the task (batch_size, lr, ...)
    [bridge]                      # bridges: BridgeSpec fields (decoder, classifier, target, ...)
    [ipf]                         # bridges: IPFConfig fields (the seed is the recipe's)

:meth:`Recipe.from_dict` is the one way in (TOML files, the ``recipe`` of a ``training.json``,
live recipes): an unknown section or key is a :class:`RecipeError` that names the valid ones,
and every value is range-checked (the dataclasses check themselves) before any data is read
or any model is built. :meth:`Recipe.to_dict` is the JSON form written into ``training.json``
and checkpoints, with every default filled in; ``Recipe.from_dict(r.to_dict()) == r``.
The defaults of ``[model]``, ``[discriminator]`` and the task's ``[train]`` keys are those of
the classes they are passed to (not repeated here).

Recipes are looked up by name in ``$D2E_ZOO_RECIPES`` (folders separated by ``os.pathsep``),
then among the recipes shipped inside the package (``d2e_zoo/recipes/*.toml``, package data
read with :mod:`importlib.resources`); a path to a file is read as given. Nothing outside the
package is read unless named by the environment variable or by path.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..energies.algebra import DEFAULT_NEGATION_WEIGHT
from ..energies.classifier_posterior import DEFAULT_TEMPERATURE
from ..ipf.config import IPFConfig

logger = logging.getLogger(__name__)

STEP_KINDS = ("classifier", "judge", "gan", "vae")
RECIPE_KINDS = (*STEP_KINDS, "bridge")
SECTIONS_OF_KIND = {"classifier": ("model", "train"), "judge": ("model", "train"),
                    "gan": ("model", "discriminator", "train"), "vae": ("model", "discriminator", "train"),
                    "bridge": ("bridge", "ipf")}
SECTIONS = ("model", "discriminator", "train", "bridge", "ipf")
TOP_LEVEL_KEYS = ("name", "kind", "seed", "data_source", "architecture", "recipe_file")
#: the network families of the generator kinds (``architecture``); other kinds have one
ARCHITECTURES = {"gan": ("mlp", "conv"), "vae": ("mlp", "conv"), "classifier": ("mlp", "conv")}
DEFAULT_ARCHITECTURE = "mlp"  # what records written before ``architecture`` existed used
RECIPES_ENV = "D2E_ZOO_RECIPES"
PACKAGE_RECIPES = "recipes"  # d2e_zoo/recipes: the recipes shipped as package data

# numbers in [model], [discriminator] and the task's [train] keys are finite and >= 0; these are > 0
POSITIVE_KEYS = ("batch_size", "lr", "latent_dim", "hidden", "channels", "pack")
#: ``[bridge]`` keys without a default.
REQUIRED_BRIDGE_KEYS = ("decoder", "classifier", "target")
#: Old ``[bridge]`` keys (in the ``training.json`` of older snapshots) -> today's.
LEGACY_BRIDGE_KEYS = {"generator": "decoder"}

__all__ = ["BridgeSpec", "RECIPE_KINDS", "Recipe", "RecipeError", "STEP_KINDS", "TrainSpec", "as_recipe",
           "available_recipes", "find_recipe", "load_recipe", "recipe_dirs", "step_constructors"]


class RecipeError(ValueError):
    """A missing or invalid recipe."""


def _need(condition: bool, message: str):
    if not condition:
        raise RecipeError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_keys(values: Mapping, valid, where: str):
    """Refuse keys of ``values`` not in ``valid``, naming the valid ones."""
    unknown = sorted(set(values) - set(valid))
    _need(not unknown, f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                       f"valid keys: {', '.join(sorted(valid))}")


# ---------------------------------------------------------------------------- sections --
@dataclass(frozen=True)
class TrainSpec:
    """``[train]`` of a step kind: the run's length and bookkeeping, and ``options``, the
    task's keyword arguments (``batch_size``, ``lr``, ...; their defaults are the task's).

    ``num_steps`` optimiser steps; a resumable checkpoint every ``checkpoint_every`` steps;
    running means logged every ``log_every`` steps.
    """

    num_steps: int = 1000
    checkpoint_every: int = 1000
    log_every: int = 100
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("num_steps", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            _need(_is_int(value) and value >= 1, f"[train]: {name} must be an integer >= 1, got {value!r}")
        _need(isinstance(self.options, dict), f"[train]: options must be a dict, got {type(self.options).__name__}")
        own = sorted(set(self.options) & {"num_steps", "checkpoint_every", "log_every"})
        _need(not own, f"[train]: {', '.join(own)} are TrainSpec fields, not task options")

    @classmethod
    def from_section(cls, section: Mapping) -> "TrainSpec":
        own = {f.name for f in fields(cls)} - {"options"}
        return cls(**{k: v for k, v in section.items() if k in own},
                   options={k: copy.deepcopy(v) for k, v in section.items() if k not in own})

    def to_dict(self) -> dict:
        return {"num_steps": self.num_steps, "checkpoint_every": self.checkpoint_every, "log_every": self.log_every,
                **copy.deepcopy(self.options)}


@dataclass(frozen=True)
class BridgeSpec:
    """``[bridge]`` of a bridge recipe.

    Attributes:
        decoder, classifier: zoo names or folders of the latent-to-image network G (a GAN
            generator or a VAE) and of the classifier whose softmax defines the energy. Older
            records name the decoder ``generator`` (:data:`LEGACY_BRIDGE_KEYS`); :meth:`from_section`
            reads them.
        target: the target, a class set (``"even"``, ``"3"``, ``"3 or 8"``) or an expression
            (``"even and not 4"``, see :mod:`d2e_zoo.energies.expression`).
        source: None (the source is N(0, I), data-to-energy) or a class set (energy-to-energy).
        temperature: softmax temperature T > 0 of the posteriors p_T(C | G(z)).
        negation_weight: the weight of ``without`` in the target expression (>= 0).
        max_seconds: a cap on the training time (None: the IPF schedule alone decides).
        threads: torch CPU threads while training (small networks: one is fastest).
    """

    decoder: str
    classifier: str
    target: str
    source: Optional[str] = None
    temperature: float = DEFAULT_TEMPERATURE
    negation_weight: float = DEFAULT_NEGATION_WEIGHT
    max_seconds: Optional[float] = None
    threads: int = 1

    def __post_init__(self):
        from ..endpoints.base import EndpointError
        from ..energies import ExpressionError, parse_classes, parse_expression

        for name in REQUIRED_BRIDGE_KEYS:
            value = getattr(self, name)
            _need(isinstance(value, str) and value.strip() != "",
                  f"[bridge]: {name} must be a non-empty string, got {value!r}")
        _need(self.source is None or (isinstance(self.source, str) and self.source.strip() != ""),
              f"[bridge]: source must be a class set such as \"3\" or \"even\" (or absent), got {self.source!r}")
        domain = self.domain
        try:
            parse_classes(self.target, domain=domain)
        except EndpointError:
            try:
                parse_expression(self.target, domain)
            except ExpressionError as e:
                raise RecipeError(f"[bridge]: target {self.target!r}: {e}") from None
        if self.source is not None:
            try:
                parse_classes(self.source, "source classes", domain)
            except EndpointError as e:
                raise RecipeError(f"[bridge]: source {self.source!r}: {e}") from None
        _need(_is_number(self.temperature) and math.isfinite(self.temperature) and self.temperature > 0,
              f"[bridge]: temperature must be a finite number > 0, got {self.temperature!r}")
        _need(_is_number(self.negation_weight) and math.isfinite(self.negation_weight) and self.negation_weight >= 0,
              f"[bridge]: negation_weight must be a finite number >= 0, got {self.negation_weight!r}")
        _need(self.max_seconds is None or (_is_number(self.max_seconds) and math.isfinite(self.max_seconds)
                                           and self.max_seconds > 0),
              f"[bridge]: max_seconds must be a finite number > 0 (or absent), got {self.max_seconds!r}")
        _need(_is_int(self.threads) and self.threads >= 1, f"[bridge]: threads must be an integer >= 1, got "
                                                             f"{self.threads!r}")

    @property
    def domain(self) -> str:
        """The domain whose class names ``target`` and ``source`` use: that of the decoder's zoo
        entry, else of the classifier's; MNIST when both are folders."""
        from ..zoo.registry import DEFAULT_DOMAIN, UnknownModelError, get_entry

        for name in (self.decoder, self.classifier):
            try:
                return get_entry(name).domain
            except UnknownModelError:
                continue
        return DEFAULT_DOMAIN

    @classmethod
    def from_section(cls, section: Mapping, where: str = "recipe") -> "BridgeSpec":
        """The spec of a ``[bridge]`` table: unknown or missing keys are a :class:`RecipeError`
        naming the valid ones. An old key of :data:`LEGACY_BRIDGE_KEYS` (``generator``) is read
        as its new name (``decoder``); giving both is an error."""
        section = dict(section)
        for old, new in LEGACY_BRIDGE_KEYS.items():
            if old in section:
                _need(new not in section, f"{where} [bridge]: both {new!r} and its old name {old!r} are given; "
                                          f"keep only {new!r}")
                logger.debug("%s [bridge]: reading the old key %r as %r", where, old, new)
                section[new] = section.pop(old)
        valid = [f.name for f in fields(cls)]
        _check_keys(section, valid, f"{where} [bridge]")
        missing = [k for k in REQUIRED_BRIDGE_KEYS if k not in section]
        _need(not missing, f"{where} [bridge]: missing {', '.join(map(repr, missing))} (required: "
                           f"{', '.join(REQUIRED_BRIDGE_KEYS)}; valid keys: {', '.join(sorted(valid))})")
        return cls(**section)


def step_constructors(kind: str, architecture: str = DEFAULT_ARCHITECTURE) -> dict:
    """The classes the sections of a step kind are keyword arguments of:
    ``{"model": model class, "train": task class}`` (and ``"discriminator"`` for a GAN and a conv VAE);
    ``architecture`` picks the network family of a gan, vae or classifier (:data:`ARCHITECTURES`)."""
    from ..models import (CNNJudge, ConvClassifier, ConvDiscriminator, ConvGenerator, ConvVAE, MLPClassifier,
                          MLPDiscriminator, MLPGenerator, MLPVAE)
    from .gan import GANTask
    from .supervised import ClassifierTask
    from .vae import VAETask

    table = {("classifier", "mlp"): {"model": MLPClassifier, "train": ClassifierTask},
             ("classifier", "conv"): {"model": ConvClassifier, "train": ClassifierTask},
             ("judge", "mlp"): {"model": CNNJudge, "train": ClassifierTask},
             ("gan", "mlp"): {"model": MLPGenerator, "discriminator": MLPDiscriminator, "train": GANTask},
             ("gan", "conv"): {"model": ConvGenerator, "discriminator": ConvDiscriminator, "train": GANTask},
             ("vae", "mlp"): {"model": MLPVAE, "train": VAETask},
             ("vae", "conv"): {"model": ConvVAE, "discriminator": ConvDiscriminator, "train": VAETask}}
    _need(kind in STEP_KINDS, f"kind {kind!r} is not a step-based kind; step-based kinds: {', '.join(STEP_KINDS)}")
    valid = ARCHITECTURES.get(kind, (DEFAULT_ARCHITECTURE,))
    _need(architecture in valid, f"kind {kind!r} has no architecture {architecture!r}; valid: {', '.join(valid)}")
    return table[kind, architecture]


def _keyword_defaults(cls) -> dict:
    """``{name: default}`` of the keyword parameters (those with a default) of ``cls``."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}


def _check_numbers(value, key: str, where: str):
    """Finite and >= 0 (> 0 for :data:`POSITIVE_KEYS`), elementwise for lists."""
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_numbers(v, key, where)
    elif _is_number(value):
        low_ok = value > 0 if key in POSITIVE_KEYS else value >= 0
        _need(math.isfinite(value) and low_ok,
              f"{where}: {key} must be finite and {'> 0' if key in POSITIVE_KEYS else '>= 0'}, got {value!r}")


def _check_type(key: str, value, default, where: str):
    """``value`` has the type of ``default`` (a number or None where the default is None); numbers are finite."""
    if default is None:
        ok, kind = value is None or _is_number(value), "a number (or absent)"
    elif isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = _is_int(value), "an integer"
    elif isinstance(default, float):
        ok, kind = _is_number(value), "a number"
    elif isinstance(default, (tuple, list)):
        ok, kind = isinstance(value, (tuple, list)), "a list"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        ok, kind = True, "of its default's kind"
    _need(ok, f"{where}: {key} must be {kind}, got {value!r}")
    _need(not (_is_number(value) and not math.isfinite(value)), f"{where}: {key} must be finite, got {value!r}")


def _check_kwargs(values: Mapping, cls, where: str, reserved=()):
    """Keys of ``values`` are keyword parameters of ``cls`` (not ``reserved``); each value has
    the type of the parameter's default (:func:`_check_type`) and passes :func:`_check_numbers`."""
    defaults = {k: v for k, v in _keyword_defaults(cls).items() if k not in reserved}
    _check_keys(values, [*defaults, *reserved], where)
    for key, value in values.items():
        _check_type(key, value, defaults[key], where)
        _check_numbers(value, key, where)


# ------------------------------------------------------------------------------ recipe --
@dataclass(frozen=True)
class Recipe:
    """A validated training recipe (see the module docstring for the file format).

    Attributes:
        name: the zoo name the run produces.
        kind: one of :data:`RECIPE_KINDS`.
        seed: the run's seed (also the IPF seed of a bridge).
        data_source: the MNIST source of step kinds (see :mod:`d2e_zoo.data.mnist`).
        architecture: the network family of a gan, vae or classifier (:data:`ARCHITECTURES`).
        model, discriminator: keyword arguments of the model (and discriminator, for a GAN or a conv VAE) class.
        train: step kinds: :class:`TrainSpec` (None for a bridge).
        bridge, ipf: bridges: :class:`BridgeSpec` and :class:`~d2e_zoo.ipf.IPFConfig` (None otherwise).
        recipe_file: the file the recipe was read from (its name only), if any.
    """

    name: str
    kind: str
    seed: int = 0
    data_source: str = "auto"
    architecture: str = DEFAULT_ARCHITECTURE
    model: dict = field(default_factory=dict)
    discriminator: dict = field(default_factory=dict)
    train: Optional[TrainSpec] = None
    bridge: Optional[BridgeSpec] = None
    ipf: Optional[IPFConfig] = None
    recipe_file: Optional[str] = None

    def __post_init__(self):
        from ..data.mnist import SOURCES

        _need(isinstance(self.name, str) and self.name.strip() != "", f"name must be a non-empty string, got "
                                                                       f"{self.name!r}")
        where = f"recipe {self.name!r}"
        _need(self.kind in RECIPE_KINDS, f"{where}: unknown kind {self.kind!r}; valid kinds: {', '.join(RECIPE_KINDS)}")
        _need(_is_int(self.seed) and self.seed >= 0, f"{where}: seed must be an integer >= 0, got {self.seed!r}")
        _need(self.data_source in SOURCES,
              f"{where}: unknown data_source {self.data_source!r}; valid sources: {', '.join(SOURCES)}")
        valid = ARCHITECTURES.get(self.kind, (DEFAULT_ARCHITECTURE,))
        _need(self.architecture in valid, f"{where}: unknown architecture {self.architecture!r} for kind "
                                          f"{self.kind!r}; valid: {', '.join(valid)}")
        if self.kind == "bridge":
            _need(not self.model and not self.discriminator and self.train is None,
                  f"{where}: a bridge recipe has no [model], [discriminator] or [train]; its sections: [bridge], [ipf]")
            _need(isinstance(self.bridge, BridgeSpec),
                  f"{where}: a bridge recipe needs a [bridge] table with decoder, classifier and target")
            if self.ipf is None:
                object.__setattr__(self, "ipf", IPFConfig(seed=self.seed))
            _need(isinstance(self.ipf, IPFConfig), f"{where}: ipf must be an IPFConfig, got {type(self.ipf).__name__}")
            _need(self.ipf.seed == self.seed, f"{where}: the IPF seed ({self.ipf.seed}) must be the recipe's seed "
                                              f"({self.seed})")
            return
        _need(self.bridge is None and self.ipf is None,
              f"{where}: [bridge] and [ipf] belong to bridge recipes; sections of kind {self.kind!r}: "
              f"{', '.join(f'[{s}]' for s in SECTIONS_OF_KIND[self.kind])}")
        if self.train is None:
            object.__setattr__(self, "train", TrainSpec())
        _need(isinstance(self.train, TrainSpec), f"{where}: train must be a TrainSpec, got "
                                                 f"{type(self.train).__name__}")
        classes = step_constructors(self.kind, self.architecture)
        _need("discriminator" in classes or not self.discriminator,
              f"{where}: [discriminator] belongs to gan recipes and conv vae recipes (architecture = \"conv\"); "
              f"this is kind {self.kind!r}, architecture {self.architecture!r}")
        _check_kwargs(self.model, classes["model"], f"{where} [model]")
        if "discriminator" in classes:
            _check_kwargs(self.discriminator, classes["discriminator"], f"{where} [discriminator]")
        reserved = tuple(f.name for f in fields(TrainSpec) if f.name != "options")
        _check_kwargs(self.train.options, classes["train"], f"{where} [train]", reserved=reserved)

    # -------------------------------------------------------------------- conversions --
    @classmethod
    def from_dict(cls, raw: Mapping, origin: Optional[str] = None) -> "Recipe":
        """The recipe of a TOML table or a ``training.json`` ``recipe`` (``origin`` names it in
        errors). Empty sections that a kind does not use are accepted (older records have them)."""
        _need(isinstance(raw, Mapping), f"a recipe must be a table, got {type(raw).__name__}")
        where = f"recipe {origin or raw.get('name', '?')!r}"
        _check_keys(raw, [*TOP_LEVEL_KEYS, *SECTIONS], f"{where} (top level)")
        for key in ("name", "kind"):
            _need(key in raw, f"{where}: no {key!r}")
        kind = raw["kind"]
        _need(kind in RECIPE_KINDS, f"{where}: unknown kind {kind!r}; valid kinds: {', '.join(RECIPE_KINDS)}")
        sections = {}
        for s in SECTIONS:
            value = raw.get(s)
            _need(value is None or isinstance(value, Mapping), f"{where}: [{s}] must be a table, got {value!r}")
            sections[s] = dict(value or {})
        unused = [s for s in SECTIONS if sections[s] and s not in SECTIONS_OF_KIND[kind]]
        _need(not unused, f"{where}: section [{unused[0] if unused else ''}] does not apply to kind {kind!r}; "
                          f"valid sections: {', '.join(f'[{s}]' for s in SECTIONS_OF_KIND[kind])}")
        top = {k: raw[k] for k in ("seed", "data_source", "architecture", "recipe_file") if k in raw}
        try:
            if kind != "bridge":
                return cls(name=raw["name"], kind=kind, model=copy.deepcopy(sections["model"]),
                           discriminator=copy.deepcopy(sections["discriminator"]),
                           train=TrainSpec.from_section(sections["train"]), **top)
            bridge = BridgeSpec.from_section(sections["bridge"], where)
            ipf = sections["ipf"]
            defaults = {f.name: f.default for f in fields(IPFConfig) if f.name != "seed"}
            _check_keys(ipf, defaults, f"{where} [ipf] (the seed is the recipe's top-level seed)")
            for key, value in ipf.items():
                _check_type(key, value, defaults[key], f"{where} [ipf]")
            seed = top.get("seed", 0)
            try:
                ipf_config = IPFConfig.from_dict({**ipf, "seed": seed})
            except (ValueError, TypeError) as e:
                raise RecipeError(f"{where} [ipf]: {e}") from None
            return cls(name=raw["name"], kind=kind, bridge=bridge, ipf=ipf_config, **top)
        except RecipeError as e:  # name the origin (a file) in errors of the dataclasses
            message, own = str(e), f"recipe {raw['name']!r}"
            if message.startswith(own):
                message = message[len(own):]
            elif not message.startswith(where):
                message = " " + message
            else:
                raise
            raise RecipeError(where + message) from None

    def to_dict(self) -> dict:
        """The JSON form (every default filled in); :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "seed": self.seed,
                               "data_source": self.data_source}
        if self.kind == "bridge":
            out["bridge"] = asdict(self.bridge)
            out["ipf"] = {k: v for k, v in self.ipf.to_dict().items() if k != "seed"}
        else:
            if self.kind in ARCHITECTURES:
                out["architecture"] = self.architecture
            out["model"] = copy.deepcopy(self.model)
            if "discriminator" in step_constructors(self.kind, self.architecture):
                out["discriminator"] = copy.deepcopy(self.discriminator)
            out["train"] = self.train.to_dict()
        if self.recipe_file is not None:
            out["recipe_file"] = self.recipe_file
        return out

    def with_overrides(self, seed: Optional[int] = None, num_steps: Optional[int] = None,
                       max_seconds: Optional[float] = None) -> "Recipe":
        """A validated copy with the command line's overrides (None: keep the recipe's value).
        ``num_steps`` is ``[train] num_steps`` of a step kind; ``max_seconds`` the time cap of a bridge."""
        d = self.to_dict()
        if seed is not None:
            d["seed"] = seed
        if num_steps is not None:
            _need(self.kind != "bridge", f"recipe {self.name!r}: num_steps sets [train] num_steps of step-based "
                                         "recipes; a bridge trains for its [ipf] schedule (cap it with max_seconds)")
            d["train"]["num_steps"] = num_steps
        if max_seconds is not None:
            _need(self.kind == "bridge", f"recipe {self.name!r}: max_seconds caps the training of bridge recipes; "
                                         f"a {self.kind} recipe trains for [train] num_steps")
            d["bridge"]["max_seconds"] = max_seconds
        return Recipe.from_dict(d, origin=self.name)


def as_recipe(recipe: Union[Recipe, Mapping]) -> Recipe:
    """``recipe`` itself, or the :class:`Recipe` of a dict (through :meth:`Recipe.from_dict`)."""
    return recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)


# ---------------------------------------------------------------------------- lookup --
def recipe_dirs() -> list:
    """Where recipe names are looked up, in order: the folders of ``$D2E_ZOO_RECIPES``, then
    the package's ``recipes`` folder (an :mod:`importlib.resources` traversable)."""
    dirs: list = [Path(p) for p in os.environ.get(RECIPES_ENV, "").split(os.pathsep) if p]
    dirs.append(resources.files("d2e_zoo").joinpath(PACKAGE_RECIPES))
    return dirs


def available_recipes() -> list[str]:
    """Names of every recipe found in :func:`recipe_dirs`."""
    names = set()
    for folder in recipe_dirs():
        if folder.is_dir():
            names.update(p.name[:-len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml") and p.is_file())
    return sorted(names)


def find_recipe(name: str):
    """The file of the recipe named ``name`` (the first of :func:`recipe_dirs` that has it)."""
    for folder in recipe_dirs():
        candidate = folder.joinpath(f"{name}.toml")
        if candidate.is_file():
            return candidate
    raise RecipeError(f"unknown recipe {name!r}; valid recipes: {', '.join(available_recipes())} "
                      f"(or a path to a .toml file)")


def load_recipe(name_or_path: Union[str, os.PathLike]) -> Recipe:
    """Read and validate a recipe by file path or by name (``mnist-gan`` ->
    ``d2e_zoo/recipes/mnist-gan.toml``, see :func:`recipe_dirs`)."""
    path = Path(name_or_path)
    text = str(name_or_path)
    if path.is_file():
        source = path
    elif path.suffix == ".toml" or "/" in text or os.sep in text:
        raise RecipeError(f"no recipe file {text!r}; valid recipe names: {', '.join(available_recipes())}")
    else:
        source = find_recipe(text)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"invalid TOML in recipe {str(source)!r}: {e}") from None
    return Recipe.from_dict({**raw, "recipe_file": source.name}, origin=str(source))
