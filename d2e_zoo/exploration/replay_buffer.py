"""Replay buffer of terminal states ``x_K`` for off-policy training (docs/method.md section 4).

The buffer keeps at most ``capacity`` states of dimension ``dim`` together with their
(unnormalised) ``log_prob`` values, oldest first. Adding beyond capacity evicts the oldest
rows (FIFO). :meth:`ReplayBuffer.refresh` moves every stored state with a
:class:`~d2e_zoo.exploration.langevin.LangevinSampler` so the buffer stays close to ``p1``.

Shapes: states ``(M, dim)``; log-prob values ``(M,)``. Storage is float32.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Optional, Union

import torch

from .langevin import LangevinResult, LangevinSampler

logger = logging.getLogger(__name__)

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """FIFO buffer of states with their log-density values.

    Args:
        capacity: maximum number of stored states, ``>= 1``.
        dim: state dimension, ``>= 1``.
        device: where the states are stored (default CPU).
    """

    def __init__(self, capacity: int, dim: int, device: Union[str, torch.device, None] = None):
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        self.capacity = int(capacity)
        self.dim = int(dim)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._x = torch.empty(0, self.dim, dtype=torch.float32, device=self.device)
        self._lp = torch.empty(0, dtype=torch.float32, device=self.device)

    # -- inspection -----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._x.shape[0]

    def __repr__(self) -> str:
        return f"ReplayBuffer(capacity={self.capacity}, dim={self.dim}, size={len(self)})"

    @property
    def states(self) -> torch.Tensor:
        """Stored states, oldest first, ``(M, dim)`` (a copy)."""
        return self._x.clone()

    @property
    def log_probs(self) -> torch.Tensor:
        """Stored log-density values, oldest first, ``(M,)`` (a copy)."""
        return self._lp.clone()

    # -- writing --------------------------------------------------------------------------
    def add(self, x: torch.Tensor, log_prob_values: torch.Tensor) -> int:
        """Append states ``(B, dim)`` with log-prob values ``(B,)``.

        Rows whose state or value is non-finite are dropped. When the buffer overflows, the
        oldest rows are evicted. Returns the number of rows kept from this batch.
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"states must have shape (B, {self.dim}), got {shape}")
        lp = torch.as_tensor(log_prob_values)
        if lp.shape != (x.shape[0],):
            raise ValueError(f"log_prob_values must have shape ({x.shape[0]},), got {tuple(lp.shape)}")
        x = x.detach().to(device=self.device, dtype=torch.float32)
        lp = lp.detach().to(device=self.device, dtype=torch.float32)
        keep = torch.isfinite(lp) & torch.isfinite(x).all(dim=1)
        n_drop = int((~keep).sum())
        if n_drop:
            logger.debug("replay buffer: dropped %d non-finite rows of %d", n_drop, x.shape[0])
            x, lp = x[keep], lp[keep]
        self._x = torch.cat([self._x, x])[-self.capacity :].clone()
        self._lp = torch.cat([self._lp, lp])[-self.capacity :].clone()
        return x.shape[0]

    def clear(self) -> None:
        """Remove every stored state."""
        self._x = self._x[:0].clone()
        self._lp = self._lp[:0].clone()

    # -- reading --------------------------------------------------------------------------
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw ``n`` stored states uniformly with replacement, ``(n, dim)``."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer; add states first")
        if int(n) != n or n < 1:
            raise ValueError(f"number of samples must be an integer >= 1, got {n!r}")
        gen_device = generator.device if generator is not None else torch.device("cpu")
        idx = torch.randint(len(self), (int(n),), generator=generator, device=gen_device)
        return self._x[idx.to(self.device)].clone()

    # -- Langevin refresh -----------------------------------------------------------------
    def refresh(
        self,
        log_prob: Callable[[torch.Tensor], torch.Tensor],
        sampler: LangevinSampler,
        generator: Optional[torch.Generator] = None,
        progress: bool = False,
    ) -> Optional[LangevinResult]:
        """Move all stored states with ``sampler`` towards ``exp(log_prob)``, in place.

        The stored log-prob values are replaced by ``log_prob`` at the new states. Returns
        the sampler's :class:`LangevinResult`, or None when the buffer is empty.
        """
        if len(self) == 0:
            logger.debug("replay buffer: refresh on an empty buffer does nothing")
            return None
        result = sampler.run(self._x, log_prob, generator=generator, progress=progress)
        self._x = result.samples.detach().to(device=self.device, dtype=torch.float32).clone()
        self._lp = result.log_prob.detach().to(device=self.device, dtype=torch.float32).clone()
        return result

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Plain tensors only (safetensors-compatible): states, log_probs, capacity, dim."""
        return {
            "states": self._x.detach().cpu().contiguous().clone(),
            "log_probs": self._lp.detach().cpu().contiguous().clone(),
            "capacity": torch.tensor(self.capacity, dtype=torch.int64),
            "dim": torch.tensor(self.dim, dtype=torch.int64),
        }

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`; the dimension must match and the states fit."""
        for key in ("states", "log_probs"):
            if key not in state:
                raise ValueError(f"replay buffer state_dict is missing {key!r}")
        x, lp = state["states"], state["log_probs"]
        if "dim" in state and int(state["dim"]) != self.dim:
            raise ValueError(f"state_dict is for dim {int(state['dim'])}, buffer has dim {self.dim}")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"stored states must have shape (M, dim={self.dim}), got {tuple(x.shape)}")
        if lp.shape != (x.shape[0],):
            raise ValueError(f"stored log_probs must have shape ({x.shape[0]},), got {tuple(lp.shape)}")
        if x.shape[0] > self.capacity:
            raise ValueError(f"state_dict holds {x.shape[0]} states, more than capacity {self.capacity}")
        self._x = x.detach().to(device=self.device, dtype=torch.float32).clone()
        self._lp = lp.detach().to(device=self.device, dtype=torch.float32).clone()
