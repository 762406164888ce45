"""Energy algebra (conjunction, disjunction, negation, temperature) and class expressions."""

import math
from pathlib import Path

import pytest
import torch

import d2e_zoo
from d2e_zoo.dynamics import gaussian_log_prob
from d2e_zoo.endpoints.base import EndpointError, EnergyEndpoint
from d2e_zoo.energies import (ClassifierPosterior, ExpressionError, ExpressionPosterior, Negation, conjunction,
                              disjunction, negation, parse_expression, tempered)
from d2e_zoo.energies.expression import exact_classes, selected_classes
from d2e_zoo.samplers import gradient_flow, sample


def gauss(mean, std, name=None):
    m = torch.tensor(mean, dtype=torch.float32)
    return EnergyEndpoint(lambda x: gaussian_log_prob(x, m, std**2), dim=len(mean), name=name or f"N({mean},{std})")


def mala_moments(energy, n=4000, steps=300, seed=0, x0=None):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, energy.dim, generator=g) if x0 is None else x0
    x = sample(energy, x0=x0, method="mala", num_steps=steps, step_size=0.05, generator=g).samples
    return x.mean(0), x.var(0)


def test_conjunction_of_gaussians_is_their_product():
    a, b = gauss([1.0, 0.0], 0.5), gauss([-1.0, 2.0], 0.5)
    both = a & b
    assert both.dim == 2 and "&" in both.name
    mean, var = mala_moments(both)
    assert torch.allclose(mean, torch.tensor([0.0, 1.0]), atol=0.03)  # (a + b) / 2
    assert torch.allclose(var, torch.full((2,), 0.125), rtol=0.1)  # s^2 / 2
    x = torch.randn(5, 2)
    assert torch.allclose(conjunction(a, b).log_prob(x), a.log_prob(x) + b.log_prob(x))


def test_disjunction_keeps_both_modes_and_is_a_log_sum_exp():
    a, b = gauss([-3.0, 0.0], 0.4), gauss([3.0, 0.0], 0.4)
    either = a | b
    x = torch.randn(7, 2) * 3
    assert torch.allclose(either.log_prob(x), torch.logaddexp(a.log_prob(x), b.log_prob(x)))
    # the flow's critical points from a spread start: exactly the two means (and the saddle between)
    grid = torch.stack(torch.meshgrid(torch.linspace(-5, 5, 21), torch.linspace(-2, 2, 5), indexing="ij"), -1)
    ends = gradient_flow(either, grid.reshape(-1, 2), step_size=0.02, max_steps=3000, stop=False).samples
    ends = ends[ends[:, 0].abs() > 0.5]  # drop points started on the symmetry line
    near = torch.minimum((ends - torch.tensor([-3.0, 0.0])).norm(dim=1), (ends - torch.tensor([3.0, 0.0])).norm(dim=1))
    assert near.max() < 1e-2
    assert (ends[:, 0] < 0).any() and (ends[:, 0] > 0).any()
    # equal normalisers: equal weights
    g = torch.Generator().manual_seed(1)
    z = sample(either, x0=torch.randn(4000, 2, generator=g) * 3, method="mala", num_steps=200, step_size=0.05,
               generator=g).samples
    assert (z[:, 0] > 0).float().mean() == pytest.approx(0.5, abs=0.05)


def test_negation_pushes_away_with_the_closed_form_mode():
    lam, a_mean, sa, sb = 0.35, 1.0, 1.0, 1.0
    b, a = gauss([0.0, 0.0], sb), gauss([a_mean, 0.0], sa)
    neg = b.without(a, lam)
    assert isinstance(neg, Negation)
    # U = |x|^2/(2 sb^2) - lam |x - a|^2/(2 sa^2): Gaussian with precision p, mean -lam a / (sa^2 p)
    p = 1 / sb**2 - lam / sa**2
    mean, var = mala_moments(neg)
    assert mean[0] == pytest.approx(-lam * a_mean / (sa**2 * p), abs=0.05)
    assert var[0] == pytest.approx(1 / p, rel=0.1)
    x = torch.randn(5, 2)
    assert torch.allclose(negation(b, a, lam).log_prob(x), b.log_prob(x) - lam * a.log_prob(x))


