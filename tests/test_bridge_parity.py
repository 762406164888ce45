"""Trainer-pipeline parity: a bridge trained by :class:`IPFTrainer` and exported as a
:class:`D2EBridgePipeline` (``BridgeDriftModel.from_drift_net`` + ``BridgeScheduler``) must
give the same paths and the same path log-weights for the same seed, on the training grid
and on another step count. Both sides take their steps from one transition function, and the
pipeline runs the trainer's simulation, so the match is exact up to float rounding."""

import pytest
import torch
from diffusers import ConfigMixin, ModelMixin
from torch import nn

from d2e_zoo.dynamics import ReferenceKernel, TimeGrid, simulate, transition_log_probs
from d2e_zoo.dynamics.networks import DriftNet
from d2e_zoo.endpoints.toy import Gaussian, GaussianMixture
from d2e_zoo.ipf import IPFConfig, IPFTrainer
from d2e_zoo.metrics.bridge import path_log_weights
from d2e_zoo.models import BridgeDriftModel, MLPClassifier
from d2e_zoo.pipelines import BridgeScheduler, D2EBridgePipeline

DIM, N = 3, 250  # N * DIM not a multiple of 16: per-step and up-front noise draws differ


class _TinyDecoder(ModelMixin, ConfigMixin):
    """Stands in for the latent-to-image network, which these checks never call."""

    def __init__(self, d=DIM):
        super().__init__()
        self.lin = nn.Linear(d, 784)
        self.latent_dim = d

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 28, 28)


def _train(reference: str) -> IPFTrainer:
    """A few seconds of data-to-data IPF, N(0, I) -> a 2-component mixture in 3-D, with
    learned variance: the drift and the log-variance multiplier are far from zero."""
    source = Gaussian(DIM, std=1.0)
    target = GaussianMixture(torch.tensor([[1.5, 0.0, 0.5], [-1.0, 1.0, -0.5]]), std=0.4)
    cfg = IPFConfig(num_steps=6, t_max=1.0, grid="cosine", reference=reference, sigma2=0.5, alpha=0.8,
                    hidden=32, depth=2, learn_variance=True, ipf_iterations=2, backward_steps=60,
                    forward_steps=60, batch_size=128, lr=3e-3, seed=3)
    trainer = IPFTrainer(source.sample_view(), target.sample_view(), cfg, "d2d")
    trainer.train()
    return trainer


def _export(trainer: IPFTrainer) -> D2EBridgePipeline:
    c = trainer.config
    scheduler = BridgeScheduler(num_train_timesteps=c.num_steps, t_max=c.t_max, grid=c.grid, reference=c.reference,
                                sigma2=c.sigma2, alpha=c.alpha, source_std=c.source_std)
    return D2EBridgePipeline(bridge=BridgeDriftModel.from_drift_net(trainer.forward.net),
                             backward_bridge=BridgeDriftModel.from_drift_net(trainer.backward.net),
                             scheduler=scheduler, decoder=_TinyDecoder(), classifier=MLPClassifier(hidden=(8,)),
                             target_classes=[1])


@pytest.fixture(scope="module", params=["brownian", "ou"])
def trained(request):
    torch.set_num_threads(1)
    trainer = _train(request.param)
    return trainer, _export(trainer)


def _scheduler_log_probs(pipe: D2EBridgePipeline, states: torch.Tensor):
    """Per-step ``(K, N)`` forward and backward log-probs through the scheduler's public API."""
    sch = pipe.scheduler
    log_f, log_b = [], []
    for k in range(sch.num_inference_steps):
        z, z_next = states[k], states[k + 1]
        log_f.append(sch.log_prob(pipe.bridge(z, sch.timesteps[k]), k, z, z_next))
        log_b.append(sch.backward_log_prob(pipe.backward_bridge(z_next, sch.times[k + 1]), k, z_next, z))
    return torch.stack(log_f), torch.stack(log_b)


def test_trained_kernels_are_not_the_reference(trained):
    """Otherwise parity would hold trivially: both kernels' drift and log-variance are far from
    zero, and the trained paths are far from the reference's for the same noise."""
    trainer, _ = trained
    with torch.no_grad():
        x = torch.randn(N, DIM, generator=torch.Generator().manual_seed(0))
        for kernel in (trainer.forward, trainer.backward):
            drift, log_var = kernel.net(x, torch.full((N,), 0.5))
            assert drift.abs().mean() > 0.1 and log_var.abs().mean() > 0.03
        x0 = x
        trained_x1 = trainer.sample(N, x0, generator=torch.Generator().manual_seed(1)).x_last
        ref = ReferenceKernel(trainer.reference, "forward")
        ref_x1 = simulate(ref, x0, trainer.grid, torch.Generator().manual_seed(1)).x_last
    assert (trained_x1 - ref_x1).norm(dim=-1).mean() > 0.3


