"""Replay buffer: FIFO semantics, sampling, Langevin refresh, checkpoint round trip."""

import pytest
import torch

from d2e_zoo.exploration.langevin import LangevinSampler
from d2e_zoo.exploration.replay_buffer import ReplayBuffer


def rows(start, stop, dim=2):
    """States whose every coordinate equals the row id, and log-probs = -id."""
    ids = torch.arange(start, stop, dtype=torch.float32)
    return ids[:, None].expand(-1, dim).clone(), -ids


def test_fifo_eviction_keeps_newest_in_order():
    buf = ReplayBuffer(capacity=5, dim=2)
    assert len(buf) == 0
    buf.add(*rows(0, 3))
    assert len(buf) == 3
    buf.add(*rows(3, 7))
    assert len(buf) == 5  # capped at capacity
    assert buf.states[:, 0].tolist() == [2, 3, 4, 5, 6]  # 0 and 1 (oldest) evicted
    assert buf.log_probs.tolist() == [-2, -3, -4, -5, -6]
    buf.add(*rows(10, 20))  # batch larger than capacity: only its newest rows stay
    assert buf.states[:, 0].tolist() == [15, 16, 17, 18, 19]
    assert buf.log_probs.tolist() == [-15, -16, -17, -18, -19]


def test_non_finite_rows_are_dropped():
    buf = ReplayBuffer(capacity=10, dim=2)
    x, lp = rows(0, 5)
    lp[1] = float("nan")
    lp[2] = -float("inf")
    x[3, 1] = float("inf")
    assert buf.add(x, lp) == 2
    assert buf.states[:, 0].tolist() == [0, 4]


def test_add_rejects_wrong_shapes():
    buf = ReplayBuffer(capacity=10, dim=2)
    with pytest.raises(ValueError, match="shape"):
        buf.add(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        buf.add(torch.zeros(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(capacity=0, dim=2)


def test_sample_shapes_values_and_determinism():
    buf = ReplayBuffer(capacity=100, dim=3)
    buf.add(*rows(0, 7, dim=3))
    out = buf.sample(50, generator=torch.Generator().manual_seed(0))
    assert out.shape == (50, 3) and out.dtype == torch.float32
    assert set(out[:, 0].tolist()) <= set(range(7))
    assert len(set(out[:, 0].tolist())) > 1  # draws spread over the buffer
    again = buf.sample(50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    # uniform with replacement: more draws than stored states is fine, frequencies ~ 1/7
    big = buf.sample(7000, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(big[:, 0].long(), minlength=7).float() / 7000
    assert (freq - 1 / 7).abs().max() < 0.02


def test_sample_from_empty_buffer_raises():
    buf = ReplayBuffer(capacity=4, dim=2)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(3)
    buf.add(*rows(0, 2))
    with pytest.raises(ValueError, match="samples"):
        buf.sample(0)


def test_refresh_moves_states_towards_target():
    mean = torch.tensor([1.0, -2.0])

    def log_prob(x):
        return -0.5 * ((x - mean) ** 2).sum(dim=1)

    g = torch.Generator().manual_seed(0)
    buf = ReplayBuffer(capacity=2000, dim=2)
    start = torch.full((2000, 2), 6.0)
    buf.add(start, log_prob(start))
    sampler = LangevinSampler(method="mala", step_size=0.5, num_steps=200)
    res = buf.refresh(log_prob, sampler, generator=g)
    assert len(buf) == 2000
    x = buf.states
    assert (x.mean(0) - mean).abs().max() < 0.15
    assert (x.var(0) - 1.0).abs().max() < 0.15
    # stored log-prob values follow the states
    assert torch.allclose(buf.log_probs, log_prob(x), atol=1e-5)
    assert torch.equal(res.samples, x)
    assert ReplayBuffer(4, 2).refresh(log_prob, sampler) is None


def test_state_dict_round_trip(tmp_path):
    buf = ReplayBuffer(capacity=8, dim=2)
    buf.add(*rows(0, 11))
    state = buf.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())

    other = ReplayBuffer(capacity=8, dim=2)
    other.load_state_dict(state)
    assert torch.equal(other.states, buf.states)
    assert torch.equal(other.log_probs, buf.log_probs)
    # FIFO continues where it left off
    other.add(*rows(11, 12))
    assert other.states[:, 0].tolist() == list(range(4, 12))

    safetensors = pytest.importorskip("safetensors.torch")
    path = tmp_path / "buffer.safetensors"
    safetensors.save_file(state, str(path))
    loaded = ReplayBuffer(capacity=8, dim=2)
    loaded.load_state_dict(safetensors.load_file(str(path)))
    assert torch.equal(loaded.states, buf.states)
    assert torch.equal(loaded.log_probs, buf.log_probs)

    with pytest.raises(ValueError, match="dim"):
        ReplayBuffer(capacity=8, dim=3).load_state_dict(state)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(capacity=4, dim=2).load_state_dict(state)
