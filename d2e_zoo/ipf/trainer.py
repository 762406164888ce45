"""One IPF trainer for data-to-data, data-to-energy, energy-to-energy and the sampler.

Each IPF iteration trains the backward kernel (matching the source end p0) and then the
forward kernel (matching the target end p1). A half-step picks its loss by what the end
it matches offers (docs/method.md section 3):

* samples -> maximum likelihood on transitions of the *other* process started there;
* energy  -> off-policy log-variance over groups of ``n_per_start`` trajectories that share
  a start point. Start points come on-policy from the start end (its samples, or its
  replay buffer when it is an energy too) or off-policy: a state of the matched end's
  replay buffer, carried to the start by the other kernel, whose trajectory then joins
  its group.

The ``sampler`` method is the plain diffusion sampler: the backward kernel is the exact
reversal of the reference started at the Gaussian source, and only the forward kernel is
trained (trajectory balance with learned log Z, log-variance, or on-policy reverse KL).
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from ..checkpointing import flatten_optimizer, unflatten_optimizer
from ..dynamics import GaussianKernel, ReferenceKernel, ReferenceProcess, TimeGrid, simulate, transition_log_probs
from ..endpoints.base import Endpoint
from ..exploration.langevin import LangevinSampler
from ..exploration.replay_buffer import ReplayBuffer
from ..objectives import (grouped_log_variance_loss, log_variance_loss, maximum_likelihood_loss,
                          reverse_kl_loss, trajectory_balance_loss)
from ..run_folder import check_writable
from ..step_loop import LoopResult, NonFiniteLossError, TimeBudget, run_loop
from .checkpoint import save_checkpoint
from .config import METHODS, ConfigError, IPFConfig
from .matching import brownian_bridge_paths, entropic_pairs, matching_loss
from .train_state import StepRecord, TrainState

logger = logging.getLogger(__name__)

LOG_EVERY = 50  # steps per loss-history record

__all__ = ["IPFTrainer", "NonFiniteLossError", "StepRecord", "TrainState", "check_method", "infer_method"]


def infer_method(source: Endpoint, target: Endpoint) -> str:
    """The IPF variant that what the two ends offer allows."""
    if source.has_samples and target.has_samples:
        return "d2d"
    if source.has_samples and target.has_density:
        return "d2e"
    if source.has_density and target.has_density:
        return "e2e"
    raise ConfigError(f"cannot bridge {source!r} to {target!r}: each end needs samples or a density")


def check_method(method: str, source: Endpoint, target: Endpoint):
    """Raise a clear error if ``method`` cannot run on these ends."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if source.dim != target.dim:
        raise ConfigError(f"endpoints have different dimensions: source {source.name!r} is {source.dim}-d, "
                          f"target {target.name!r} is {target.dim}-d")
    needs = {"d2d": ("samples", "samples"), "d2e": ("samples", "density"),
             "e2e": ("density", "density"), "sampler": ("samples+density", "density")}[method]
    for end, need in zip((source, target), needs):
        ok = all(getattr(end, f"has_{n}") for n in need.split("+"))
        if not ok:
            raise ConfigError(f"method {method!r} needs the {'source' if end is source else 'target'} end "
                              f"{end.name!r} to offer {need}; it offers {end!r}")


def tempered_resampling_weights(log_w: torch.Tensor, min_ess: float, iterations: int = 30):
    """``(beta, probs)``: resampling probabilities ``softmax(beta * log_w)`` (``log_w``: ``(m,)``)
    with the largest ``beta`` in [0, 1] whose effective sample size fraction
    ``1 / (m sum probs^2)`` is at least ``min_ess`` (bisection; the ESS falls as ``beta``
    grows). ``beta = 1`` is plain importance resampling, ``beta = 0`` keeps every candidate
    equally likely."""
    m = log_w.numel()

    def probs_at(beta: float) -> torch.Tensor:
        return torch.softmax(beta * log_w, 0)

    def ess(p: torch.Tensor) -> float:
        return float(1.0 / (p ** 2).sum() / m)

    full = probs_at(1.0)
    if ess(full) >= min_ess:
        return 1.0, full
    low, high = 0.0, 1.0
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if ess(probs_at(mid)) >= min_ess else (low, mid)
    return low, probs_at(low)


