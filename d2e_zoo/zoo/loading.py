"""Load zoo entries by name: explicit path, then the Hugging Face Hub, then the bundled copy.

Resolution order for ``load(name)``:

1. ``path=...`` (a local folder in Hub layout) when given;
2. the Hub repository ``entry.hub_repo`` (or ``repo_id=...``) at ``entry.revision`` (or
   ``revision=...``) through ``huggingface_hub.snapshot_download``, which honours
   ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and the cache; skipped when ``use_hub=False`` or
   ``D2E_ZOO_USE_HUB=0``;
3. the snapshot bundled in the package (``d2e_zoo/zoo/bundled/<name>``).

All Hub requests of one ``load`` call (a bridge and the components it names) share one
deadline, ``hub_timeout=`` seconds or ``$D2E_ZOO_HUB_TIMEOUT`` (default 10): a Hub that
accepts the connection and never answers costs at most that long, then the Hub cache and the
bundled copy are used, with one log line saying so. Network I/O happens only in
:func:`plan_load`; :func:`build` reads local folders only, so a caller may construct models under
a lock without holding it during downloads.

Snapshots saved before the latent-to-image network was named ``decoder`` (a bridge folder whose
``model_index.json`` lists a ``generator`` component, maybe with a ``generator/`` subfolder) load
too: :func:`load_pipeline_folder` reads them under today's names (:data:`LEGACY_COMPONENTS`).

Weights are read only from safetensors; a folder holding pickled weights (``.bin``, ``.pt``,
``.pth``, ``.ckpt``, ``.pkl``) is refused, as are non-finite weights and configs whose values
are out of range (checked before any model is built).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .hub import HubBudget
from .paths import bundled_dir
from .registry import SHARED_COMPONENTS, ZooEntry, get_entry

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
COMPONENT_CLASSES = ("MLPGenerator", "MLPVAE", "ConvGenerator", "ConvVAE", "MLPClassifier", "ConvClassifier",
                     "CNNJudge", "BridgeDriftModel")
MAX_PARAMETERS = 100_000_000  # about 400 MB of float32: far above any zoo model (the largest has ~1.5 M)
#: Component names of older snapshots -> today's (``generator`` meant the latent-to-image network;
#: it now means only a ``torch.Generator``, as in diffusers).
LEGACY_COMPONENTS = {"generator": "decoder"}


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
    domain: str = "mnist"  # the d2e_zoo.domains.Domain whose class names class_names are
    version: int = 1  # the registry entry's version (ZooEntry.version)


@dataclass(frozen=True)
class LoadPlan:
    """Where a zoo entry (and, for a bridge, each component not inside its folder) is read from.

    Made by :func:`plan_load` (which does all network I/O); turned into models by :func:`build`."""

    entry: ZooEntry
    folder: Path
    origin: str  # "path", "hub" or "bundled"
    components: dict = field(default_factory=dict)  # bridges: {"decoder": LoadPlan, "classifier": LoadPlan}


def _locate(entry: ZooEntry, path, repo_id: Optional[str], revision: Optional[str],
            budget: HubBudget) -> tuple[Path, str]:
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise ZooLoadError(f"{entry.name}: the given path {str(folder)!r} is not a folder")
        return folder, "path"
    folder = budget.fetch(repo_id or entry.hub_repo, revision or entry.revision)
    if folder is not None:
        return folder, "hub"
    folder = bundled_dir() / entry.name
    if not folder.is_dir():
        raise ZooLoadError(f"{entry.name}: no bundled copy at {folder} and the Hub was not reachable")
    if budget.enabled:
        budget.bundled.append(entry.name)
    return folder, "bundled"


def component_folder(folder: Path, role: str) -> Optional[Path]:
    """The subfolder of a pipeline folder holding the component ``role``: ``folder/role``, else
    the folder of its old name (:data:`LEGACY_COMPONENTS`, e.g. ``generator/`` for ``decoder``),
    else None (a shared component left out of the folder)."""
    names = [role] + [old for old, new in LEGACY_COMPONENTS.items() if new == role]
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def _plan(entry: ZooEntry, path, repo_id, revision, budget: HubBudget) -> LoadPlan:
    folder, origin = _locate(entry, path, repo_id, revision, budget)
    components = {}
    if entry.kind == "bridge":
        for role in SHARED_COMPONENTS:
            if component_folder(folder, role) is None:
                components[role] = _plan(get_entry(getattr(entry, role)), None, None, None, budget)
    return LoadPlan(entry, folder, origin, components)


def plan_load(name: str, path=None, repo_id: Optional[str] = None, revision: Optional[str] = None,
              use_hub: Optional[bool] = None, hub_timeout: Optional[float] = None) -> LoadPlan:
    """Find (downloading if needed) every folder that loading ``name`` reads: the only step of
    :func:`load` that may use the network, bounded by one deadline (see the module docstring).
    Falling back to bundled copies is logged in one line."""
    entry = get_entry(name)
    budget = HubBudget.start(use_hub, hub_timeout)
    plan = _plan(entry, path, repo_id, revision, budget)
    budget.report(name)
    return plan


def resolve(name: str, path=None, repo_id: Optional[str] = None, revision: Optional[str] = None,
            use_hub: Optional[bool] = None, hub_timeout: Optional[float] = None) -> tuple[Path, str]:
    """``(folder, origin)`` for a zoo entry, following the resolution order above."""
    entry = get_entry(name)
    budget = HubBudget.start(use_hub, hub_timeout)
    located = _locate(entry, path, repo_id, revision, budget)
    budget.report(name)
    return located


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


def schedule_shortfall(info: dict) -> Optional[tuple[int, int]]:
    """``(done, planned)`` IPF iterations when a bridge's time cap (``max_seconds``) stopped it
    before its schedule ended, else None; ``info`` is a ``training.json`` (read_training_info)."""
    done = info.get("metrics", {}).get("ipf_iterations")
    planned = info.get("recipe", {}).get("ipf", {}).get("ipf_iterations")
    return (done, planned) if done is not None and planned is not None and done < planned else None


def _component_class(folder: Path):
    """The model class named by ``folder/config.json`` and the config, its values range-checked."""
    import d2e_zoo.models as models

    cfg = folder / "config.json"
    if not cfg.is_file():
        raise ZooLoadError(f"missing config.json in {folder}")
    try:
        config = json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise ZooLoadError(f"corrupted config.json in {folder}: {e}") from None
    cls_name = config.get("_class_name") if isinstance(config, dict) else None
    if cls_name not in COMPONENT_CLASSES:
        raise ZooLoadError(f"{folder}: unknown model class {cls_name!r}; valid: {', '.join(COMPONENT_CLASSES)}")
    cls = getattr(models, cls_name)
    try:
        cls.check_config(config)
    except ValueError as e:
        raise ZooLoadError(f"{cfg}: {e}") from None
    return cls, config


def _check_size(cls, config: dict, cfg: Path) -> None:
    """Refuse a config whose model would have more than :data:`MAX_PARAMETERS` parameters
    (counted on the meta device: nothing is allocated)."""
    init = {k: v for k, v in config.items() if not k.startswith("_")}
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in cls.from_config(init).parameters())
    except Exception as e:  # a config the class cannot be built from
        raise ZooLoadError(f"{cfg}: cannot build {cls.__name__} from it ({type(e).__name__}: {e})") from None
    if count > MAX_PARAMETERS:
        raise ZooLoadError(f"{cfg}: {cls.__name__} with this config has {count:,} parameters; "
                           f"the zoo loads at most {MAX_PARAMETERS:,}")


def _all_finite(t: torch.Tensor) -> bool:
    if not t.is_floating_point():
        return True
    # fast path: a float64 sum is finite iff every (float32 or narrower) entry is; only a float64
    # tensor of huge finite values can overflow it, so the exact check confirms a failure
    return bool(torch.isfinite(t.sum(dtype=torch.float64))) or bool(torch.isfinite(t).all())


def check_finite(model, weights: Path) -> None:
    """Refuse weights holding NaN or inf (they would give NaN images, silently)."""
    bad = [k for k, t in model.state_dict().items() if not _all_finite(t)]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ZooLoadError(f"refusing {weights}: non-finite values (NaN or inf) in {', '.join(bad[:3])}{more}")


def load_model_folder(folder: Path):
    """A zoo model (GAN generator, VAE, classifier, judge, drift model) from a folder, eval mode.

    Checked before construction: no pickles, a known class, config values in range and a
    bounded size; after loading: finite weights. Any failure is a :class:`ZooLoadError`."""
    folder = Path(folder)
    check_no_pickles(folder)
    cls, config = _component_class(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    if not weights.is_file():
        raise ZooLoadError(f"missing weights {weights.name} in {folder}")
    _check_size(cls, config, folder / "config.json")
    try:
        model = cls.from_pretrained(str(folder), use_safetensors=True)
    except Exception as e:  # corrupted header, truncated file, shape mismatch
        raise ZooLoadError(f"could not load {cls.__name__} from {folder}: {type(e).__name__}: {e}") from None
    check_finite(model, weights)
    return model.eval()


def load_component(name_or_path: str, **kwargs):
    """A decoder (GAN generator or VAE) / classifier / judge by zoo name, or from a local folder path."""
    if Path(name_or_path).is_dir():
        return load_model_folder(Path(name_or_path))
    return load(name_or_path, **kwargs)


def _info(entry: ZooEntry, folder: Path, origin: str, temperature=None, target=None) -> ModelInfo:
    training = read_training_info(folder)
    if not training and entry.decoder:
        training = {"data_source": read_training_info(entry.decoder).get("data_source", "unknown")}
    return ModelInfo(name=entry.name, kind=entry.kind, description=entry.description, latent_dim=entry.latent_dim,
                     class_names=entry.class_names, target_classes=tuple(target or entry.target_classes),
                     source_classes=entry.source_classes, temperature=temperature,
                     data_source=training.get("data_source", "unknown"), license=entry.license,
                     hub_repo=entry.hub_repo, origin=origin, location=str(folder), domain=entry.domain,
                     version=entry.version)


def load(name: str, path=None, repo_id: Optional[str] = None, revision: Optional[str] = None,
         use_hub: Optional[bool] = None, device=None, hub_timeout: Optional[float] = None):
    """Load a zoo entry by name (see the module docstring for where from).

    ``revision`` defaults to the entry's pinned :attr:`~d2e_zoo.zoo.ZooEntry.revision`;
    ``hub_timeout`` (seconds, default ``$D2E_ZOO_HUB_TIMEOUT`` or 10) bounds all Hub requests of
    this call. Returns the model (GAN generators, VAEs, classifiers, the judge) or a
    :class:`~d2e_zoo.pipelines.D2EBridgePipeline` (bridges), with typed metadata in
    ``.zoo_info`` (:class:`ModelInfo`). Equivalent to ``build(plan_load(...), device)``.
    """
    return build(plan_load(name, path, repo_id, revision, use_hub, hub_timeout), device)


def build(plan: LoadPlan, device=None):
    """The model or pipeline of a :class:`LoadPlan`, from local folders only (no network)."""
    entry, folder = plan.entry, plan.folder
    check_no_pickles(folder)
    if entry.kind != "bridge":
        obj = load_model_folder(folder)
        info = _info(entry, folder, plan.origin)
    else:
        obj = _build_bridge(plan)
        info = _info(entry, folder, plan.origin, obj.temperature, obj.target_classes)
    if device is not None:
        obj = obj.to(device)
    obj.zoo_info = info
    return obj


def _build_bridge(plan: LoadPlan):
    entry, folder = plan.entry, plan.folder
    if not (folder / "model_index.json").is_file():
        raise ZooLoadError(f"{entry.name}: missing model_index.json in {folder}")
    shared = {}
    for role in SHARED_COMPONENTS:
        if role in plan.components:
            shared[role] = build(plan.components[role])
        else:
            sub = component_folder(folder, role)
            if sub is None:
                raise ZooLoadError(f"{entry.name}: no {role}/ folder in {folder}")
            shared[role] = load_model_folder(sub)
    for role in ("bridge", "backward_bridge"):
        if (folder / role).is_dir():
            shared[role] = load_model_folder(folder / role)
    try:
        return load_pipeline_folder(folder, **shared)
    except Exception as e:
        raise ZooLoadError(f"{entry.name}: could not load the pipeline from {folder}: "
                           f"{type(e).__name__}: {e}") from None


def _read_index(folder: Path) -> dict:
    f = folder / "model_index.json"
    try:
        index = json.loads(f.read_text())
    except FileNotFoundError:
        raise ZooLoadError(f"missing model_index.json in {folder}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooLoadError(f"corrupted model_index.json in {folder}: {e}") from None
    if not isinstance(index, dict):
        raise ZooLoadError(f"corrupted model_index.json in {folder}: not a JSON object")
    return index


def _renamed_copy(folder: Path, index: dict, passed, into: Path) -> None:
    """Write into ``into`` the pipeline folder ``folder`` under today's component names: its
    ``model_index.json`` with the keys of :data:`LEGACY_COMPONENTS` renamed, and a copy of each
    component subfolder that is not ``passed`` in (renamed likewise; they are small)."""
    both = [f"{old!r} and {new!r}" for old, new in LEGACY_COMPONENTS.items() if old in index and new in index]
    if both:
        raise ZooLoadError(f"{folder}/model_index.json names both {both[0]} (an old and a new name of "
                           "one component); keep only the new one")
    renamed = {LEGACY_COMPONENTS.get(k, k): v for k, v in index.items()}
    (into / "model_index.json").write_text(json.dumps(renamed, indent=2, sort_keys=True))
    for sub in folder.iterdir():
        name = LEGACY_COMPONENTS.get(sub.name, sub.name)
        if sub.is_dir() and name in renamed and name not in passed:
            shutil.copytree(sub, into / name)


def load_pipeline_folder(folder: Path, **components):
    """``D2EBridgePipeline.from_pretrained`` (safetensors only) with the given components
    passed in and no loading progress bar; its sampling progress bar is off too.

    A folder saved under old component names (``model_index.json`` listing ``generator``, see
    :data:`LEGACY_COMPONENTS`) is read through a renamed temporary copy of its index (and of
    the component folders not passed in); the pipeline's ``_name_or_path`` is still ``folder``."""
    from diffusers.utils import logging as diffusers_logging

    from ..pipelines import D2EBridgePipeline

    folder = Path(folder)
    check_no_pickles(folder)
    index = _read_index(folder)
    legacy = sorted(k for k in LEGACY_COMPONENTS if k in index)
    enabled = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()  # every component is already loaded: no bar needed
    try:
        if not legacy:
            pipe = D2EBridgePipeline.from_pretrained(str(folder), use_safetensors=True, **components)
        else:
            logger.debug("%s: reading the old component name(s) %s as %s", folder, ", ".join(legacy),
                         ", ".join(LEGACY_COMPONENTS[k] for k in legacy))
            with tempfile.TemporaryDirectory(prefix="d2e-legacy-", ignore_cleanup_errors=True) as tmp:
                _renamed_copy(folder, index, components, Path(tmp))
                pipe = D2EBridgePipeline.from_pretrained(tmp, use_safetensors=True, **components)
            pipe.register_to_config(_name_or_path=str(folder))
    finally:
        if enabled:
            diffusers_logging.enable_progress_bar()
    pipe.set_progress_bar_config(disable=True)
    return pipe
