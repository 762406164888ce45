"""Every public metric refuses non-finite input with a ValueError that says so (never a NaN
result, never a raw numpy / OverflowError)."""

import math

import numpy as np
import pytest
import torch

from d2e_zoo.metrics import (auroc, auroc_standard_error, effective_sample_size, elbo, eubo, iw_log_z, mode_weights,
                             w2_squared)

GOOD = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_w2_refuses_non_finite_points_on_either_side(bad):
    worse = GOOD.clone()
    worse[1, 1] = bad
    with pytest.raises(ValueError, match="x contains non-finite"):
        w2_squared(worse, GOOD)
    with pytest.raises(ValueError, match="y contains non-finite"):
        w2_squared(GOOD, worse.numpy())
    assert w2_squared(GOOD, GOOD) == pytest.approx(0.0)


@pytest.mark.parametrize("fn", [elbo, iw_log_z, eubo, effective_sample_size])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_log_z_estimators_refuse_non_finite_log_weights(fn, bad):
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.tensor([0.0, bad, 1.0]))


@pytest.mark.parametrize("fn", [auroc, auroc_standard_error])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_auroc_refuses_non_finite_scores_on_either_side(fn, bad):
    with pytest.raises(ValueError, match="scores_in has 1 non-finite"):
        fn([0.1, bad], [0.5, 0.7])
    with pytest.raises(ValueError, match="scores_out has 1 non-finite"):
        fn(np.array([0.1, 0.2]), torch.tensor([bad, 0.7]))


@pytest.mark.parametrize("num_modes", [math.nan, math.inf, 2.5, 0, "3", True])
def test_mode_weights_refuses_a_non_finite_or_non_integer_mode_count(num_modes):
    with pytest.raises(ValueError, match="num_modes must be an integer >= 1"):
        mode_weights(torch.tensor([0, 1, 1]), num_modes)


def test_mode_weights_accepts_integer_like_counts_and_refuses_float_assignments():
    assert mode_weights(torch.tensor([0, 1, 1]), np.int64(2)).tolist() == pytest.approx([1 / 3, 2 / 3])
    with pytest.raises(ValueError, match="integer mode indices"):
        mode_weights(torch.tensor([0.0, math.nan]), 2)
