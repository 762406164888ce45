"""Faithful mode weights: the replay buffer of an energy end carries the target's proportions
when it is refilled by importance resampling of paths (``buffer_resampling="path_weights"``),
however wrong the process heading there is; and the mode-weight benchmark's command line."""

import pytest
import torch

from d2e_zoo.benchmarks import mode_weights as mw
from d2e_zoo.endpoints.toy import Gaussian, GaussianMixture
from d2e_zoo.ipf import ConfigError, IPFConfig, IPFTrainer
from d2e_zoo.ipf.trainer import tempered_resampling_weights

WEIGHTS = torch.tensor([0.6, 0.3, 0.1])


def _mixture(sep=2.5):
    means = torch.tensor([[sep, 0.0], [0.0, sep], [-sep, 0.0]])
    return GaussianMixture(means, 0.5, WEIGHTS, name="unequal")


def _fresh_trainer(resampling: str, method="d2e", **overrides):
    target = _mixture()
    prior = Gaussian(dim=2, std=1.0)
    source = prior if method == "d2e" else prior.energy_view()
    settings = dict(num_steps=10, hidden=32, buffer_size=4000, langevin_steps=1, langevin_step=1e-4,
                    buffer_resampling=resampling, resampling_candidates=16, resampling_min_ess=0.002, seed=0)
    config = IPFConfig(**{**settings, **overrides})
    return IPFTrainer(source, target.energy_view(), config, method), target


def _buffer_weights(trainer, target):
    trainer._refresh_buffers()
    buf = trainer.buffers["target"]
    states = buf.sample(len(buf), torch.Generator().manual_seed(1))
    return torch.bincount(target.assign_modes(states), minlength=3).double() / len(states)


def test_resampled_buffer_carries_the_targets_proportions_from_an_untrained_bridge():
    """Untrained kernels (the reference) end far from the mixture: their end states put about
    equal mass near each mode (0.38 / 0.25 / 0.37); resampled by path weights they carry the
    mixture's 0.6 / 0.3 / 0.1."""
    plain, target = _fresh_trainer("none")
    resampled, _ = _fresh_trainer("path_weights")
    w_plain, w_res = _buffer_weights(plain, target), _buffer_weights(resampled, target)
    tv = lambda w: 0.5 * float((w - WEIGHTS.double()).abs().sum())  # noqa: E731
    assert tv(w_plain) > 0.15, w_plain  # the bias a buffer inherits without resampling
    assert tv(w_res) < 0.05, w_res
    assert 0 < resampled.last_resampling_ess <= 1


def test_tempering_keeps_the_effective_sample_size():
    """Uneven weights are tempered to w^beta with the largest beta whose ESS fraction reaches
    the floor; even enough weights are used as they are (beta = 1)."""
    log_w = torch.linspace(0, 40, 1000, dtype=torch.float64)  # a few paths dominate
    beta, p = tempered_resampling_weights(log_w, 0.2)
    ess = float(1 / (p ** 2).sum() / 1000)
    assert 0 < beta < 1 and 0.19 < ess < 0.21
    assert torch.allclose(p, torch.softmax(beta * log_w, 0))
    flat = torch.zeros(100, dtype=torch.float64)
    assert tempered_resampling_weights(flat, 0.5)[0] == 1.0
    # the trainer records what it used
    trainer, _ = _fresh_trainer("path_weights", resampling_min_ess=0.5)
    x = trainer._resampled_end_states("target", 500)
    assert trainer.last_resampling_beta < 1 and trainer.last_resampling_ess >= 0.49
    # at most ESS states come back: the buffer keeps its older states instead of copies
    m = trainer.config.resampling_candidates * 500
    assert x.shape == (min(500, round(trainer.last_resampling_ess * m)), 2)


def test_a_refill_adds_only_effective_samples_and_keeps_older_states():
    """Very uneven weights (a low ESS floor) give few effective samples: the refill adds that
    many states and the rest of the buffer stays as it was."""
    trainer, _ = _fresh_trainer("path_weights", resampling_min_ess=0.002, resampling_candidates=4)
    buf = trainer.buffers["target"]
    old = torch.full((4000, 2), 7.0)
    buf.add(old, torch.zeros(4000))
    x = trainer._resampled_end_states("target", 1000)
    ess = trainer.last_resampling_ess * 4000
    assert ess < 900 and x.shape[0] == round(ess)
    buf.add(x, torch.zeros(len(x)))
    assert int((buf.sample(4000, torch.Generator().manual_seed(0)) == 7.0).all(1).sum()) > 2000


