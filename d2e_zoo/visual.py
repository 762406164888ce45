"""Pictures people would rather look at than read: image grids and translation sheets."""

from __future__ import annotations

from pathlib import Path

import torch
from einops import rearrange
from PIL import Image


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """``(N, 1, H, W)`` in [0, 1] -> one ``(rows*(H+pad), nrow*(W+pad))`` image, row-major,
    padded with black; missing cells stay black."""
    n, _, h, w = images.shape
    rows = -(-n // nrow)
    cells = torch.zeros(rows * nrow, 1, h + pad, w + pad)
    cells[:n, :, :h, :w] = images.detach().cpu().clamp(0, 1)
    return rearrange(cells, "(r c) 1 h w -> (r h) (c w)", r=rows, c=nrow)


def to_pil(grid: torch.Tensor, scale: int = 2) -> Image.Image:
    """A ``(H, W)`` tensor in [0, 1] as a greyscale PIL image, upscaled ``scale`` times."""
    img = Image.fromarray((grid.numpy() * 255).round().astype("uint8"), mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale != 1 else img


def translation_sheet(sources: torch.Tensor, translations: torch.Tensor) -> torch.Tensor:
    """Pairs side by side: row i is ``[G(z0_i) | G(z1_i)]`` for up to 8 pairs per column block.
    Both ``(N, 1, 28, 28)``; returns a 2-D grid tensor."""
    pairs = rearrange(torch.stack([sources, translations], 1), "n two c h w -> (n two) c h w")
    return image_grid(pairs, nrow=2 * min(8, len(sources)))


def save_translation_sheet(sources: torch.Tensor, translations: torch.Tensor, path, scale: int = 2) -> Path:
    path = Path(path)
    to_pil(translation_sheet(sources, translations), scale).save(path)
    return path


def save_contact_sheet(pipe, path, num_pairs: int = 32, seed: int = 0, scale: int = 2) -> Path:
    """A bridge pipeline's contact sheet: ``num_pairs`` translations from seed ``seed``, each
    pair ``[source image | translation]`` (:func:`translation_sheet`), saved as a PNG."""
    out = pipe(num_samples=num_pairs, generator=torch.Generator().manual_seed(seed), progress=False)
    return save_translation_sheet(pipe.decode(out.initial_latents), out.images, path, scale)