@pytest.mark.parametrize("steps", [None, 7])  # None: the training grid (K = 6)
def test_pipeline_matches_trainer_paths_and_log_weights(trained, steps):
    trainer, pipe = trained
    c = trainer.config
    grid = trainer.grid if steps is None else TimeGrid.make(steps, c.t_max, c.grid)
    x0 = Gaussian(DIM, std=1.0).sample(N, torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = trainer.sample(N, x0, grid=grid, generator=torch.Generator().manual_seed(11)).states
    out = pipe(latents=x0, num_inference_steps=steps, generator=torch.Generator().manual_seed(11),
               return_trajectory=True, decode=False, progress=False)
    assert out.trajectory.shape == (grid.num_steps + 1, N, DIM)
    torch.testing.assert_close(out.times, grid.times)
    torch.testing.assert_close(out.trajectory, ours, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.latents, ours[-1], rtol=1e-5, atol=1e-5)

    # per-step log-probs: trainer kernels versus the scheduler's log_prob / backward_log_prob
    with torch.no_grad():
        log_f = transition_log_probs(trainer.forward, ours, grid)
        log_b = transition_log_probs(trainer.backward, ours, grid)
        sch_f, sch_b = _scheduler_log_probs(pipe, ours)
    torch.testing.assert_close(sch_f, log_f, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(sch_b, log_b, rtol=1e-5, atol=1e-4)
    assert (log_f - log_b).abs().mean() > 0.1  # the two kernels are different functions

    # per-path log-weights (the quantity behind ELBO / EUBO) from the scheduler's kernels
    source, target = Gaussian(DIM, std=1.0), Gaussian(DIM, std=0.7)
    sch = pipe.scheduler
    with torch.no_grad():
        w_trainer = path_log_weights(trainer.forward, trainer.backward, ours, grid, source, target)
        w_pipe = path_log_weights(sch.kernel(pipe.bridge), sch.kernel(pipe.backward_bridge, "backward"),
                                  out.trajectory, sch.grid, source, target)
    torch.testing.assert_close(w_pipe, w_trainer, rtol=1e-5, atol=1e-4)


def test_backward_paths_match(trained):
    """The backward direction too: the trainer's backward kernel and the exported
    ``backward_bridge`` as a scheduler kernel give the same paths from the same end states."""
    trainer, pipe = trained
    x1 = torch.randn(N, DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = simulate(trainer.backward, x1, trainer.grid, torch.Generator().manual_seed(4)).states
        pipe.scheduler.set_timesteps()
        theirs = simulate(pipe.scheduler.kernel(pipe.backward_bridge, "backward"), x1, pipe.scheduler.grid,
                          torch.Generator().manual_seed(4)).states
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)


def test_scheduler_step_loop_reproduces_the_pipeline(trained):
    """A diffusers-style loop over ``scheduler.step``, fed the noise that ``simulate`` draws
    (one ``randn((K, N, d))``), gives the pipeline's paths."""
    _, pipe = trained
    x0 = torch.randn(N, DIM, generator=torch.Generator().manual_seed(6))
    out = pipe(latents=x0, num_inference_steps=7, generator=torch.Generator().manual_seed(8),
               return_trajectory=True, decode=False, progress=False)
    sch = pipe.scheduler
    sch.set_timesteps(7)
    noise = torch.randn((7, N, DIM), generator=torch.Generator().manual_seed(8))
    z = x0
    with torch.no_grad():
        for k in range(7):
            z = sch.step(pipe.bridge(z, sch.timesteps[k]), k, z, variance_noise=noise[k]).next_sample
    torch.testing.assert_close(z, out.latents, rtol=1e-5, atol=1e-5)


def test_from_drift_net_copies_architecture_and_weights():
    """The export reads the net's own ``config`` (non-default time_dim, state_scale, depth)."""
    net = DriftNet(2, hidden=12, depth=2, learn_variance=True, max_log_var=1.5, t_scale=2.0, time_dim=8,
                   state_scale=3.0)
    torch.nn.init.normal_(net.head.weight, std=0.3)
    model = BridgeDriftModel.from_drift_net(net)
    assert {k: model.config[k] for k in net.config} == net.config
    x, t = torch.randn(9, 2), torch.rand(9) * 2
    with torch.no_grad():
        for ours, theirs in zip(net(x, t), model(x, t)):
            torch.testing.assert_close(theirs, ours)


def test_scheduler_rejects_a_step_outside_its_grid():
    sch = BridgeScheduler(num_train_timesteps=4)
    out = (torch.zeros(2, DIM), None)
    with pytest.raises(IndexError, match="step_index must be in 0..3"):
        sch.step(out, 4, torch.zeros(2, DIM))
    with pytest.raises(ValueError, match="valid: forward, backward"):
        sch.kernel(BridgeDriftModel(dim=DIM, hidden=8), "sideways")
