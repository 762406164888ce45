"""The report ``python -m d2e_zoo.evaluate NAME`` prints: the metrics of ``evaluate()`` in words,
with units and what each number means (``--json`` prints the same metrics as one JSON object).

"Exact" always means samples drawn by rejection sampling from the true target posterior
``p1(z) ∝ N(z; 0, I) p_T(C | G(z))``: what a perfect sampler would produce.
"""

from __future__ import annotations

from .domains import DEFAULT_DOMAIN, get_domain
from .zoo import get_entry

EXACT = ('"exact" = samples drawn by rejection sampling from the true target posterior '
         "(what a perfect sampler would give)")


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _mix(mix: list[float], domain=DEFAULT_DOMAIN) -> str:
    """``0: 9.8  1:10.2 ...``: each class (by its slug) and its share in %."""
    slugs = get_domain(domain).slugs
    return "  ".join(f"{slugs[d]}:{100 * p:4.1f}" for d, p in enumerate(mix))


def _rows(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max(len(label) for label, _ in rows)
    return [f"{indent}{label:<{width}}  {value}" for label, value in rows]


def bridge_report(m: dict, domain=DEFAULT_DOMAIN) -> list[str]:
    d = get_domain(domain)
    targets = ", ".join(d.class_names[c] for c in m["target_classes"])
    extra = f", then {m['corrector_steps']} MALA corrector steps" if m.get("corrector_steps") else ""
    lines = [f"{m['num_samples']:,} samples{extra}; target {_plural(d.noun)} {{{targets}}} at temperature T = "
             f"{m['temperature']:g}.", f"{EXACT}.", ""]
    lines.append("Judge precision: share of images that the judge (a separate CNN) puts in the target set")
    lines += _rows([("bridge", _pct(m["judge_precision"])), ("exact", _pct(m["judge_precision_exact"]))])
    lines.append(f"Class mix: share of each {d.noun}, in %, labelled by the energy's classifier")
    lines += _rows([("bridge", _mix(m["class_mix_bridge"], d)), ("exact", _mix(m["class_mix_exact"], d)),
                    ("total variation", f"{m['tv_class_mix']:.3f}  (0: the same mix, 1: disjoint)")])
    lines.append("Transport cost E||z1 - z0||^2: squared latent distance from each source to its result")
    lines += _rows([("bridge", f"{m['transport_cost']:.2f}"),
                    ("rejection sampling", f"{m['transport_cost_rejection']:.2f}  (ignores the source)")])
    lines.append("Log normalising constant log Z of the target, in nats (Monte Carlo), between the bridge's bounds")
    lines += _rows([("ELBO <= log Z <= EUBO", f"{m['elbo']:.2f} <= {m['log_z']:.2f} ± {m['log_z_stderr']:.2f} "
                                               f"<= {m['eubo']:.2f}")])
    lines.append("Where the samples sit")
    lines += _rows([("off target", f"bridge {_pct(m['off_target_bridge'])}, exact {_pct(m['off_target_exact'])}"
                                    "  (share with p_T(C | G(z)) < 1/2)"),
                    ("spread E||z||^2", f"bridge {m['sq_norm_bridge']:.2f}, exact {m['sq_norm_exact']:.2f}")])
    lines.append("Cost")
    lines += _rows([("bridge", f"{m['seconds_per_1000']:.3f} s per 1,000 samples (translate and decode)"),
                    ("rejection sampling", f"accepts {_pct(m['rejection_acceptance'])} of prior draws")])
    return lines


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith("s") else "s")


def generator_report(m: dict, domain=DEFAULT_DOMAIN) -> list[str]:
    d = get_domain(domain)
    return [f"{m['num_samples']:,} images generated from z ~ N(0, I), labelled by the judge (a separate CNN).", "",
            f"Class mix: share of each {d.noun}, in %",
            *_rows([("judge", _mix(m["judge_class_mix"], d)),
                    ("range", f"{_pct(m['min_class_fraction'])} to {_pct(m['max_class_fraction'])} "
                              f"({100 / d.num_classes:g} % each if uniform)"),
                    ("mean confidence", f"{m['judge_confidence']:.3f}  (the judge's top softmax probability)")])]


def classifier_report(m: dict, domain=DEFAULT_DOMAIN) -> list[str]:
    title = get_domain(domain).title
    return [f"Test accuracy: {_pct(m['test_accuracy'])} of {m['num_test']:,} {title} test images ({m['test_set']})."]


def format_report(name: str, metrics: dict) -> str:
    """The report of ``evaluate(name, ...)``'s ``metrics`` as lines of text."""
    entry = get_entry(name)
    head = f"{name}: {entry.description}"
    report = {"bridge": bridge_report, "generator": generator_report}.get(metrics["kind"], classifier_report)
    body = report(metrics, entry.domain)
    return "\n".join([head, "", *body])
