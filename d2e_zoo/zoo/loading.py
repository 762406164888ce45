"""Load zoo entries by name: explicit path, then the Hugging Face Hub, then the bundled copy.

Resolution order for ``load(name)``:

1. ``path=...`` (a local folder in Hub layout) when given;
2. the Hub repository ``entry.hub_repo`` (or ``repo_id=...``) through
   ``huggingface_hub.snapshot_download``, which honours ``HF_HUB_OFFLINE`` and the cache;
   skipped when ``use_hub=False`` or ``D2E_ZOO_USE_HUB=0``;
3. the snapshot bundled in the package (``d2e_zoo/zoo/bundled/<name>``).

Weights are read only from safetensors; a folder holding pickled weights (``.bin``, ``.pt``,
``.pth``, ``.ckpt``, ``.pkl``) is refused.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .paths import bundled_dir
from .registry import ZooEntry, get_entry

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
COMPONENT_CLASSES = ("MLPGenerator", "MLPVAE", "MLPClassifier", "CNNJudge", "BridgeDriftModel")


class ZooLoadError(RuntimeError):
    """A zoo entry could not be loaded (missing, corrupted or unsafe files)."""


@dataclass(frozen=True)
class ModelInfo:
    """Typed metadata of a loaded zoo object (``obj.zoo_info``)."""

    name: str
    kind: str
    description: str
    latent_dim: Optional[int]
    class_names: tuple
    target_classes: tuple
    source_classes: Optional[tuple]
    temperature: Optional[float]
    data_source: str
    license: str
    hub_repo: str
    origin: str  # "path", "hub" or "bundled"
    location: str  # the folder it was loaded from


def _use_hub(use_hub: Optional[bool]) -> bool:
    if use_hub is not None:
        return use_hub
    return os.environ.get("D2E_ZOO_USE_HUB", "1").lower() not in ("0", "false", "no")


def resolve(name: str, path=None, repo_id: Optional[str] = None, revision: Optional[str] = None,
            use_hub: Optional[bool] = None) -> tuple[Path, str]:
    """``(folder, origin)`` for a zoo entry, following the resolution order above."""
    entry = get_entry(name)
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise ZooLoadError(f"{name}: the given path {str(folder)!r} is not a folder")
        return folder, "path"
    if _use_hub(use_hub):
        try:
            from huggingface_hub import snapshot_download

            folder = snapshot_download(repo_id or entry.hub_repo, revision=revision)
            return Path(folder), "hub"
        except Exception as e:  # offline, not cached, no such repo, network errors: fall back
            logger.info("%s: not available from the Hub (%s: %s); using the bundled copy", name,
                        type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    folder = bundled_dir() / name
    if not folder.is_dir():
        raise ZooLoadError(f"{name}: no bundled copy at {folder} and the Hub was not reachable")
    return folder, "bundled"


def check_no_pickles(folder: Path):
    """Refuse folders that carry pickled weights (we never unpickle)."""
    bad = [p for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    if bad:
        raise ZooLoadError(f"refusing to load {folder}: it holds pickled weight files "
                           f"({', '.join(p.name for p in bad[:3])}); only safetensors are accepted")


def read_training_info(name_or_folder) -> dict:
    """``training.json`` of a bundled entry or folder (recipe, data source, metrics); {} if absent."""
    folder = Path(name_or_folder)
    if not folder.is_dir():
        folder = bundled_dir() / str(name_or_folder)
    f = folder / "training.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _component_class(folder: Path):
    import d2e_zoo.models as models

    cfg = folder / "config.json"
    if not cfg.is_file():
        raise ZooLoadError(f"missing config.json in {folder}")
    try:
        cls_name = json.loads(cfg.read_text()).get("_class_name")
    except json.JSONDecodeError as e:
        raise ZooLoadError(f"corrupted config.json in {folder}: {e}") from None
    if cls_name not in COMPONENT_CLASSES:
        raise ZooLoadError(f"{folder}: unknown model class {cls_name!r}; valid: {', '.join(COMPONENT_CLASSES)}")
    return getattr(models, cls_name)


def load_model_folder(folder: Path):
    """A zoo model (generator, VAE, classifier, judge, drift model) from a folder, eval mode."""
    folder = Path(folder)
    check_no_pickles(folder)
    cls = _component_class(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    if not weights.is_file():
        raise ZooLoadError(f"missing weights {weights.name} in {folder}")
    try:
        model = cls.from_pretrained(str(folder), use_safetensors=True)
    except Exception as e:  # corrupted header, truncated file, shape mismatch
        raise ZooLoadError(f"could not load {cls.__name__} from {folder}: {type(e).__name__}: {e}") from None
    return model.eval()


def load_component(name_or_path: str, **kwargs):
    """A generator / classifier / judge by zoo name, or from a local folder path."""
    if Path(name_or_path).is_dir():
        return load_model_folder(Path(name_or_path))
    return load(name_or_path, **kwargs)


def _info(entry: ZooEntry, folder: Path, origin: str, temperature=None, target=None) -> ModelInfo:
    training = read_training_info(folder)
    if not training and entry.generator:
        training = {"data_source": read_training_info(entry.generator).get("data_source", "unknown")}
    return ModelInfo(name=entry.name, kind=entry.kind, description=entry.description, latent_dim=entry.latent_dim,
                     class_names=entry.class_names, target_classes=tuple(target or entry.target_classes),
                     source_classes=entry.source_classes, temperature=temperature,
                     data_source=training.get("data_source", "unknown"), license=entry.license,
                     hub_repo=entry.hub_repo, origin=origin, location=str(folder))


def load(name: str, path=None, repo_id: Optional[str] = None, revision: Optional[str] = None,
         use_hub: Optional[bool] = None, device=None):
    """Load a zoo entry by name (see the module docstring for where from).

    Returns the model (generators, classifiers, the judge) or a
    :class:`~d2e_zoo.pipelines.D2EBridgePipeline` (bridges), with typed metadata in
    ``.zoo_info`` (:class:`ModelInfo`).
    """
    entry = get_entry(name)
    folder, origin = resolve(name, path, repo_id, revision, use_hub)
    check_no_pickles(folder)
    if entry.kind != "bridge":
        obj = load_model_folder(folder)
        info = _info(entry, folder, origin)
    else:
        obj = _load_bridge(entry, folder, use_hub)
        info = _info(entry, folder, origin, obj.temperature, obj.target_classes)
    if device is not None:
        obj = obj.to(device)
    obj.zoo_info = info
    return obj


def _load_bridge(entry: ZooEntry, folder: Path, use_hub):
    if not (folder / "model_index.json").is_file():
        raise ZooLoadError(f"{entry.name}: missing model_index.json in {folder}")
    shared = {}
    for comp in ("generator", "classifier"):
        sub = folder / comp
        shared[comp] = (load_model_folder(sub) if sub.is_dir()
                        else load(getattr(entry, comp), use_hub=use_hub))
    for comp in ("bridge", "backward_bridge"):
        if (folder / comp).is_dir():
            shared[comp] = load_model_folder(folder / comp)
    try:
        return load_pipeline_folder(folder, **shared)
    except Exception as e:
        raise ZooLoadError(f"{entry.name}: could not load the pipeline from {folder}: "
                           f"{type(e).__name__}: {e}") from None


def load_pipeline_folder(folder: Path, **components):
    """``D2EBridgePipeline.from_pretrained`` (safetensors only) with the given components
    passed in and no loading progress bar; its sampling progress bar is off too."""
    from diffusers.utils import logging as diffusers_logging

    from ..pipelines import D2EBridgePipeline

    check_no_pickles(Path(folder))
    enabled = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()  # every component is already loaded: no bar needed
    try:
        pipe = D2EBridgePipeline.from_pretrained(str(folder), use_safetensors=True, **components)
    finally:
        if enabled:
            diffusers_logging.enable_progress_bar()
    pipe.set_progress_bar_config(disable=True)
    return pipe
