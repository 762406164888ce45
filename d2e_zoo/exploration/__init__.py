"""Exploration for energy ends: Langevin samplers (ULA, MALA) and a replay buffer."""

from .langevin import LangevinResult, LangevinSampler, mala_step, ula_step
from .replay_buffer import ReplayBuffer

__all__ = ["LangevinResult", "LangevinSampler", "ReplayBuffer", "mala_step", "ula_step"]
