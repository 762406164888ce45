"""Publish zoo entries to the Hugging Face Hub, one self-contained repository each.

    python training/publish.py mnist-gan mnist-even --dry-run       # stage and list, upload nothing
    python training/publish.py --all --org my-org --metrics metrics.json
    python training/publish.py mnist-even --token hf_... --private

For every entry a staging folder ``<out>/<name>/`` is assembled from the bundled snapshot
(``d2e_zoo/zoo/bundled/<name>``, never the Hub): generators and classifiers are a diffusers
model folder; bridges are a diffusers pipeline folder to which the shared ``decoder/`` (the
latent-to-image network) and ``classifier/`` (bundled once under their own zoo names) are
added, so that the Hub repository loads on its own. A ``README.md`` model card is generated
from the registry metadata and the entry's ``training.json``. Pickled files (``.bin``, ``.pt``,
``.pth``, ``.ckpt``, ``.pkl``) are refused. Every entry is staged before anything is uploaded. The repository is
``<org>/<name>`` with ``--org``, else the entry's ``hub_repo`` (``$D2E_ZOO_HUB_ORG``, default
``d2e-zoo``). ``--metrics FILE.json`` adds ``{name: {metric: value}}`` to the cards.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import NamedTuple, Optional

from huggingface_hub import HfApi

import d2e_zoo
from d2e_zoo.argtypes import HelpFormatter
from d2e_zoo.zoo import loading
from d2e_zoo.visual import save_contact_sheet
from d2e_zoo.zoo.cards import CONTACT_SHEET, model_card
from d2e_zoo.zoo.loading import PICKLE_SUFFIXES, ZooLoadError, read_training_info, resolve
from d2e_zoo.zoo.registry import SHARED_COMPONENTS, ZooEntry, get_entry, list_models

logger = logging.getLogger("d2e_zoo.publish")

DEFAULT_OUT = Path("runs") / "publish"


class PublishError(RuntimeError):
    """An entry cannot be staged or published (missing snapshot, unsafe or incomplete files)."""


class Staged(NamedTuple):
    """One entry ready to upload: its staging ``folder`` and target ``repo_id``."""

    entry: ZooEntry
    folder: Path
    repo_id: str


def metrics_file(path: str) -> dict:
    """argparse type: a JSON file holding ``{name: {metric: value}}``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise argparse.ArgumentTypeError(f"cannot read metrics file {path!r}: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise argparse.ArgumentTypeError(f"metrics file {path!r} must hold a JSON object "
                                         "{name: {metric: value}}")
    return data


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="python training/publish.py", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="zoo entries to publish (see d2e_zoo.list_models())")
    p.add_argument("--all", action="store_true", help="publish every registered entry")
    p.add_argument("--org", default=None, help="Hub organisation or user (default: each entry's hub_repo)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"staging folder (default: {DEFAULT_OUT})")
    p.add_argument("--dry-run", action="store_true", help="stage and list the files; upload nothing")
    p.add_argument("--metrics", type=metrics_file, default={}, metavar="FILE.json",
                   help="JSON {name: {metric: value}} added to the model cards")
    p.add_argument("--token", default=None, help="Hub token (default: the cached login / $HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="create the repositories as private")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and validate the arguments; usage errors (unknown names included) exit with code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    valid = list_models()
    if args.all and args.names:
        parser.error("give zoo names or --all, not both")
    if not args.all and not args.names:
        parser.error(f"give zoo names or --all; valid names: {', '.join(valid)}")
    unknown = [n for n in args.names if n not in valid]
    if unknown:
        parser.error(f"unknown zoo model(s): {', '.join(unknown)}; valid names: {', '.join(valid)}")
    for name in args.metrics:
        if name not in valid:
            logger.warning("metrics file names %r, which is not in the zoo; ignored", name)
    args.names = valid if args.all else list(dict.fromkeys(args.names))
    return args


def repo_id_for(entry: ZooEntry, org: Optional[str] = None) -> str:
    """``<org>/<name>`` when an organisation is given, else the entry's ``hub_repo``."""
    return f"{org}/{entry.name}" if org else entry.hub_repo


def pickled_files(folder: Path) -> list[Path]:
    """Files under ``folder`` whose suffix marks pickled weights."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)


def refuse_pickles(folder: Path):
    """Raise :class:`PublishError` if ``folder`` holds any pickled file."""
    bad = pickled_files(folder)
    if bad:
        raise PublishError(f"refusing to publish {folder}: it holds pickled files "
                           f"({', '.join(str(p.relative_to(folder)) for p in bad)}); only safetensors are allowed")


def bundled_folder(name: str) -> Path:
    """The bundled snapshot of zoo entry ``name`` (never the Hub); a clear error when missing."""
    try:
        folder, _ = resolve(name, use_hub=False)
    except ZooLoadError:
        raise PublishError(f"{name}: no bundled snapshot at {loading.bundled_dir() / name}; train and bundle it "
                           f"first with `python training/train.py {name} --bundle`") from None
    refuse_pickles(folder)
    return folder


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def check_layout(entry: ZooEntry, folder: Path):
    """A staged model folder has ``config.json``; a staged bridge is a complete diffusers pipeline."""
    if entry.kind != "bridge":
        if not (folder / "config.json").is_file():
            raise PublishError(f"{entry.name}: missing config.json in {folder}")
        return
    index = folder / "model_index.json"
    if not index.is_file():
        raise PublishError(f"{entry.name}: missing model_index.json in {folder}")
    try:
        components = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise PublishError(f"{entry.name}: corrupted model_index.json in {folder}: {e}") from None
    missing = [key for key, value in components.items()
               if not key.startswith("_") and isinstance(value, list) and len(value) == 2
               and all(isinstance(v, str) for v in value) and not (folder / key).is_dir()]
    missing += [c for c in SHARED_COMPONENTS if not (folder / c).is_dir() and c not in missing]
    if missing:
        raise PublishError(f"{entry.name}: the staged pipeline lacks component folder(s) {', '.join(missing)}")


def stage(entry: ZooEntry, out: Path, metrics: Optional[dict] = None, repo_id: Optional[str] = None) -> Path:
    """Assemble the self-contained folder ``out/<name>`` for one entry and return it.

    Copies the bundled snapshot, for bridges also the shared decoder and classifier as
    ``decoder/`` and ``classifier/``, and writes the ``README.md`` model card.
    """
    source = bundled_folder(entry.name)
    shared = {}
    if entry.kind == "bridge":
        shared = {comp: bundled_folder(getattr(entry, comp)) for comp in SHARED_COMPONENTS
                  if not (source / comp).is_dir()}
    dest = Path(out) / entry.name
    for part in (source, *shared.values()):
        if _overlaps(dest, part):
            raise PublishError(f"{entry.name}: the staging folder {dest} overlaps the snapshot {part}; "
                               "choose another --out")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    for comp, folder in shared.items():
        shutil.copytree(folder, dest / comp)
    sheet = entry.kind == "bridge"
    if sheet:  # the card shows 32 translations of the staged pipeline itself
        save_contact_sheet(d2e_zoo.load(entry.name, path=dest), dest / CONTACT_SHEET)
    card = model_card(entry, read_training_info(source), metrics, repo_id=repo_id or entry.hub_repo,
                      contact_sheet=sheet)
    (dest / "README.md").write_text(card, encoding="utf-8")
    refuse_pickles(dest)
    check_layout(entry, dest)
    return dest


def list_files(folder: Path) -> list[tuple[str, int]]:
    """``(relative path, size in bytes)`` of every file under ``folder``, sorted."""
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def log_plan(staged: Staged):
    """Log what an upload of ``staged`` would send: the repo id and the files with their sizes."""
    files = list_files(staged.folder)
    total = sum(size for _, size in files)
    logger.info("%s -> %s: %d files, %s (from %s)", staged.entry.name, staged.repo_id, len(files), _size(total),
                staged.folder)
    for path, size in files:
        logger.info("    %-50s %10s", path, _size(size))


def upload(api: HfApi, staged: Staged, private: bool = False):
    """Create the Hub repository if needed and upload the staging folder in one commit."""
    api.create_repo(staged.repo_id, exist_ok=True, private=private, repo_type="model")
    message = f"Publish {staged.entry.name} ({staged.entry.kind}) from d2e-zoo {d2e_zoo.__version__}"
    return api.upload_folder(repo_id=staged.repo_id, folder_path=str(staged.folder), commit_message=message,
                             repo_type="model")


def stage_all(names: list[str], out: Path, org: Optional[str], metrics: dict) -> list[Staged]:
    """Stage every entry (all before any upload, so a bad entry stops the whole run)."""
    staged = []
    for name in names:
        entry = get_entry(name)
        repo_id = repo_id_for(entry, org)
        folder = stage(entry, out, metrics.get(name), repo_id=repo_id)
        staged.append(Staged(entry, folder, repo_id))
        log_plan(staged[-1])
    return staged


def main(argv=None) -> int:
    """Run the script; returns the exit code (0 ok, 1 staging or upload failure, 2 usage error)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        staged = stage_all(args.names, args.out, args.org, args.metrics)
    except PublishError as e:
        logger.error("%s", e)
        return 1
    if args.dry_run:
        logger.info("dry run: nothing uploaded")
        print(f"dry run: staged {len(staged)} repositories under {args.out}, uploaded nothing")
        for s in staged:
            print(f"  {s.entry.name} -> {s.repo_id} ({s.folder})")
        return 0
    api = HfApi(token=args.token)
    failed = []
    for s in staged:
        try:
            upload(api, s, private=args.private)
            logger.info("uploaded %s to %s", s.entry.name, s.repo_id)
        except Exception as e:  # network / auth / permission errors: report and go on with the rest
            logger.error("upload of %s to %s failed: %s: %s", s.entry.name, s.repo_id, type(e).__name__, e)
            failed.append(s.entry.name)
    print(f"uploaded {len(staged) - len(failed)} of {len(staged)} repositories")
    for s in staged:
        print(f"  {s.entry.name} -> {s.repo_id}: {'FAILED' if s.entry.name in failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
