"""Domains: what a kind of image *is* to the zoo (one object per data set).

A :class:`Domain` holds its name, where its images come from (with the official train/test
split), the image shape, the class names in the official label order (so class index ``c``
means the same thing everywhere: data, classifier logits ``(N, K)``, ``target_classes``), the
slugs people write in target expressions and entry names (``ankle-boot``), and named class
groups (``even``, ``footwear``). Energies, expressions, evaluation, model cards and the app
read class names from the domain instead of assuming digits.

    from d2e_zoo.domains import get_domain
    fashion = get_domain("fashion")
    fashion.parse_classes("footwear")        # (5, 7, 9)
    fashion.class_set_name((7,))             # "sneaker"

Adding a domain: write its loader (``split -> MNISTData``) under :mod:`d2e_zoo.data` and
:func:`register_domain` a :class:`Domain` (see docs/development.md, "Domains").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional

__all__ = ["DOMAINS", "DEFAULT_DOMAIN", "Domain", "DomainError", "FASHION", "MNIST", "get_domain", "register_domain",
           "slugify"]

DEFAULT_DOMAIN = "mnist"
#: The operators of target expressions (:mod:`d2e_zoo.energies.expression`): no class or group may be called so.
RESERVED_WORDS = frozenset({"and", "or", "not", "without"})
_WORD = r"[a-z]+(-[a-z]+)*"  # a slug or group name: lower-case words joined by '-'


class DomainError(ValueError):
    """An unknown domain, or a class name or set that a domain does not have."""


def slugify(name: str) -> str:
    """A class name as written in expressions and entry names: lower case, runs of anything other
    than letters and digits become one ``-``, and a ``/...`` alternative is dropped
    (``"T-shirt/top"`` -> ``t-shirt``, ``"Ankle boot"`` -> ``ankle-boot``)."""
    head = name.split("/")[0]
    return re.sub(r"[^a-z0-9]+", "-", head.lower()).strip("-")


@dataclass(frozen=True, eq=False)  # one object per domain: equal means the same
class Domain:
    """One image domain.

    Attributes:
        name: registry name (``mnist``, ``fashion``); also the prefix of its zoo entries.
        title: human name of the data set (``"Fashion-MNIST"``).
        class_names: ``K`` display names in the official label order (index = label).
        groups: named class sets, ``{"even": (0, 2, 4, 6, 8), ...}``; ``"all"`` is added.
        loader: ``split -> MNISTData`` (``images (N, C, H, W)`` in [0, 1], ``labels (N,)``),
            for ``split`` in ``("train", "test")``, the official split.
        image_shape: ``(C, H, W)`` of one image.
        noun: what one class is called in messages (``"digit"``, ``"class"``).
        data_description: one line for model cards: where the images come from.
        slugs: names written in expressions and entry names (default: :func:`slugify` of
            ``class_names``); lower case, unique: words joined by ``-``, or one digit.
        examples: target expressions shown in help texts (``"even and not 4"``).
        comma_example: a class set written with commas, for help texts (``"3,8"``).
        hub_dataset: the Hugging Face dataset id named in model cards (default ``name``).
        picture_box: how a drawn or uploaded picture is framed like the data: its ink, cropped,
            is fitted into a ``picture_box`` x ``picture_box`` square of the image (MNIST: 20, the
            digit's box, centre of mass in the middle; Fashion-MNIST: 28, the item fills the frame).
        centre_of_mass: centre the framed ink by its centre of mass (MNIST) rather than its box.
    """

    name: str
    title: str
    class_names: tuple
    groups: Mapping[str, tuple] = field(default_factory=dict)
    loader: Optional[Callable] = field(default=None, compare=False, repr=False)
    image_shape: tuple = (1, 28, 28)
    noun: str = "class"
    data_description: str = ""
    slugs: tuple = ()
    examples: tuple = ()
    comma_example: str = ""
    hub_dataset: str = ""
    picture_box: int = 20
    centre_of_mass: bool = True

    def __post_init__(self):
        names = tuple(self.class_names)
        if len(names) < 2:
            raise ValueError(f"domain {self.name!r}: needs at least 2 classes, got {names}")
        slugs = tuple(self.slugs) or tuple(slugify(n) for n in names)
        if len(slugs) != len(names) or len(set(slugs)) != len(slugs):
            raise ValueError(f"domain {self.name!r}: need one unique slug per class, got {slugs}")
        bad = [s for s in slugs if not re.fullmatch(rf"{_WORD}|\d", s) or s in RESERVED_WORDS]
        if bad:
            raise ValueError(f"domain {self.name!r}: slugs must be lower-case words joined by '-' or one digit, "
                             f"and not one of {', '.join(sorted(RESERVED_WORDS))}; got {bad}")
        groups = {k: tuple(sorted(set(v))) for k, v in self.groups.items()}
        groups["all"] = tuple(range(len(names)))
        for key, members in groups.items():
            if (key in slugs or key in RESERVED_WORDS or not re.fullmatch(_WORD, key) or not members
                    or not all(isinstance(c, int) and 0 <= c < len(names) for c in members)):
                raise ValueError(f"domain {self.name!r}: group {key!r} = {members} must be a non-empty set of "
                                 f"class indices 0-{len(names) - 1}, named by lower-case words joined by '-' "
                                 "that are not a class slug or an operator")
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "slugs", slugs)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "examples", tuple(self.examples) or (slugs[0], f"{slugs[0]} or {slugs[1]}"))
        object.__setattr__(self, "comma_example", self.comma_example or f"{slugs[0]},{slugs[1]}")
        object.__setattr__(self, "hub_dataset", self.hub_dataset or self.name)

    # ------------------------------------------------------------------- classes --
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def all_classes(self) -> frozenset:
        return frozenset(range(self.num_classes))

    @property
    def numeric(self) -> bool:
        """True when the classes are written as digits (MNIST)."""
        return all(s.isdigit() for s in self.slugs)

    @property
    def valid_range(self) -> str:
        return f"0-{self.num_classes - 1}"

    def vocabulary(self) -> str:
        """The words that name class sets, for error messages: ``even, odd, all or a digit 0-9``."""
        groups = ", ".join(self.groups)
        if self.numeric:
            return f"{groups} or a {self.noun} {self.valid_range}"
        return f"{groups} or a {self.noun} name ({', '.join(self.slugs)})"

    def class_index(self, word: str) -> int:
        """The index of one class slug (case-insensitive), else :class:`DomainError` listing them."""
        key = word.strip().lower() if isinstance(word, str) else word
        if key in self.slugs:
            return self.slugs.index(key)
        raise DomainError(f"{word!r} is not a {self.noun} of {self.name} (expected {self.vocabulary()})")

    def words(self) -> dict:
        """Every word that names a class set: ``{word: class indices}`` (groups and slugs)."""
        return {**self.groups, **{s: (i,) for i, s in enumerate(self.slugs)}}

    def parse_classes(self, classes, what: str = "target classes") -> tuple:
        """A class set as a sorted tuple of indices, from a group or slug (``"even"``,
        ``"footwear"``, ``"ankle-boot"``), slugs joined by commas (``"3,8"``,
        ``"sneaker,bag"``), class indices written as numbers (``"7"``) or an iterable of ints in
        ``0..K-1``; :class:`DomainError` otherwise."""
        if isinstance(classes, str):
            words = self.words()
            parts = [p.strip().lower() for p in classes.split(",") if p.strip()]
            if len(parts) == 1 and parts[0] in self.groups:
                return self.groups[parts[0]]
            if not all((p in words and p not in self.groups) or re.fullmatch(r"-?\d+", p) for p in parts):
                raise DomainError(f"invalid {what} {classes!r}: use {self._set_syntax()}")
            classes = [self.slugs.index(p) if p in self.slugs else int(p) for p in parts]  # slugs, else indices
        try:
            out = tuple(sorted({int(c) for c in classes}))
        except (TypeError, ValueError):
            expected = f"{self.noun}s {self.valid_range}" if self.numeric else f"class indices {self.valid_range}"
            raise DomainError(f"invalid {what} {classes!r}: expected {expected}") from None
        if not out:
            raise DomainError(f"{what} must not be empty; valid classes are {self.valid_range}")
        bad = [c for c in out if not 0 <= c < self.num_classes]
        if bad:
            raise DomainError(f"{what} {bad} outside the valid range {self.valid_range}")
        return out

    def _set_syntax(self) -> str:
        quoted = ", ".join(f"'{g}'" for g in self.groups)
        if self.numeric:
            return f"{quoted} or {self.noun}s {self.valid_range} separated by commas"
        return f"{quoted} or class names ({', '.join(self.slugs)}) separated by commas"

    def describe_class_list(self, classes: Iterable[int]) -> str:
        """Classes as listed in model cards: ``3, 8`` (digits) or ``Sneaker (7), Bag (8)``."""
        key = tuple(sorted(set(classes)))
        if self.numeric:
            return ", ".join(self.class_names[c] for c in key)
        return ", ".join(f"{self.class_names[c]} ({c})" for c in key)

    def class_set_name(self, classes: Iterable[int]) -> str:
        """How a class set is written in expressions: its group name if it is one, else its
        slugs joined by commas (``"even"``, ``"3,8"``, ``"sneaker"``)."""
        key = tuple(sorted(set(classes)))
        for group, members in self.groups.items():
            if members == key and len(key) > 1:
                return group
        return ",".join(self.slugs[c] for c in key)

    def join_names(self, classes: Iterable[int]) -> str:
        """Class names of a set, for labels: ``3 8`` (digits) or ``Sneaker, Ankle boot``."""
        names = [self.class_names[c] for c in sorted(set(classes))]
        return " ".join(names) if self.numeric else ", ".join(names)

    def describe_classes(self, classes: Iterable[int]) -> str:
        """A readable label for a class set: ``even digits (0 2 4 6 8)``, ``digit 5``,
        ``footwear (Sandal, Sneaker, Ankle boot)``, ``Sneaker``."""
        key = tuple(sorted(set(classes)))
        joined = self.join_names(key)
        group = next((g for g, m in self.groups.items() if m == key and len(key) > 1), None)
        if self.numeric:
            if group is not None:
                return f"{group} {self.noun}s ({joined})"
            return f"{self.noun} {joined}" if len(key) == 1 else f"{self.noun}s {joined}"
        return f"{group} ({joined})" if group is not None else joined

    # ---------------------------------------------------------------------- data --
    def load(self, split: str = "train", **kwargs):
        """The ``split`` (``"train"`` or ``"test"``, the official split) as
        :class:`~d2e_zoo.data.MNISTData` (``images (N, C, H, W)`` in [0, 1], ``labels (N,)``)."""
        if self.loader is None:
            raise DomainError(f"domain {self.name!r} has no data loader")
        return self.loader(split, **kwargs)


def _load_mnist(split: str = "train", **kwargs):
    from .data.mnist import load_mnist

    return load_mnist(split, **kwargs)


def _load_fashion(split: str = "train", root=None, source: str = "auto"):
    from .data.fashion_mnist import load_fashion_mnist
    from .data.mnist import MNISTData

    if source != "auto":
        raise DomainError(f"unknown Fashion-MNIST source {source!r}; valid sources: auto (the IDX files)")

    images, labels = load_fashion_mnist(split, root)
    return MNISTData(images, labels, f"fashion-mnist:{split}")


MNIST = Domain(
    name="mnist", title="MNIST", class_names=tuple(str(d) for d in range(10)),
    groups={"even": (0, 2, 4, 6, 8), "odd": (1, 3, 5, 7, 9)}, loader=_load_mnist, noun="digit",
    data_description="MNIST-style 28x28 grayscale digits",
    examples=("even and not 4", "3 or 8", "even without 4"), comma_example="3,8")

FASHION = Domain(
    name="fashion", title="Fashion-MNIST",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    groups={"footwear": (5, 7, 9), "tops": (0, 2, 4, 6)}, loader=_load_fashion, noun="class",
    data_description="Fashion-MNIST-style 28x28 grayscale pictures of clothing",
    examples=("footwear and not sandal", "sneaker or ankle-boot", "tops without shirt"), comma_example="sneaker,bag",
    hub_dataset="fashion_mnist", picture_box=28, centre_of_mass=False)

DOMAINS: dict = {}


def register_domain(domain: Domain) -> Domain:
    if domain.name in DOMAINS:
        raise ValueError(f"domain {domain.name!r} is already registered")
    DOMAINS[domain.name] = domain
    return domain


def get_domain(name) -> Domain:
    """The :class:`Domain` called ``name`` (a :class:`Domain` is returned as is); unknown names
    raise :class:`DomainError` listing the valid ones."""
    if isinstance(name, Domain):
        return name
    try:
        return DOMAINS[name]
    except (KeyError, TypeError):
        raise DomainError(f"unknown domain {name!r}; valid domains: {', '.join(DOMAINS)}") from None


register_domain(MNIST)
register_domain(FASHION)
