"""Random draws that follow their ``torch.Generator``'s device.

``torch.randn(..., generator=g)`` fails when ``g`` lives on another device than the tensor it
makes (a CUDA generator with a CPU tensor, or the reverse). Here every draw is made on the
generator's device (the CPU when there is none), so one seed gives the same numbers whatever
device the models run on, and the result is then moved to ``device``.
"""

from __future__ import annotations

from typing import Optional

import torch


def _origin(generator: Optional[torch.Generator], device) -> torch.device:
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else torch.device("cpu")


def standard_normal(shape, generator: Optional[torch.Generator] = None, device=None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``N(0, 1)`` draws of ``shape``, made on ``generator``'s device, returned on ``device``
    (default: where they were drawn)."""
    x = torch.randn(shape, generator=generator, dtype=dtype, device=_origin(generator, device))
    return x if device is None else x.to(device)


def standard_uniform(shape, generator: Optional[torch.Generator] = None, device=None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``U[0, 1)`` draws of ``shape``, made and returned like :func:`standard_normal`."""
    x = torch.rand(shape, generator=generator, dtype=dtype, device=_origin(generator, device))
    return x if device is None else x.to(device)