def test_temperature_scales_a_gaussian_variance():
    base = gauss([0.0, 1.0], 0.5)
    _, var = mala_moments(tempered(base, 3.0))
    assert torch.allclose(var, torch.full((2,), 0.75), rtol=0.1)
    assert torch.allclose(base.tempered(2.0).log_prob(torch.ones(1, 2)), base.log_prob(torch.ones(1, 2)) / 2)


def test_paper_example_disjunction_has_eight_modes():
    """Experts A (4 modes at (+-3, +-3)) and B (4 at (0, +-4), (+-4, 0)): A or B has all 8."""
    def mixture(centers):
        c = torch.tensor(centers)
        return EnergyEndpoint(lambda x: torch.logsumexp(-((x[:, None] - c) ** 2).sum(-1) / (2 * 0.25), 1), 2)

    a = mixture([[3.0, 3.0], [3.0, -3.0], [-3.0, 3.0], [-3.0, -3.0]])
    b = mixture([[0.0, 4.0], [0.0, -4.0], [4.0, 0.0], [-4.0, 0.0]])
    ang = torch.linspace(0, 2 * math.pi, 64)[:-1] + 0.01
    start = torch.stack([torch.cos(ang), torch.sin(ang)], 1) * 4.5
    ends = gradient_flow(disjunction(a, b), start, step_size=0.02, max_steps=2000, stop=False).samples
    modes = {(round(float(x), 1), round(float(y), 1)) for x, y in ends}
    assert len(modes) == 8


@pytest.mark.parametrize("bad, match", [
    (lambda: gauss([0.0], 1.0) & gauss([0.0, 0.0], 1.0), "different dimensions"),
    (lambda: negation(gauss([0.0], 1.0), gauss([0.0], 1.0), -1.0), "weight must be"),
    (lambda: tempered(gauss([0.0], 1.0), 0.0), "temperature must be"),
    (lambda: conjunction(), "at least one energy"),
])
def test_algebra_bad_input(bad, match):
    with pytest.raises(EndpointError, match=match):
        bad()


def test_the_operators_need_no_import_of_the_energies_package():
    """No hidden import cycle: d2e_zoo.energies builds on d2e_zoo.endpoints, never the reverse.
    A fresh interpreter composes toy energies with every operator without loading d2e_zoo.energies."""
    import subprocess
    import sys

    code = ("import sys; from d2e_zoo.endpoints.toy import Gaussian; a, b = Gaussian(2), Gaussian(2, std=0.3); "
            "e = ((a & b) | a).without(b, 0.2).tempered(2.0); e.log_prob(__import__('torch').zeros(3, 2)); "
            "print(sorted(m for m in sys.modules if m.startswith('d2e_zoo.energies')))")
    root = Path(d2e_zoo.__file__).parents[1]  # this checkout, whatever the working folder
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=root)
    assert out.stdout.strip() == "[]"
    from d2e_zoo.endpoints import base
    from d2e_zoo.energies import algebra

    assert algebra.Conjunction is base.Conjunction and algebra.Negation is base.Negation  # one definition


# ---------------------------------------------------------------- class expressions --
@pytest.mark.parametrize("text, canonical, selected, exact", [
    ("even and not 4", "even and not 4", {0, 2, 6, 8}, None),
    ("3 or 8", "3 or 8", {3, 8}, (3, 8)),
    ("0 | 2 | 4 | 6 | 8", "0 or 2 or 4 or 6 or 8", {0, 2, 4, 6, 8}, (0, 2, 4, 6, 8)),
    ("NOT (3 or 4)", "not (3 or 4)", {0, 1, 2, 5, 6, 7, 8, 9}, (0, 1, 2, 5, 6, 7, 8, 9)),
    ("even without 4", "even without 4", {0, 2, 6, 8}, None),
    ("(3 or 8) and !5", "(3 or 8) and not 5", {3, 8}, None),
    ("3,8", "3,8", {3, 8}, (3, 8)),
])
def test_expressions_parse(text, canonical, selected, exact):
    tree = parse_expression(text)
    assert str(tree) == canonical
    assert str(parse_expression(str(tree))) == canonical  # printing round-trips
    assert set(selected_classes(tree)) == selected
    assert exact_classes(tree) == exact