def test_energy_to_energy_resamples_too():
    trainer, target = _fresh_trainer("path_weights", method="e2e")
    trainer._refresh_buffers()  # first fill of the source buffer (broad Gaussian), then the target's
    w = _buffer_weights(trainer, target)
    assert 0.5 * float((w - WEIGHTS.double()).abs().sum()) < 0.08, w


def test_resampling_needs_the_source_density_and_an_energy_target():
    target = _mixture()
    config = IPFConfig(num_steps=5, hidden=16, buffer_resampling="path_weights")
    with pytest.raises(ConfigError, match="source density.*sample_view"):
        IPFTrainer(Gaussian(dim=2).sample_view(), target.energy_view(), config, "d2e")
    with pytest.raises(ConfigError, match="d2e and e2e"):
        IPFTrainer(Gaussian(dim=2).sample_view(), target.sample_view(), config, "d2d")
    with pytest.raises(ConfigError, match="unknown buffer_resampling 'sir'; valid: none, path_weights"):
        IPFConfig(buffer_resampling="sir")


def test_family_tasks_have_unequal_weights_and_the_ten_dimensional_task():
    ten = mw.mixture(10, 3.0)
    assert ten.num_modes == 5 and torch.allclose(ten.weights, torch.tensor([0.35, 0.25, 0.20, 0.12, 0.08]))
    assert torch.allclose(ten.means[:5, :5], 3.0 * torch.eye(5))
    for dim, modes in ((2, 6), (50, 10)):
        t = mw.mixture(dim, 5.0)
        assert t.num_modes == modes and t.dim == dim and float(t.weights.max() / t.weights.min()) > 2.5
    rows = mw.rows_for([2, 10, 50], list(mw.BRIDGE_METHODS), list(mw.RECIPES), [0], 60.0)
    assert len(rows) == 3 * 2 * 5  # dims x separations x (d2e, e2e: two recipes; d2d: one)


def test_family_command_refuses_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        mw.main(["--seconds", "nan"])
    assert e.value.code == 2 and "--seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mw.main(["--dims", "7"])


def _trained_mode_tv(seed: int, resampled: bool) -> float:
    """Mode-weight TV of a small d2e bridge from N(0, I) to 3 modes (std 0.5) at ``3 e_1,
    3 e_2, 3 e_3`` in 10-D with weights 0.6 / 0.3 / 0.1, after a short training (~5 s)."""
    torch.manual_seed(0)
    dim, weights = 10, torch.tensor([0.6, 0.3, 0.1])
    means = torch.zeros(3, dim)
    means[0, 0] = means[1, 1] = means[2, 2] = 3.0
    target = GaussianMixture(means, 0.5, weights, name="unequal-10d")
    settings = dict(num_steps=10, sigma2=0.5, hidden=64, depth=2, ipf_iterations=6, backward_steps=40,
                    forward_steps=80, batch_size=128, lr=2e-3, off_policy_start=0.5, off_policy_end=0.2,
                    buffer_size=512, langevin_steps=10, langevin_step=0.05, langevin_init_steps=50, seed=seed)
    if resampled:
        settings.update(mw.RESAMPLED)
    trainer = IPFTrainer(Gaussian(dim=dim), target.energy_view(), IPFConfig(**settings), "d2e")
    trainer.train()
    x1 = trainer.sample(2000, generator=torch.Generator().manual_seed(1)).x_last
    w = torch.bincount(target.assign_modes(x1), minlength=3).double() / 2000
    return 0.5 * float((w - weights.double()).abs().sum())


@pytest.mark.slow
def test_trained_bridges_keep_the_mode_weights_only_with_the_resampled_buffer():
    """Over four seeds the plain recipe over-weights the heavy mode (mean TV about 0.15 when
    written) and the resampled buffer keeps the proportions (about 0.05): the bias, and its fix,
    on a trained bridge."""
    seeds = range(4)
    plain = sum(_trained_mode_tv(s, False) for s in seeds) / 4
    resampled = sum(_trained_mode_tv(s, True) for s in seeds) / 4
    assert plain > 0.11, plain
    assert resampled < 0.08 and resampled < 0.5 * plain, (resampled, plain)
