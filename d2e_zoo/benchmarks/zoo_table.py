"""The zoo table (docs/zoo.md): evaluate every zoo entry and print a markdown table.

    python -m d2e_zoo.benchmarks.zoo_table --num-samples 4000 --json zoo.json --update docs/zoo.md
    python -m d2e_zoo.benchmarks.zoo_table --from-json zoo.json --update docs/zoo.md   # no evaluation

``--update FILE`` rewrites the table between the lines ``<!-- zoo-table:start -->`` and
``<!-- zoo-table:end -->`` of FILE (the MNIST models; each other domain has its own block,
``<!-- zoo-table-fashion:start -->`` ...), so the documented tables are always the command's
output. With ``--names`` it replaces only those models' rows and keeps the others (one
retrained model does not need the whole zoo evaluated again). ``--domain NAME`` evaluates (or
reads) one domain's models only.

Bridges: judge precision (bridge / exact posterior), total-variation distance of the class
mix to the exact posterior, transport cost (bridge / rejection sampling), ELBO <= log Z <=
EUBO, translation time per 1,000 samples and the recorded training time. Generators: the
judge's class mix range and mean confidence. Classifiers: test accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..evaluate import evaluate
from ..zoo import get_entry, list_models
from ..zoo.loading import read_training_info, schedule_shortfall
from ..argtypes import HelpFormatter, output_file, positive_int, zoo_name
from ..domains import DEFAULT_DOMAIN, DOMAINS

START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"


def _training_cell(name: str) -> str:
    """A bridge's recorded training time, and how far its time cap let the IPF schedule get
    when it stopped it early (``"540 s (time cap: 14 of 16 IPF iterations)"``)."""
    info = read_training_info(name)
    seconds = info.get("metrics", {}).get("train_seconds")
    if seconds is None:
        return "n/a"
    cut = schedule_shortfall(info)
    return f"{seconds:.0f} s" + (" (time cap: {} of {} IPF iterations)".format(*cut) if cut else "")


def _row(name: str, m: dict) -> str:
    e = get_entry(name)
    if e.kind == "bridge":
        cells = [f"{m['judge_precision']:.3f} / {m['judge_precision_exact']:.3f}", f"{m['tv_class_mix']:.3f}",
                 f"{m['transport_cost']:.2f} / {m['transport_cost_rejection']:.2f}",
                 f"{m['elbo']:.2f} ≤ {m['log_z']:.2f} ≤ {m['eubo']:.2f}", f"{1000 * m['seconds_per_1000']:.0f} ms",
                 _training_cell(name)]
        what = f"T={m['temperature']:g}"
    elif e.kind == "generator":
        frechet = f"judge-feature FD {m['judge_frechet']:.1f}" if "judge_frechet" in m else ""
        real = f" (real images {m['judge_confidence_real']:.3f})" if "judge_confidence_real" in m else ""
        cells = [f"classes {m['min_class_fraction']:.3f}-{m['max_class_fraction']:.3f}",
                 f"confidence {m['judge_confidence']:.3f}{real}", frechet, "", "", ""]
        what = ""  # the description names the latent
    else:
        cells = [f"test accuracy {m['test_accuracy']:.3f}", "", "", "", "", ""]
        what = ""
    return f"| `{name}` | {e.description} {what} | " + " | ".join(cells) + " |"


ZOO_TABLE_HEADER = ("| name | what | judge precision (bridge / exact) | TV class mix | transport (bridge / rejection) "
          "| ELBO ≤ log Z ≤ EUBO | 1,000 samples | training |\n|---|---|---|---|---|---|---|---|")


def markdown_table(results: dict, names: list[str]) -> str:
    """The table: header and one row per name (``results[name]`` is ``evaluate(name)``'s dict)."""
    return "\n".join([ZOO_TABLE_HEADER] + [_row(name, results[name]) for name in names])


def markers(domain: str = DEFAULT_DOMAIN) -> tuple[str, str]:
    """The start and end lines of ``domain``'s table block (:data:`START`, :data:`END` for MNIST)."""
    if domain == DEFAULT_DOMAIN:
        return START, END
    return f"<!-- zoo-table-{domain}:start -->", f"<!-- zoo-table-{domain}:end -->"


def _split_marked_block(text: str, domain: str) -> tuple[str, str, str]:
    """``(before, block, after)``: ``text`` cut at ``domain``'s start and end marker lines, the
    markers kept in ``before`` / ``after``; a ``ValueError`` unless there is one of each, in order."""
    start, end = markers(domain)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one {start!r} line followed by one {end!r} line")
    head, rest = text.split(start, 1)
    block, tail = rest.split(end, 1)
    return head + start, block, end + tail


def replace_marked_block(text: str, table: str, domain: str = DEFAULT_DOMAIN) -> str:
    """``text`` with everything between ``domain``'s start and end marker lines replaced by ``table``."""
    before, _, after = _split_marked_block(text, domain)
    return f"{before}\n{table}\n{after}"


def replace_rows(text: str, rows: dict, domain: str = DEFAULT_DOMAIN) -> str:
    """``text`` with the rows of ``domain``'s block that name a model of ``rows`` (``{name: row}``)
    replaced by the new rows; every other line stays. A model without a row in the block is a
    ``ValueError`` (a new model's place in the table is the full table's to decide)."""
    before, block, after = _split_marked_block(text, domain)
    lines = block.split("\n")
    for name, row in rows.items():
        hits = [i for i, line in enumerate(lines) if line.startswith(f"| `{name}` |")]
        if len(hits) != 1:
            raise ValueError(f"the {domain} table has {len(hits)} rows for {name!r}, expected one; "
                             "rewrite the whole table (no --names)")
        lines[hits[0]] = row
    return before + "\n".join(lines) + after


def _existing_markdown(path: str) -> Path:
    if not Path(path).is_file() or START not in Path(path).read_text(encoding="utf-8"):
        raise argparse.ArgumentTypeError(f"{path} is not a file with a {START!r} line")
    return Path(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.zoo_table", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--num-samples", type=positive_int, default=4000,
                   help="samples per bridge (generators: 10,000; classifiers: the test split)")
    p.add_argument("--names", nargs="*", type=zoo_name(), default=None, help="subset of the zoo (default: all)")
    p.add_argument("--json", default=None, type=output_file(), help="also write all metrics to this JSON file")
    p.add_argument("--from-json", default=None, metavar="FILE.json",
                   help="make the table from metrics a --json run wrote instead of evaluating")
    p.add_argument("--update", default=None, type=_existing_markdown, metavar="FILE.md",
                   help="rewrite the marked table block of this markdown file (e.g. docs/zoo.md); "
                        "with --names only those models' rows")
    p.add_argument("--domain", default=None, choices=list(DOMAINS), help="only this domain's models (default: all)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch threads")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    if args.from_json:
        try:
            results = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            p.error(f"--from-json: cannot read {args.from_json}: {e}")
        names = args.names or [n for n in list_models(domain=args.domain) if n in results]
        missing = [n for n in names if n not in results]
        if missing:
            p.error(f"--from-json: {args.from_json} has no metrics for {missing}")
    else:
        names = args.names or list_models(domain=args.domain)
        results = {}
        for name in tqdm(names, desc="evaluating"):
            kind = get_entry(name).kind
            # --num-samples is the bridges'; generators always get evaluate's 10,000 samples
            results[name] = evaluate(name, args.num_samples if kind == "bridge" else None)
    by_domain = {}
    for name in names:
        by_domain.setdefault(get_entry(name).domain, []).append(name)
    tables = {domain: markdown_table(results, domain_names) for domain, domain_names in by_domain.items()}
    print("\n\n".join(tables.values()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.update:
        text = args.update.read_text(encoding="utf-8")
        for domain, table in tables.items():
            try:
                if args.names:
                    text = replace_rows(text, {n: _row(n, results[n]) for n in by_domain[domain]}, domain)
                else:
                    text = replace_marked_block(text, table, domain)
            except ValueError as e:
                p.error(f"--update {args.update}: {e}")
        args.update.write_text(text, encoding="utf-8")
        logging.getLogger(__name__).warning("rewrote the zoo table(s) of %s in %s", ", ".join(tables), args.update)
    return 0


if __name__ == "__main__":
    sys.exit(main())