@pytest.mark.parametrize("text, match", [
    ("", "it is empty"), ("even and", "ends too early"), ("3 8", "unexpected '8'"),
    ("12", "'12' is not a digit"), ("seven", "'seven' is not a class"), ("(3 or 8", "not closed"),
    ("not (even or 4)", "use 'without'"), ("3 or 11", "is not a digit"),
])
def test_bad_expressions_name_the_problem_and_the_syntax(text, match):
    with pytest.raises(ExpressionError, match=match) as e:
        parse_expression(text)
    assert "even, odd, all" in str(e.value)


@pytest.fixture(scope="module")
def gan_and_classifier():
    return d2e_zoo.load("mnist-gan"), d2e_zoo.load("mnist-classifier")


def test_expression_posteriors_agree_with_class_posteriors(gan_and_classifier):
    g, c = gan_and_classifier
    z = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    post = lambda classes: ClassifierPosterior(g, c, classes, 0.5)  # noqa: E731
    expr = lambda text, w=0.35: ExpressionPosterior(g, c, text, 0.5, w)  # noqa: E731
    # a disjunction of disjoint digits is exactly the posterior of the union
    assert torch.allclose(expr("0 or 2 or 4 or 6 or 8").log_prob(z), post("even").log_prob(z), atol=1e-4)
    assert torch.allclose(expr("not 4").log_likelihood(z), post("0,1,2,3,5,6,7,8,9").log_likelihood(z), atol=1e-5)
    # and = sum of class energies; without = weighted negation
    assert torch.allclose(expr("even and not 4").log_likelihood(z),
                          post("even").log_likelihood(z) + post("0,1,2,3,5,6,7,8,9").log_likelihood(z),
                          atol=1e-5)
    assert torch.allclose(expr("even without 4", 0.5).log_likelihood(z),
                          post("even").log_likelihood(z) - 0.5 * post("4").log_likelihood(z), atol=1e-5)
    # the prior is counted once: conjoining two whole posteriors would count it twice
    assert torch.allclose(expr("3 and 3").log_prob(z) - post("3").log_prob(z), post("3").log_likelihood(z), atol=1e-4)
    # the generic algebra applies to zoo energies too
    either = post("3") | post("8")
    assert torch.allclose(either.log_prob(z), post("3,8").log_prob(z), atol=1e-4)


def test_bounded_expressions_have_exact_samplers_and_without_does_not(gan_and_classifier):
    g, c = gan_and_classifier
    e = ExpressionPosterior(g, c, "even and not 4", 0.5)
    z, acc = e.rejection_sample(500, torch.Generator().manual_seed(0))
    assert z.shape == (500, 10) and 0 < acc < 1
    labels = e.class_probabilities(z).argmax(-1)
    assert (labels == 4).float().mean() < 0.03 and torch.isin(labels, torch.tensor([0, 2, 6, 8])).float().mean() > 0.85
    unbounded = ExpressionPosterior(g, c, "even without 4", 0.5)
    assert not unbounded.has_samples
    with pytest.raises(EndpointError, match="no exact rejection sampler; use MALA"):
        unbounded.rejection_sample(10)
    with pytest.raises(ExpressionError, match="selects no digit"):
        ExpressionPosterior(g, c, "even and odd", 0.5)


def test_kl_from_prior_matches_its_definition(gan_and_classifier):
    g, c = gan_and_classifier
    post = ClassifierPosterior(g, c, "3", 0.5)
    kl, se = post.kl_from_prior(50_000, torch.Generator().manual_seed(0))
    log_z, _ = post.estimate_log_z(50_000, torch.Generator().manual_seed(1))
    z = torch.randn(50_000, 10, generator=torch.Generator().manual_seed(2))
    assert kl == pytest.approx(log_z - post.log_likelihood(z).mean().item(), abs=5 * se + 0.05)
    assert kl > 0
