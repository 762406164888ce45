"""Bridge matching (d2e_zoo/ipf/matching.py): the entropic plan's marginals, the Brownian
bridge's closed-form marginals, and that a kernel fitted to bridges between entropic-OT pairs
carries a Gaussian to an unequal mixture in the mixture's own proportions."""

import pytest
import torch

from d2e_zoo.dynamics import TimeGrid
from d2e_zoo.endpoints.toy import Gaussian, GaussianMixture
from d2e_zoo.ipf import ConfigError, IPFConfig, IPFTrainer
from d2e_zoo.ipf.matching import brownian_bridge_paths, entropic_pairs, sinkhorn_plan

WEIGHTS = torch.tensor([0.6, 0.3, 0.1])


def test_sinkhorn_plan_has_uniform_marginals_and_prefers_near_pairs():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(64, 3, generator=g), torch.randn(48, 3, generator=g)
    cost = torch.cdist(x0, x1) ** 2
    plan = sinkhorn_plan(cost, 0.5)
    assert plan.shape == (64, 48)
    assert torch.allclose(plan.sum(1), torch.full((64,), 1 / 64, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(plan.sum(0), torch.full((48,), 1 / 48, dtype=torch.float64), atol=1e-9)
    # cheaper than the independent coupling, and more so as epsilon shrinks
    independent = float(cost.mean())
    assert float((plan * cost).sum()) < float((sinkhorn_plan(cost, 5.0) * cost).sum()) < independent
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_plan(cost, 0.0)


def test_entropic_pairs_shorten_the_distance_travelled():
    g = torch.Generator().manual_seed(1)
    x0, x1 = torch.randn(256, 10, generator=g), torch.randn(256, 10, generator=g) + 2.0
    paired = entropic_pairs(x0, x1, 1.0, g)
    assert paired.shape == x0.shape
    assert ((paired - x0) ** 2).sum(1).mean() < 0.9 * ((x1 - x0) ** 2).sum(1).mean()


def test_brownian_bridge_ends_exactly_and_has_the_closed_form_variance():
    """From x0 = x1 = 0 the bridge's marginal at t is N(0, sigma2 t (T - t) / T)."""
    grid = TimeGrid.make(10, 2.0)
    zeros = torch.zeros(40_000, 2)
    paths = brownian_bridge_paths(zeros, zeros + 1.5, grid, 0.5, torch.Generator().manual_seed(2))
    assert paths.shape == (11, 40_000, 2)
    assert torch.equal(paths[0], zeros) and torch.equal(paths[-1], zeros + 1.5)
    for k in (3, 5, 8):
        t = float(grid.times[k])
        assert paths[k].mean().item() == pytest.approx(1.5 * t / 2.0, abs=0.01)
        assert paths[k].var(0).mean().item() == pytest.approx(0.5 * t * (2.0 - t) / 2.0, rel=0.03)


def _trainer(**overrides):
    target = GaussianMixture(torch.tensor([[2.5, 0.0], [0.0, 2.5], [-2.5, 0.0]]), 0.5, WEIGHTS, name="unequal")
    settings = dict(num_steps=10, hidden=32, buffer_size=3000, langevin_steps=1, langevin_step=1e-4, seed=0,
                    lr=3e-3)
    return IPFTrainer(Gaussian(dim=2, std=1.0), target.energy_view(), IPFConfig(**{**settings, **overrides})), target


def test_matching_carries_the_mixture_weights():
    """A buffer of exact mixture samples, 400 matching steps from the untrained kernels: the
    forward process ends in the mixture's 0.6 / 0.3 / 0.1 (the untrained one: about equal)."""
    trainer, target = _trainer()
    g = torch.Generator().manual_seed(3)
    x = target.sample(3000, g)
    trainer.buffers["target"].add(x, target.log_prob(x))

    def weights():
        end = trainer.sample(4000, generator=torch.Generator().manual_seed(4)).x_last
        return torch.bincount(target.assign_modes(end), minlength=3).double() / 4000

    tv = lambda w: 0.5 * float((w - WEIGHTS.double()).abs().sum())  # noqa: E731
    assert tv(weights()) > 0.15
    for _ in range(400):
        trainer._matching_step()
    assert tv(weights()) < 0.05, weights()


def test_matching_replaces_the_last_backward_half_step_and_is_validated():
    trainer, _ = _trainer(ipf_iterations=2, backward_steps=3, forward_steps=2, matching_steps=5,
                          matching_weight=1.0, buffer_size=64, batch_size=16)
    assert [trainer._half_step_length(i, p) for i in range(2) for p in ("backward", "forward")] == [3, 2, 5, 2]
    state = trainer.train()
    assert state.iteration == 2 and state.backward_steps_done == 8 and state.forward_steps_done == 4
    sharpened, _ = _trainer(ipf_iterations=2, backward_steps=3, forward_steps=2, matching_steps=5, sharpen_last_steps=2,
                            sharpen_steps=7, buffer_size=64, batch_size=16)
    assert [sharpened._half_step_length(i, p) for i in range(2) for p in ("backward", "forward")] == [3, 2, 5, 7]
    with pytest.raises(ConfigError, match="brownian"):
        IPFConfig(reference="ou", matching_steps=10)
    with pytest.raises(ConfigError, match="sharpen_last_steps applies after"):
        IPFConfig(sharpen_last_steps=3)
    with pytest.raises(ConfigError, match="sharpen_last_steps must be"):
        IPFConfig(matching_steps=5, sharpen_last_steps=30)
    with pytest.raises(ConfigError, match="matching_weight"):
        IPFConfig(matching_weight=-1.0)
    with pytest.raises(ConfigError, match="set sharpen_last_steps > 0 too"):
        IPFConfig(matching_steps=5, sharpen_steps=40)
    with pytest.raises(ConfigError, match="sharpen_steps must be"):
        IPFConfig(matching_steps=5, sharpen_last_steps=3, sharpen_steps=-1)
    with pytest.raises(ConfigError, match="sampler"):
        IPFTrainer(Gaussian(dim=2), Gaussian(dim=2).energy_view(), IPFConfig(matching_steps=5), "sampler")


def test_sharpen_off_policy_sets_the_share_in_the_sharpening_half_step_only():
    trainer, _ = _trainer(ipf_iterations=3, matching_steps=5, sharpen_last_steps=2, sharpen_off_policy=0.0,
                          off_policy_start=0.5, off_policy_end=0.3, buffer_size=64, batch_size=16)
    shares = {}
    for iteration in range(3):
        for phase in ("backward", "forward"):
            trainer.state.iteration, trainer.state.phase = iteration, phase
            shares[iteration, phase] = trainer.off_policy_fraction
    assert shares[0, "backward"] == pytest.approx(0.5) and shares[2, "backward"] == pytest.approx(0.3)
    assert shares[1, "forward"] == pytest.approx(0.5 - 0.2 * 1.5 / 2)  # the schedule's, before the last iteration
    assert shares[2, "forward"] == 0.0  # the sharpening half-step
    unset, _ = _trainer(ipf_iterations=3, matching_steps=5, sharpen_last_steps=2, off_policy_end=0.3)
    unset.state.iteration, unset.state.phase = 2, "forward"
    assert unset.off_policy_fraction == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="sharpen_off_policy must be in"):
        IPFConfig(matching_steps=5, sharpen_last_steps=3, sharpen_off_policy=1.5)
    with pytest.raises(ConfigError, match="sharpen_off_policy applies"):
        IPFConfig(sharpen_off_policy=0.0)


def test_sharpening_reaches_only_the_last_transitions():
    """After matching, the last forward half-step's energy loss keeps its value but its gradient
    comes only from the last ``sharpen_last_steps`` transitions (same paths: same generator state)."""
    trainer, target = _trainer(ipf_iterations=1, matching_steps=1, sharpen_last_steps=3, batch_size=16,
                               buffer_size=64, n_per_start=2)
    x = target.sample(64, torch.Generator().manual_seed(5))
    trainer.buffers["target"].add(x, target.log_prob(x))
    trainer.state.phase = "forward"
    start = trainer.generator.get_state()
    params = list(trainer.forward.net.parameters())
    results = {}
    for keep in (10, 3, 0):
        trainer.config.sharpen_last_steps = keep
        trainer.generator.set_state(start)
        trainer._pools.clear()  # off-policy paths are pooled: simulate them afresh
        loss = trainer._energy_loss("forward")
        grads = torch.autograd.grad(loss, params)
        results[keep] = (float(loss), torch.cat([g.flatten() for g in grads]))
    assert results[3][0] == pytest.approx(results[0][0])  # the same loss value
    assert torch.allclose(results[10][1], results[0][1], atol=1e-6)  # all steps: the plain gradient
    assert not torch.allclose(results[3][1], results[0][1], atol=1e-6)