class IPFTrainer:
    """Trains a forward kernel (and, except for the sampler, a backward kernel).

    Args:
        source: the end at t=0 (p0).
        target: the end at t=T (p1).
        config: an :class:`IPFConfig`.
        method: one of ``d2d``, ``d2e``, ``e2e``, ``sampler``; inferred if None.
    """

    def __init__(self, source: Endpoint, target: Endpoint, config: IPFConfig, method: Optional[str] = None):
        method = method or infer_method(source, target)
        check_method(method, source, target)
        if config.buffer_resampling != "none":
            if method not in ("d2e", "e2e"):
                raise ConfigError(f"buffer_resampling={config.buffer_resampling!r} applies to the d2e and e2e "
                                  f"methods (an energy target with a replay buffer), not {method!r}")
            if not source.has_density:
                raise ConfigError(f"buffer_resampling={config.buffer_resampling!r} weighs paths by the source "
                                  f"density, but the source {source.name!r} offers {source!r}; pass an endpoint "
                                  "with a log-density (e.g. Gaussian(...) rather than its sample_view())")
        if method == "sampler" and (config.matching_steps or config.matching_weight):
            raise ConfigError("bridge matching (matching_steps, matching_weight) trains a learned backward kernel; "
                              "the 'sampler' method has none")
        self.source, self.target, self.config, self.method = source, target, config, method
        c, d = config, source.dim
        self.grid = TimeGrid.make(c.num_steps, c.t_max, c.grid)
        self.reference = ReferenceProcess.make(c.reference, c.sigma2, c.alpha, c.source_std)
        kernel_args = dict(hidden=c.hidden, depth=c.depth, learn_variance=c.learn_variance,
                           max_log_var=c.max_log_var, t_scale=c.t_max, state_scale=c.state_scale)
        with torch.random.fork_rng():  # the same seed gives the same initial networks
            torch.manual_seed(c.seed)
            guidance = {}
            if c.score_guidance:
                if method != "sampler":
                    raise ConfigError("score_guidance is only available for the 'sampler' method")
                guidance = dict(score_fn=target.grad_log_prob, guidance_scale=c.sigma2,
                                guidance_clip=c.guidance_clip)
            self.forward = GaussianKernel(d, "forward", self.reference, **kernel_args, **guidance)
            if method == "sampler":
                self.backward = ReferenceKernel(self.reference, "backward")
            else:
                self.backward = GaussianKernel(d, "backward", self.reference, **kernel_args)
        self.log_z = torch.nn.Parameter(torch.zeros(()))
        self.forward_optimizer = torch.optim.Adam(
            [{"params": self.forward.parameters(), "lr": c.lr}, {"params": [self.log_z], "lr": c.lr_log_z}])
        self.backward_optimizer = (torch.optim.Adam(self.backward.parameters(), lr=c.lr)
                                   if method != "sampler" else None)
        self.generator = torch.Generator().manual_seed(c.seed)
        self.buffers = {name: ReplayBuffer(c.buffer_size, d)
                        for name, end in (("source", source), ("target", target))
                        if (end.has_density and not end.has_samples) or (name == "target" and method == "sampler")}
        self.state = TrainState()
        self.run_info: dict = {}  # JSON description of the run (e.g. its recipe), saved with checkpoints
        # trajectories of the kernel that is frozen during the current half-step, simulated
        # in blocks (see _frozen_trajectories); emptied whenever that kernel or a buffer changes
        self._pools: dict = {}
        # called with the optimizer's parameters after every backward pass, before
        # clipping: multi-process training averages gradients across processes here
        self.grad_hook: Optional[Callable[[list], None]] = None
        self.last_resampling_ess: Optional[float] = None  # see _resampled_end_states
        self.last_resampling_beta: Optional[float] = None

    # ------------------------------------------------------------------ public API --
    def train(self, max_seconds: Optional[float] = None, checkpoint_dir: Optional[str] = None,
              progress: bool = False, callback: Optional[Callable[["IPFTrainer"], None]] = None) -> TrainState:
        """Run (or resume) the IPF schedule until done, or until ``max_seconds`` of training
        (counted across resumes) have passed: the budget only stops training early, between
        or inside half-steps, and never changes the schedule. After every completed half-step
        a checkpoint is written when ``checkpoint_dir`` is given (its folder is checked to be
        writable before the first step) and ``callback(trainer)`` is called. A non-finite
        loss restores the last completed half-step's state and raises
        :class:`NonFiniteLossError`."""
        c, st = self.config, self.state
        budget = TimeBudget(max_seconds, already=st.seconds)
        if checkpoint_dir:
            check_writable(Path(checkpoint_dir).resolve().parent)
        good = self._snapshot()
        bar = self._progress_bar() if progress else None  # one bar for the whole schedule, with its ETA
        while st.iteration < c.ipf_iterations:
            phase = st.phase
            if phase == "backward" and self.method == "sampler":
                st.phase = "forward"
                continue
            if budget.exhausted():
                self._log_budget_stop(budget, f"before IPF iteration {st.iteration + 1} ({phase})")
                break
            result = self._run_half_step(phase, budget, bar, good, checkpoint_dir)
            if result.stopped_early:
                self._log_budget_stop(budget, f"inside IPF iteration {st.iteration + 1} ({phase}); that "
                                              "half-step is not checkpointed")
                break
            logger.info("IPF iteration %d %s half-step done, loss %.4g, %.1f s", st.iteration + 1, phase,
                        result.last["loss"], st.seconds)
            if phase == "backward":
                st.phase = "forward"
            else:
                st.phase, st.iteration = "backward", st.iteration + 1
            good = self._snapshot()
            if checkpoint_dir:
                save_checkpoint(self, checkpoint_dir)
            if callback is not None:
                callback(self)
        if bar is not None:
            bar.close()
        return st

    def _is_last_iteration(self, iteration: int) -> bool:
        """Whether ``iteration`` (0-based) is the schedule's last: where bridge matching, its
        loss term and the sharpening of the last steps apply."""
        return iteration == self.config.ipf_iterations - 1

    def _matching_half_step(self, iteration: int, phase: str) -> bool:
        """Whether this half-step is bridge matching: the backward half-step of the last
        IPF iteration when ``matching_steps > 0``."""
        return phase == "backward" and self.config.matching_steps > 0 and self._is_last_iteration(iteration)

    def _half_step_length(self, iteration: int, phase: str) -> int:
        c = self.config
        if phase == "forward":
            sharpening = c.sharpen_steps and self._is_last_iteration(iteration)
            return c.sharpen_steps if sharpening else c.forward_steps
        if self.method == "sampler":
            return 0
        return c.matching_steps if self._matching_half_step(iteration, phase) else c.backward_steps

    def _progress_bar(self) -> tqdm:
        """A bar over every gradient step of the schedule, starting where training stands."""
        c, st = self.config, self.state
        lengths = [[self._half_step_length(i, p) for p in ("backward", "forward")] for i in range(c.ipf_iterations)]
        done = sum(map(sum, lengths[:st.iteration])) + (lengths[st.iteration][0] if st.phase == "forward"
                                                         and st.iteration < c.ipf_iterations else 0)
        return tqdm(total=sum(map(sum, lengths)), initial=done, desc="IPF", unit="step")

    def _log_budget_stop(self, budget: TimeBudget, where: str):
        c, st = self.config, self.state
        done = st.iteration + 0.5 * (st.phase == "forward" and self.method != "sampler")
        logger.warning("time budget of %.4g s used up %s: training stopped early after %.0f%% of the schedule "
                       "(%d of %d IPF iterations done)", budget.max_seconds, where, 100 * done / c.ipf_iterations,
                       st.iteration, c.ipf_iterations)

    def _run_half_step(self, phase: str, budget: TimeBudget, bar: Optional[tqdm], good,
                       checkpoint_dir: Optional[str]) -> LoopResult:
        """All gradient steps of one half-step, driven by :func:`~d2e_zoo.step_loop.run_loop`;
        ``bar`` (the schedule's progress bar, or None) advances by one per step."""
        c, st = self.config, self.state
        iteration = st.iteration
        num_steps = self._half_step_length(iteration, phase)
        matching = self._matching_half_step(iteration, phase)
        label = "matching" if matching else phase
        if bar is not None:
            bar.set_postfix_str(f"iteration {iteration + 1}/{c.ipf_iterations} {label}")
        self._begin_half_step("forward" if matching else phase)  # matching pairs need fresh end states

        def after_step(step: int, metrics: dict):
            if phase == "forward" or matching:
                if c.buffer_refresh_every and (step + 1) % c.buffer_refresh_every == 0:
                    self._refresh_buffers()
            if phase == "forward":
                st.forward_steps_done += 1
            else:
                st.backward_steps_done += 1
            st.seconds = budget.elapsed()
            if bar is not None:
                bar.update(1)

        def record(done: int, means: dict):
            st.history.append(StepRecord(iteration, phase, done, means["loss"], st.seconds))
            if bar is not None:
                bar.set_postfix_str(f"iteration {iteration + 1}/{c.ipf_iterations} {label}, loss {means['loss']:.3g}",
                                    refresh=False)

        recovery = "the last good state was restored" + (f" (also on disk in {checkpoint_dir})"
                                                         if checkpoint_dir else "")
        step_fn = self._matching_step if matching else (lambda: self._train_step(phase))
        return run_loop(lambda step: step_fn(), 0, num_steps, progress=False,
                        desc=f"IPF {iteration + 1}/{c.ipf_iterations} {label}", budget=budget,
                        after_step=after_step, log_every=LOG_EVERY, on_log=record,
                        where=lambda step: f"IPF iteration {iteration + 1}, {label} step {step + 1}",
                        on_non_finite=lambda step: self._restore(good), recovery=recovery)

    @property
    def progress(self) -> float:
        """Fraction of the schedule done, in [0, 1] (drives the annealing): a function of
        the completed half-steps only, ``(iteration + 0.5 [phase is forward]) / (I - 1)``,
        never of the time spent, so a seed gives the same model on any machine."""
        c, st = self.config, self.state
        return min(1.0, (st.iteration + (st.phase == "forward") * 0.5) / max(c.ipf_iterations - 1, 1))

    @property
    def off_policy_fraction(self) -> float:
        """Off-policy share of start points, linear in :attr:`progress` from
        ``off_policy_start`` to ``off_policy_end`` (``sharpen_off_policy``, where set, in the
        sharpening half-step)."""
        c = self.config
        if c.sharpen_off_policy is not None and self._sharpening():
            return c.sharpen_off_policy
        return c.off_policy_start + (c.off_policy_end - c.off_policy_start) * self.progress

    def _sharpening(self) -> bool:
        """Whether training is in the sharpening half-step: the last IPF iteration's forward
        half-step when ``sharpen_last_steps > 0``."""
        st = self.state
        return (self.config.sharpen_last_steps > 0 and st.phase == "forward"
                and self._is_last_iteration(st.iteration))

    @torch.no_grad()
    def sample(self, n: int, x0: Optional[torch.Tensor] = None, grid: Optional[TimeGrid] = None,
               generator: Optional[torch.Generator] = None):
        """Run the trained forward process from ``x0`` (or fresh source states); returns the
        :class:`~d2e_zoo.dynamics.Trajectory` (``states``: ``(K+1, n, d)``)."""
        generator = generator or self.generator
        x0 = self._start_states("source", n, generator) if x0 is None else x0
        return simulate(self.forward, x0, grid or self.grid, generator)

    # ------------------------------------------------------------- half-step logic --
    def _end(self, name: str) -> Endpoint:
        return self.source if name == "source" else self.target

    def _start_states(self, end: str, n: int, generator=None) -> torch.Tensor:
        """States at one end: its samples if it has them, else its replay buffer."""
        g = generator or self.generator
        if self._end(end).has_samples:
            return self._end(end).sample(n, g)
        return self.buffers[end].sample(n, g)

    def _langevin(self, first_fill: bool) -> LangevinSampler:
        c = self.config
        return LangevinSampler(method="mala", step_size=c.langevin_step, step_size_final=c.langevin_step_final,
                               num_steps=c.langevin_steps + (c.langevin_init_steps if first_fill else 0),
                               temperature_init=c.langevin_temperature,
                               global_move_every=c.langevin_global_every, global_move_std=c.langevin_global_std)

    def _fill_buffer(self, end: str, x: torch.Tensor, first_fill: bool):
        buf, endpoint = self.buffers[end], self._end(end)
        buf.add(x, endpoint.log_prob(x))
        result = buf.refresh(endpoint.log_prob, self._langevin(first_fill), self.generator)
        if result is not None and result.global_acceptance_rate is not None:
            logger.debug("%s buffer: MALA acceptance %.3f, global-move acceptance %.3f", end,
                         result.acceptance_rate, result.global_acceptance_rate)

    def _refresh_buffers(self):
        """Feed each energy end's buffer with fresh terminal states of the process heading
        there, then move the whole buffer with MALA towards that end's density."""
        c = self.config
        self._pools.clear()  # pooled trajectories started from the old buffer states
        for end in ("source", "target"):  # e2e: the source buffer must exist to start the forward
            buf = self.buffers.get(end)
            if buf is None:
                continue
            first = len(buf) == 0
            n = c.buffer_size if first else min(c.buffer_size, 1024)
            if end == "source" and first:  # nothing reaches the source yet: start from a broad Gaussian
                x = c.buffer_init_std * torch.randn(n, self.source.dim, generator=self.generator)
            elif c.buffer_resampling == "path_weights":
                x = self._resampled_end_states(end, n)
            elif end == "target":
                x = self.sample(n).x_last
            else:
                x = simulate(self.backward, self._start_states("target", n), self.grid, self.generator).x0
            self._fill_buffer(end, x, first)

    @torch.no_grad()
    def _resampled_end_states(self, end: str, n: int) -> torch.Tensor:
        """``n`` states ``(n, d)`` for the buffer of ``end`` by importance resampling: simulate
        ``resampling_candidates * n`` paths of the process heading to ``end`` from the other
        end, weight each by the path ratio towards ``end``'s density,

            target:  log w = log p1~(x_K) + sum log p_b - log p0~(x_0) - sum log p_f
            source:  log w = log p0~(x_0) + sum log p_f - log p1~(x_K) - sum log p_b

        and draw ``n`` of their end states with probabilities ``softmax(log w)``. However the
        process heading there splits its mass between distant modes, the resampled states
        carry the density's own proportions (as the number of candidates grows); MALA cannot
        move mass between such modes, so without this the buffer inherits the process's
        bias (docs/method.md section 4.2). Where the weights are too uneven (their effective
        sample size below ``resampling_min_ess`` of the candidates: far modes, high dimension,
        an early process), they are tempered to ``w^beta`` with the largest ``beta`` in [0, 1]
        that keeps it (:func:`tempered_resampling_weights`), so a few paths never fill the whole
        buffer. Only as many states as the (tempered) weights' effective sample size are returned,
        ``k = min(n, round(ESS))`` with ``ESS = 1 / sum p_i^2``: the buffer keeps its older states
        for the rest instead of filling up with copies of the same paths (without this limit the
        buffer collapsed onto a few modes in 50 dimensions; docs/method.md section 4.3).
        ``last_resampling_ess`` (a fraction of the candidates) and ``last_resampling_beta`` keep
        what was used. Returns ``(k, d)``."""
        m = self.config.resampling_candidates * n
        to_target = end == "target"
        if to_target:
            states = simulate(self.forward, self._start_states("source", m), self.grid, self.generator).states
        else:
            states = simulate(self.backward, self._start_states("target", m), self.grid, self.generator).states
        log_f = transition_log_probs(self.forward, states, self.grid).sum(0)
        log_b = transition_log_probs(self.backward, states, self.grid).sum(0)
        log_ratio = (self._end_log_prob("target", states[-1]) + log_b
                     - self._end_log_prob("source", states[0]) - log_f)
        log_w = (log_ratio if to_target else -log_ratio).double()
        if not torch.isfinite(log_w).any():
            raise NonFiniteLossError(f"every path weight for the {end} buffer is non-finite")
        log_w = torch.nan_to_num(log_w, nan=-math.inf)
        beta, probs = tempered_resampling_weights(log_w, self.config.resampling_min_ess)
        ess = float(1.0 / (probs ** 2).sum())
        self.last_resampling_ess, self.last_resampling_beta = ess / m, beta
        keep = max(1, min(n, round(ess)))
        idx = torch.multinomial(probs, keep, replacement=True, generator=self.generator)
        return (states[-1] if to_target else states[0])[idx]

    def _begin_half_step(self, phase: str):
        self._pools.clear()
        if self.buffers and (phase == "forward" or self.method == "e2e"):
            self._refresh_buffers()

    def _frozen_trajectories(self, key: str, kernel, start_states: Callable[[int], torch.Tensor],
                             n: int) -> torch.Tensor:
        """``n`` trajectories (``(K+1, n, d)``) of ``kernel``, which the current half-step does
        not train. They are simulated ``pool_batches`` batches at a time, so the per-step cost
        of running K small network calls is paid once per block rather than once per
        gradient step; the distribution is the same as simulating each batch fresh."""
        pool = self._pools.get(key)
        if pool is None or pool.shape[1] < n:
            m = max(n, self.config.batch_size) * self.config.pool_batches
            fresh = simulate(kernel, start_states(m), self.grid, self.generator).states
            pool = fresh if pool is None else torch.cat([pool, fresh], dim=1)
        self._pools[key] = pool[:, n:]
        return pool[:, :n]

    def _train_step(self, phase: str) -> float:
        if self.method == "sampler":
            loss = self._sampler_loss()
        else:
            matched = "source" if phase == "backward" else "target"
            if self._end(matched).has_samples:
                loss = self._maximum_likelihood_loss(phase)
            else:
                loss = self._energy_loss(phase)
            c = self.config
            if phase == "forward" and c.matching_weight > 0 and self._is_last_iteration(self.state.iteration):
                loss = loss + c.matching_weight * matching_loss(self.forward, self._matching_paths(), self.grid)
        kernel, optimizer = ((self.forward, self.forward_optimizer) if phase == "forward"
                             else (self.backward, self.backward_optimizer))
        return self._optimizer_step(loss, [(kernel, optimizer)])

    def _optimizer_step(self, loss: torch.Tensor, pairs) -> float:
        """One gradient step of ``loss`` for each ``(kernel, optimizer)`` in ``pairs``, with
        the gradient hook and clipping; returns the loss value (non-finite: no step)."""
        for _, optimizer in pairs:
            optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value
        loss.backward()
        for kernel, optimizer in pairs:
            if self.grad_hook is not None:
                self.grad_hook([p for group in optimizer.param_groups for p in group["params"]])
            torch.nn.utils.clip_grad_norm_(kernel.parameters(), self.config.grad_clip)
            optimizer.step()
        return value

    def _matching_paths(self) -> torch.Tensor:
        """Brownian bridges ``(K+1, batch_size, d)`` between start states and end states paired
        by entropic OT with ``epsilon = 2 sigma2 T`` (:mod:`d2e_zoo.ipf.matching`)."""
        c, n = self.config, self.config.batch_size
        x0, x1 = self._start_states("source", n), self._start_states("target", n)
        x1 = entropic_pairs(x0, x1, 2 * c.sigma2 * self.grid.t_max, self.generator)
        return brownian_bridge_paths(x0, x1, self.grid, c.sigma2, self.generator)

    def _matching_step(self) -> float:
        """One bridge-matching step: both kernels fit the same bridges (their losses add:
        the kernels share no parameters, so each gets its own maximum-likelihood gradient)."""
        states = self._matching_paths()
        loss = matching_loss(self.forward, states, self.grid) + matching_loss(self.backward, states, self.grid)
        return self._optimizer_step(loss, [(self.forward, self.forward_optimizer),
                                           (self.backward, self.backward_optimizer)])

    def _maximum_likelihood_loss(self, phase: str) -> torch.Tensor:
        """Fit the trained kernel to the other process started at the matched end's samples."""
        n = self.config.batch_size
        train, other, matched = ((self.forward, self.backward, self.target) if phase == "forward"
                                 else (self.backward, self.forward, self.source))
        states = self._frozen_trajectories("ml", other, lambda m: matched.sample(m, self.generator), n)
        return maximum_likelihood_loss(transition_log_probs(train, states, self.grid))

    def _energy_loss(self, phase: str) -> torch.Tensor:
        """Grouped log-variance loss for the half-step matching an energy end."""
        c = self.config
        fwd = phase == "forward"
        train, other = (self.forward, self.backward) if fwd else (self.backward, self.forward)
        start_end, matched_end = ("source", "target") if fwd else ("target", "source")
        n = c.n_per_start
        groups = c.batch_size // n
        n_off = int(round(self.off_policy_fraction * groups))
        starts, reused = [], None
        if n_off > 0:
            buffer = self.buffers[matched_end]
            reused = self._frozen_trajectories("off_policy", other, lambda m: buffer.sample(m, self.generator),
                                               n_off)
            starts.append(reused[0] if fwd else reused[-1])
        if groups - n_off > 0:
            starts.append(self._start_states(start_end, groups - n_off))
        x_start = torch.cat(starts)
        states = simulate(train, x_start.repeat(n, 1), self.grid, self.generator).states
        if reused is not None and c.reuse_other_trajectory:
            states[:, :n_off] = reused  # member 0 of each off-policy group follows `other`
        log_train = transition_log_probs(train, states, self.grid)
        keep = c.sharpen_last_steps
        if fwd and self._sharpening():
            # same values, but the gradient reaches only the last `keep` transitions (the matched
            # routing of the earlier ones stays; docs/method.md section 4.5)
            log_train = torch.cat([log_train[:-keep].detach(), log_train[-keep:]])
        log_train = log_train.sum(0)
        with torch.no_grad():
            log_other = transition_log_probs(other, states, self.grid).sum(0)
            log_end = self._end_log_prob(matched_end, states[-1] if fwd else states[0])
        log_w = (log_train - log_other - log_end).view(n, groups).T
        return grouped_log_variance_loss(log_w)

    def _end_log_prob(self, end: str, x: torch.Tensor) -> torch.Tensor:
        """An end's log-density at ``x``; NaN (so a non-finite loss, caught by ``train``)
        when a diverged kernel produced non-finite states."""
        if not torch.isfinite(x).all():
            return torch.full(x.shape[:1], float("nan"))
        return self._end(end).log_prob(x)

    def _sampler_log_w(self, states: torch.Tensor, log_forward: torch.Tensor) -> torch.Tensor:
        log_backward = transition_log_probs(self.backward, states, self.grid).sum(0)
        return (self._end_log_prob("source", states[0]) + log_forward - log_backward
                - self._end_log_prob("target", states[-1]))

    def _sampler_loss(self) -> torch.Tensor:
        """Diffusion sampler: forward kernel against the fixed reference reversal."""
        c = self.config
        n = c.batch_size
        if c.energy_loss == "reverse_kl":
            traj = simulate(self.forward, self.source.sample(n, self.generator), self.grid, self.generator,
                            differentiable=True)
            log_f = transition_log_probs(self.forward, traj.states, self.grid).sum(0)
            return reverse_kl_loss(self._sampler_log_w(traj.states, log_f))
        n_off = int(round(self.off_policy_fraction * n))
        parts = []
        if n_off:
            parts.append(simulate(self.backward, self.buffers["target"].sample(n_off, self.generator),
                                  self.grid, self.generator).states)
        if n - n_off:
            parts.append(self.sample(n - n_off, generator=self.generator).states)
        states = torch.cat(parts, dim=1)
        log_f = transition_log_probs(self.forward, states, self.grid).sum(0)
        log_w = self._sampler_log_w(states, log_f)
        if c.energy_loss == "trajectory_balance":
            return trajectory_balance_loss(log_w, self.log_z)
        return log_variance_loss(log_w)

    # ------------------------------------------------------------- state handling --
    def state_tensors(self) -> dict:
        """All learned and stochastic state as a flat dict of tensors (for safetensors)."""
        out = {f"forward.{k}": v for k, v in self.forward.state_dict().items()}
        out.update({f"backward.{k}": v for k, v in self.backward.state_dict().items()})
        out["log_z"] = self.log_z.detach().clone()
        out.update(flatten_optimizer("forward_optimizer", self.forward_optimizer))
        if self.backward_optimizer is not None:
            out.update(flatten_optimizer("backward_optimizer", self.backward_optimizer))
        for name, buf in self.buffers.items():
            out.update({f"buffer.{name}.{k}": v for k, v in buf.state_dict().items()})
        out["generator"] = self.generator.get_state()
        return out

    def load_state_tensors(self, tensors: dict):
        def sub(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.forward.load_state_dict(sub("forward."))
        self.backward.load_state_dict(sub("backward."))
        with torch.no_grad():
            self.log_z.copy_(tensors["log_z"])
        unflatten_optimizer(self.forward_optimizer, sub("forward_optimizer."))
        if self.backward_optimizer is not None:
            unflatten_optimizer(self.backward_optimizer, sub("backward_optimizer."))
        for name, buf in self.buffers.items():
            state = sub(f"buffer.{name}.")
            if state:
                buf.load_state_dict(state)
        self.generator.set_state(tensors["generator"])

    def _snapshot(self):
        return {k: v.clone() for k, v in self.state_tensors().items()}, copy.deepcopy(self.state)

    def _restore(self, good):
        tensors, state = good
        self.load_state_tensors(tensors)
        self.state = state
