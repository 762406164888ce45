"""Loss functions on hand-made log-weights."""

import pytest
import torch

from d2e_zoo.objectives import (grouped_log_variance_loss, log_variance_loss, maximum_likelihood_loss,
                                trajectory_balance_loss)


def test_grouped_log_variance_ignores_per_group_offsets():
    """A constant per start point (its unknown log p0) must not change the loss."""
    log_w = torch.randn(16, 4)
    shifted = log_w + torch.randn(16, 1) * 100
    assert torch.allclose(grouped_log_variance_loss(log_w), grouped_log_variance_loss(shifted), atol=1e-3)
    assert grouped_log_variance_loss(torch.randn(16, 1).expand(16, 4)) < 1e-10
    manual = ((log_w - log_w.mean(1, keepdim=True)) ** 2).sum(1).mean() / 3
    assert torch.allclose(grouped_log_variance_loss(log_w), manual)


def test_grouped_log_variance_needs_two_per_group():
    with pytest.raises(ValueError, match="n >= 2"):
        grouped_log_variance_loss(torch.zeros(8, 1))


def test_log_variance_and_trajectory_balance_optima():
    log_w = torch.full((32,), -2.5)
    assert log_variance_loss(log_w) == 0
    assert trajectory_balance_loss(log_w, torch.tensor(2.5)) == 0
    assert trajectory_balance_loss(log_w, torch.tensor(0.0)) == pytest.approx(6.25)


def test_maximum_likelihood_is_mean_negative_log_prob():
    lp = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]])
    assert maximum_likelihood_loss(lp) == pytest.approx(2.5)
