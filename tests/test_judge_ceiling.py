"""The exact posterior's judge precision: the estimator, its agreement with rejection
sampling on the bundled zoo, and the command."""

import json

import pytest
import torch

from d2e_zoo import load
from d2e_zoo.benchmarks import judge_ceiling
from d2e_zoo.benchmarks.judge_ceiling import weighted_judge_precision
from d2e_zoo.energies import ClassifierPosterior


def test_weighted_precision_closed_form():
    probs = torch.zeros(4, 10)
    probs[0, 2], probs[0, 3] = 0.8, 0.2  # p(even) = 0.8, judge says 2 (in C)
    probs[1, 4], probs[1, 5] = 0.5, 0.5  # p(even) = 0.5, judge says 5 (not in C)
    probs[2, 1] = 1.0                    # p(even) = 0: no weight
    probs[3, 6], probs[3, 7] = 0.3, 0.7  # p(even) = 0.3, judge says 6 (in C)
    labels = torch.tensor([2, 5, 1, 6])
    assert weighted_judge_precision(probs, labels, "even") == pytest.approx((0.8 + 0.3) / (0.8 + 0.5 + 0.3))
    assert weighted_judge_precision(probs, labels, "odd") == pytest.approx((0.5 + 1.0) / (0.2 + 0.5 + 1.0 + 0.7))


def test_weighted_precision_errors():
    with pytest.raises(ValueError, match="zero weight"):
        weighted_judge_precision(torch.eye(10)[:3], torch.tensor([0, 1, 2]), "9")
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        weighted_judge_precision(torch.eye(10)[:3], torch.tensor([0, 1]), "even")
    with pytest.raises(Exception, match="0-9"):
        weighted_judge_precision(torch.eye(10)[:3], torch.tensor([0, 1, 2]), "12")


@pytest.mark.slow
def test_matches_rejection_sampling_on_the_zoo():
    """The weighted estimate equals the judge precision of exact rejection samples (digit 3
    on mnist-gan, T = 0.5), up to Monte Carlo error."""
    torch.manual_seed(0)
    gen, clf, judge = load("mnist-gan"), load("mnist-classifier"), load("mnist-judge")
    rows = judge_ceiling.image_rows(judge_ceiling.generate_images(gen, 30_000, seed=1), clf, judge, ["3"], 0.5)
    exact, _ = ClassifierPosterior(gen, clf, "3", 0.5).rejection_sample(3000, torch.Generator().manual_seed(2))
    with torch.no_grad():
        judged = (judge(gen(exact)).argmax(-1) == 3).double().mean().item()
    assert abs(rows["precision"]["3"] - judged) < 0.03, (rows["precision"]["3"], judged)


@pytest.mark.slow
def test_command_json(capsys):
    assert judge_ceiling.main(["--generators", "mnist-gan", "--targets", "even", "--num-latents", "3000",
                               "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"real", "mnist-gan"}
    # real digits: the energy and the judge agree; the generator's ambiguous images cost precision
    assert out["real"]["precision"]["even"] > 0.97 and out["real"]["agreement"] > 0.95
    assert out["mnist-gan"]["precision"]["even"] < out["real"]["precision"]["even"]
    assert out["mnist-gan"]["num_images"] == 3000 and out["real"]["num_images"] == 1000


def test_command_bad_input(capsys):
    for argv, message in ((["--generators", "mnist-nope"], "argument --generators: unknown zoo generator 'mnist-nope'; "
                                                           "valid zoo generators: mnist-gan, mnist-gan-z50, mnist-vae"),
                          (["--targets", "11"], "argument --targets: target classes [11] outside the valid range 0-9"),
                          (["--temperature", "nan"], "argument --temperature: must be a finite number")):
        with pytest.raises(SystemExit) as e:
            judge_ceiling.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err, err
    with pytest.raises(ValueError, match="'mnist-even' is a zoo bridge, not a generator"):
        judge_ceiling.run_judge_ceiling(["mnist-even"], ["even"], num_latents=10)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        judge_ceiling.run_judge_ceiling(["mnist-gan"], ["even"], temperature=float("nan"))
