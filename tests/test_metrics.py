"""W2^2 against closed forms; log Z estimators against a Gaussian pair with known Z."""

import math

import numpy as np
import pytest
import torch

from d2e_zoo.metrics.log_z import effective_sample_size, elbo, eubo, iw_log_z
from d2e_zoo.metrics.w2 import mode_weights, w2_squared


# ---------------------------------------------------------------------------------- W2
def test_w2_of_a_sample_with_itself_is_zero():
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0))
    assert w2_squared(x, x) == pytest.approx(0.0, abs=1e-10)
    assert w2_squared(x, x[torch.randperm(300)]) == pytest.approx(0.0, abs=1e-10)


def test_w2_of_a_shift_is_the_squared_shift():
    # sum_i |x_i - x_s(i) - c|^2 = sum_i |x_i - x_s(i)|^2 + N |c|^2: the identity matching wins
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4))
    c = np.array([0.3, -1.0, 2.0, 0.05])
    y = (x + c)[rng.permutation(400)]
    assert w2_squared(x, y) == pytest.approx(float(c @ c), rel=1e-9)
    assert w2_squared(torch.from_numpy(x).float(), torch.from_numpy(y).float()) == pytest.approx(
        float(c @ c), rel=1e-5
    )


def test_w2_in_one_dimension_is_the_sorted_matching():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(250, 1))
    y = rng.gamma(2.0, size=(250, 1))
    expected = np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2)
    assert w2_squared(x, y) == pytest.approx(expected, rel=1e-9)
    # unequal sizes, M = 2N: each sorted x takes the two y's of its quantile cell
    z = rng.standard_t(5, size=(500, 1))
    xs, zs = np.sort(x[:, 0]), np.sort(z[:, 0])
    expected = np.mean((np.repeat(xs, 2) - zs) ** 2)
    assert w2_squared(x, z) == pytest.approx(expected, rel=1e-9)


def test_w2_rejects_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="dimension"):
        w2_squared(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="shape"):
        w2_squared(np.zeros(5), x)
    with pytest.raises(ValueError, match="shape"):
        w2_squared(np.zeros((0, 2)), x)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        w2_squared(bad, x)


def test_mode_weights():
    w = mode_weights(torch.tensor([0, 0, 1, 2, 2, 2]), 4)
    assert w.dtype == torch.float32
    assert torch.allclose(w, torch.tensor([2 / 6, 1 / 6, 3 / 6, 0.0]))
    with pytest.raises(ValueError, match="range"):
        mode_weights(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="integer"):
        mode_weights(torch.tensor([0.0, 1.0]), 4)
    with pytest.raises(ValueError, match="non-empty"):
        mode_weights(torch.tensor([], dtype=torch.long), 4)


# ----------------------------------------------------------------------------- log Z
LOG_Z = 1.3
SHIFT = 0.5


def log_w_gaussian(x):
    """log p~(x) - log q(x) for q = N(0, 1), p~ = Z N(SHIFT, 1): log Z + SHIFT x - SHIFT^2/2."""
    return LOG_Z + SHIFT * x - 0.5 * SHIFT**2


def test_log_z_bounds_and_importance_weighted_estimate():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    x_q = torch.randn(n, generator=g, dtype=torch.float64)  # from the proposal
    x_p = SHIFT + torch.randn(n, generator=g, dtype=torch.float64)  # from the target
    lw_q, lw_p = log_w_gaussian(x_q), log_w_gaussian(x_p)

    lower, upper, iw = elbo(lw_q), eubo(lw_p), iw_log_z(lw_q)
    assert lower <= LOG_Z <= upper
    # closed forms: elbo = log Z - KL(q||p), eubo = log Z + KL(p||q), KL = SHIFT^2 / 2
    kl = 0.5 * SHIFT**2
    assert lower == pytest.approx(LOG_Z - kl, abs=0.02)
    assert upper == pytest.approx(LOG_Z + kl, abs=0.02)
    assert abs(iw - LOG_Z) < 0.05
    assert lower <= iw

    ess = effective_sample_size(lw_q)
    assert 0.0 < ess <= 1.0
    assert ess == pytest.approx(math.exp(-SHIFT**2), abs=0.02)  # 1 / E_q[(w/Z)^2]


def test_equal_weights_make_all_estimates_agree():
    lw = torch.full((100,), 2.5)
    assert elbo(lw) == pytest.approx(2.5)
    assert iw_log_z(lw) == pytest.approx(2.5)
    assert eubo(lw) == pytest.approx(2.5)
    assert effective_sample_size(lw) == pytest.approx(1.0)


def test_degenerate_weights_give_tiny_ess_without_overflow():
    lw = torch.zeros(1000, dtype=torch.float64)
    lw[0] = 1e4  # exp would overflow: estimators must work in log space
    assert effective_sample_size(lw) == pytest.approx(1e-3, rel=1e-6)
    assert iw_log_z(lw) == pytest.approx(1e4 - math.log(1000))


@pytest.mark.parametrize("fn", [elbo, iw_log_z, eubo, effective_sample_size])
def test_log_z_estimators_reject_bad_input(fn):
    with pytest.raises(ValueError, match="empty"):
        fn(torch.tensor([]))
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.tensor([0.0, float("inf")]))
    with pytest.raises(ValueError, match="1-D"):
        fn(torch.zeros(3, 2))
