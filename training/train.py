"""Reproduce a zoo checkpoint from a named recipe.

    python training/train.py mnist-classifier                 # one process; results in runs/mnist-classifier
    python training/train.py mnist-classifier --bundle --force # ... and replace the package's bundled copy
    accelerate launch training/train.py mnist-gan              # one GPU (or the CPU)
    accelerate launch --multi_gpu --num_processes 2 training/train.py mnist-gan
        # two processes: GPUs where there are, else the CPU with gloo (torchrun also works)
    python training/train.py mnist-even --resume_from_checkpoint latest

Recipes are TOML files shipped in the package (``d2e_zoo/recipes/NAME.toml``), looked up
first in the folders of ``$D2E_ZOO_RECIPES``; a path to a .toml file also works. The run folder
(``--output_dir``, default ``runs/<name>``) holds checkpoints (safetensors, resumable) and
the exported model in ``export/``; ``--bundle`` also copies the export into
``d2e_zoo/zoo/bundled/<name>`` (the copy the package ships), and replaces an existing
bundled folder only with ``--force``. Before the first step the run folder is checked to be
writable and locked against a second run; a resume must use the same seed, step count and
recipe as the checkpoint (``--force`` overrides).
"""

from __future__ import annotations

import argparse
import logging
import textwrap
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from d2e_zoo.argtypes import HelpFormatter, positive_float, positive_int
from d2e_zoo.checkpointing import CheckpointError
from d2e_zoo.run_folder import RunFolderError
from d2e_zoo.trainers.recipe import RecipeError, available_recipes, load_recipe
from d2e_zoo.trainers.run import bundle_export, check_bundle_target, run_recipe
from d2e_zoo.zoo import paths
from d2e_zoo.zoo.loading import read_training_info, schedule_shortfall

logger = logging.getLogger("d2e_zoo.train")


def build_parser() -> argparse.ArgumentParser:
    recipes = textwrap.fill(f"recipes: {', '.join(available_recipes())}", 100, break_on_hyphens=False)
    p = argparse.ArgumentParser(prog="python training/train.py", description=__doc__, epilog=recipes,
                                formatter_class=HelpFormatter)
    p.add_argument("recipe", help="recipe name (listed below) or path to a .toml file")
    p.add_argument("--output_dir", default=None, help="run folder (default: runs/<name>)")
    p.add_argument("--resume_from_checkpoint", default=None,
                   help="'latest' or a checkpoint folder to resume from")
    p.add_argument("--num_steps", type=positive_int, default=None,
                   help="override the recipe's step count (quick runs)")
    p.add_argument("--stop_at_step", type=positive_int, default=None,
                   help="stop after this step with a checkpoint, keeping the recipe's schedule (resume later)")
    p.add_argument("--max_seconds", type=positive_float, default=None,
                   help="bridges: override the training time budget (it only stops training early)")
    p.add_argument("--report_to", default=None, help="Accelerate tracker(s), e.g. tensorboard (optional)")
    p.add_argument("--bundle", action="store_true",
                   help="copy the exported model into the package's bundled zoo (an existing one needs --force)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing bundled model (with --bundle), resume a checkpoint written with "
                        "another seed, step count or recipe, or start over in a run folder holding checkpoints")
    p.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU is available")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe).with_overrides(seed=args.seed, num_steps=args.num_steps,
                                                         max_seconds=args.max_seconds)
    except RecipeError as e:
        parser.error(str(e))
    out = Path(args.output_dir or Path("runs") / recipe.name)
    bundle_dest = paths.bundled_dir() / recipe.name
    if args.bundle:  # fail before any work: an existing bundled folder is replaced only with --force
        try:
            check_bundle_target(bundle_dest, args.force)
        except RunFolderError as e:
            parser.error(str(e))
    # without a GPU, run on the CPU; several processes then talk over gloo
    accelerator = Accelerator(cpu=args.cpu or not torch.cuda.is_available(), log_with=args.report_to,
                              project_dir=str(out))
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.report_to:
        accelerator.init_trackers(recipe.name)
    set_seed(recipe.seed)
    logger.info("recipe %s (%s) on %d process(es), device %s", recipe.name, recipe.kind,
                accelerator.num_processes, accelerator.device)
    try:
        metrics = run_recipe(recipe, accelerator, out, resume=args.resume_from_checkpoint,
                             stop_at_step=args.stop_at_step, force=args.force)
    except (RunFolderError, CheckpointError) as e:
        accelerator.end_training()
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    if args.stop_at_step is not None and not (out / "export").exists():
        logger.info("stopped at step %d; resume with --resume_from_checkpoint latest", args.stop_at_step)
    elif accelerator.is_main_process:
        logger.info("exported %s to %s: %s", recipe.name, out / "export", metrics)
        cut = schedule_shortfall(read_training_info(out / "export"))
        if args.bundle and cut and not args.force:
            logger.error("not bundling %s: its time cap (max_seconds, counted across resumes) stopped training "
                         "after %d of %d IPF iterations; resume with --resume_from_checkpoint latest and a larger "
                         "--max_seconds, or bundle it anyway with --force", recipe.name, *cut)
            accelerator.end_training()
            parser.exit(2, f"{parser.prog}: error: {recipe.name} did not finish its IPF schedule; not bundled\n")
        if args.bundle:
            bundle_export(out / "export", bundle_dest, args.force)
    accelerator.end_training()


if __name__ == "__main__":
    main()
