"""Draw your own: a drawing or an uploaded picture -> a 28x28 image framed like the prior's
domain (an MNIST digit, a Fashion-MNIST item) -> a latent -> its translation by a bridge.

* :func:`to_ink`: any picture (sketchpad value, PIL image, array, file path) -> ink in [0, 1];
  dark-on-light and light-on-dark pictures both work, transparency counts as background;
* :func:`frame_ink`: crop the ink and frame it as the domain's images are (MNIST: fit it in
  20x20 and centre its mass in 28x28; Fashion-MNIST: fit it in 28x28, centred);
* :func:`image_to_latent`: the VAE's encoder mean, or, for a GAN, inversion by optimisation
  (Adam on z from several seeded starts, pixel error plus a small N(0, I) prior term);
* :func:`translate_drawing`: the latent repeated ``num_samples`` times through the bridge
  (the bridge is stochastic: one drawing gives several translations).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from ..domains import MNIST
from ..zoo.registry import domain_of
from .choices import DEFAULT_DRAW_SAMPLES, DEFAULT_STEPS, LIMITS, InputError, as_int, check_bridge
from .deadline import Deadline
from .models import get_pipeline
from .translate import Progress, Translation, report_progress, translate

EMPTY = "The canvas is empty: draw something (or upload an image) first."
INK_THRESHOLD = 0.1  # a picture with no pixel above this much ink is empty
INVERSION_STEPS = 200
INVERSION_RESTARTS = 8
PIXEL_SIGMA = 0.3  # noise scale of the pixel likelihood in GAN inversion; the prior term is 0.5 ||z||^2


def check_picture_size(width: int, height: int) -> None:
    """:class:`InputError` if a ``width`` x ``height`` picture is over ``LIMITS.image_pixels``."""
    if width * height > LIMITS.image_pixels:
        side = int(LIMITS.image_pixels ** 0.5)
        raise InputError(f"Picture: {width}x{height} pixels is too large; at most {side}x{side} "
                         f"({LIMITS.image_pixels / 1e6:.0f} million pixels) are accepted: shrink it first.")


def check_picture_file(path) -> tuple[int, int]:
    """``(width, height)`` of a picture file from its header (nothing decoded), or
    :class:`InputError` if it is not a picture or is larger than ``LIMITS.image_pixels``."""
    try:
        with warnings.catch_warnings(), Image.open(path) as img:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            size = img.size
    except Image.DecompressionBombError as e:  # PIL's own bound (app.py sets it from LIMITS.image_pixels)
        raise InputError(_too_large(e)) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"Picture: could not read it as an image ({type(e).__name__}); "
                         "upload a PNG or JPEG of a digit or a piece of clothing.") from None
    check_picture_size(*size)
    return size


def _too_large(e: Exception) -> str:
    side = int(LIMITS.image_pixels ** 0.5)
    found = re.search(r"\((\d+) pixels\)", str(e))  # PIL: "Image size (144000000 pixels) exceeds ..."
    size = f"{int(found.group(1)) / 1e6:.0f} million pixels" if found else "it"
    return f"Picture: {size} is too large; at most {side}x{side} pixels are accepted: shrink it first."


def _shrunk(img: Image.Image) -> Image.Image:
    """``img`` (size already checked) decoded at most ``LIMITS.image_side`` pixels a side."""
    side = LIMITS.image_side
    if max(img.size) > side:
        img.draft("RGBA", (side, side))  # JPEG: decode at a reduced scale
        img.thumbnail((side, side))
    return img


def _open_picture(path) -> np.ndarray:
    """A picture file as an RGBA array: its size is read from the header and checked before decoding."""
    check_picture_file(path)
    try:
        with warnings.catch_warnings(), Image.open(path) as img:  # lazy: reads the header only
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked here
            check_picture_size(*img.size)
            return np.asarray(_shrunk(img).convert("RGBA"))
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(_too_large(e)) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"Picture: could not read it as an image ({type(e).__name__}); "
                         "upload a PNG or JPEG of a digit or a piece of clothing.") from None


def _as_array(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    if isinstance(value, dict) and value.get("path"):  # a file as Gradio passes it unprocessed (API calls)
        return _open_picture(value["path"])
    if isinstance(value, dict):  # a Gradio ImageEditor / Sketchpad value
        for key in ("composite", "background"):
            arr = _as_array(value.get(key))
            if arr is not None:
                return arr
        return None
    if isinstance(value, (str, Path)):
        return _open_picture(value)
    if isinstance(value, Image.Image):
        check_picture_size(*value.size)
        return np.asarray(_shrunk(value.copy()).convert("RGBA"))
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim >= 2:
            h, w = value.shape[:2] if value.ndim == 2 or value.shape[-1] in (1, 3, 4) else value.shape[-2:]
            check_picture_size(w, h)
            if (max(h, w) > LIMITS.image_side and value.dtype == np.uint8
                    and (value.ndim == 2 or (value.ndim == 3 and value.shape[-1] in (1, 3, 4)))):
                img = Image.fromarray(value[..., 0] if value.ndim == 3 and value.shape[-1] == 1 else value)
                return np.asarray(_shrunk(img))
        return value
    raise InputError(f"Expected an image, got {type(value).__name__}.")


def to_ink(value) -> np.ndarray:
    """``(H, W)`` float ink in [0, 1] (1 = stroke) from a picture; :class:`InputError` if there is none.

    Transparent pixels are background; an opaque picture that is mostly light is read as dark
    ink on paper, one that is mostly dark as light ink (MNIST style)."""
    arr = _as_array(value)
    if arr is None:
        raise InputError(EMPTY)
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        if arr.size and arr.max() > 1.0:
            arr = arr / 255.0
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        lum, alpha = arr, None
    elif arr.ndim == 3 and arr.shape[-1] in (3, 4):
        lum = arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = arr[..., 3] if arr.shape[-1] == 4 else None
    else:
        raise InputError(f"Expected a greyscale, RGB or RGBA picture, got an array of shape {arr.shape}.")
    if min(lum.shape) < 4:
        raise InputError(f"Picture: it is too small ({lum.shape[1]}x{lum.shape[0]} pixels).")
    if alpha is not None and alpha.min() < 0.99:  # transparency: strokes are what is opaque and not white
        if alpha.max() < INK_THRESHOLD:
            raise InputError(EMPTY)
        on_white = lum * alpha + (1.0 - alpha)
        ink = 1.0 - on_white
        if np.median(on_white[alpha > 0.5]) < 0.5 and (alpha > 0.5).mean() > 0.5:
            ink = lum * alpha  # light strokes on a dark opaque layer
    else:
        ink = 1.0 - lum if np.median(lum) > 0.5 else lum
    ink = np.clip(ink, 0.0, 1.0)
    if ink.max() < INK_THRESHOLD or (ink > INK_THRESHOLD).sum() < 3:
        raise InputError(EMPTY)
    return ink


def frame_ink(ink: np.ndarray, box: int = 20, size: int = 28, centre_of_mass: bool = True) -> torch.Tensor:
    """Crop to the ink, fit in ``box`` x ``box`` keeping the aspect ratio and paste in ``size`` x
    ``size`` with the centre of mass (``centre_of_mass``, MNIST's normalisation) or the centre of
    the box in the middle. Returns ``(1, 1, size, size)`` in [0, 1], its maximum 1."""
    mask = ink > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    f = box / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    img = Image.fromarray((crop * 255).astype(np.uint8), mode="L")
    small = np.asarray(img.resize((nw, nh), Image.LANCZOS if min(h, w) > nh else Image.BILINEAR),
                       dtype=np.float32) / 255.0
    small = np.clip(small, 0, 1)
    if centre_of_mass:
        total = small.sum()
        cy = (small.sum(1) * np.arange(nh)).sum() / total
        cx = (small.sum(0) * np.arange(nw)).sum() / total
    else:
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    top = int(np.clip(round(size / 2 - cy - 0.5), 0, size - nh))
    left = int(np.clip(round(size / 2 - cx - 0.5), 0, size - nw))
    out = np.zeros((size, size), np.float32)
    out[top:top + nh, left:left + nw] = small
    out /= max(out.max(), 1e-6)
    return torch.from_numpy(out)[None, None]


def picture_to_image(value, domain=None) -> torch.Tensor:
    """Any picture -> ``(1, 1, 28, 28)`` in [0, 1], framed as ``domain``'s images are
    (:class:`~d2e_zoo.domains.Domain`; default MNIST)."""
    domain = domain or MNIST
    return frame_ink(to_ink(value), box=domain.picture_box, centre_of_mass=domain.centre_of_mass)


def invert_decoder(decoder, image: torch.Tensor, steps: int = INVERSION_STEPS,
                   restarts: int = INVERSION_RESTARTS, seed: int = 0, lr: float = 0.05,
                   progress: Progress = None, deadline: Optional[Deadline] = None) -> tuple[torch.Tensor, float]:
    """A latent ``(1, d)`` whose image ``decoder(z)`` matches ``image`` ``(1, 1, 28, 28)``
    (GAN inversion; ``decoder`` is the latent-to-image network G).

    Minimises ``||G(z) - x||^2 / (2 sigma^2) + ||z||^2 / 2`` (a MAP estimate under the N(0, I)
    prior) with Adam from ``restarts`` seeded starting points at once, and keeps the best
    (stopping early if ``deadline`` passes).
    Returns ``(z, mean squared pixel error of G(z))``. The decoder's weights are untouched."""
    d = decoder.latent_dim
    x = image.reshape(1, -1)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(restarts, d, generator=g).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    every = max(1, steps // 20)
    with torch.enable_grad():
        for i in range(steps):
            if deadline is not None and deadline.passed():
                break
            recon = decoder(z).reshape(restarts, -1)
            loss = ((recon - x) ** 2).sum(-1) / (2 * PIXEL_SIGMA**2) + 0.5 * (z**2).sum(-1)
            (grad,) = torch.autograd.grad(loss.sum(), z)  # grads of z only: weights stay untouched
            z.grad = grad
            opt.step()
            sched.step()
            if i % every == 0:
                report_progress(progress, 0.05 + 0.5 * i / steps,
                                f"Finding your picture in the GAN's latent space: step {i}/{steps}")
    with torch.no_grad():
        recon = decoder(z).reshape(restarts, -1)
        err = ((recon - x) ** 2).mean(-1)
        loss = ((recon - x) ** 2).sum(-1) / (2 * PIXEL_SIGMA**2) + 0.5 * (z**2).sum(-1)
        best = int(loss.argmin())
    return z[best:best + 1].detach().clone(), float(err[best])


@torch.no_grad()
def image_to_latent(decoder, image: torch.Tensor, progress: Progress = None, seed: int = 0,
                    steps: int = INVERSION_STEPS, deadline: Optional[Deadline] = None) -> tuple[torch.Tensor, str]:
    """``(z (1, d), how)``: the VAE encoder's mean if ``decoder`` has ``encode``, else GAN inversion."""
    if hasattr(decoder, "encode"):
        report_progress(progress, 0.1, "Encoding your picture with the VAE")
        mean, _ = decoder.encode(image)
        return mean, "VAE encoder mean"
    z, _ = invert_decoder(decoder, image, steps=steps, seed=seed, progress=progress, deadline=deadline)
    return z, f"GAN inversion ({steps} Adam steps, {INVERSION_RESTARTS} starts)"


@dataclass
class DrawingTranslation:
    """What :func:`translate_drawing` returns: the picture as read (``(1, 1, 28, 28)``), its
    reconstruction G(z0), how z0 was found, the pixel error of the reconstruction, and the
    translation of z0."""

    picture: torch.Tensor
    reconstruction: torch.Tensor
    method: str
    reconstruction_error: float
    translation: Translation


def translate_drawing(bridge: str, picture, num_samples: int = DEFAULT_DRAW_SAMPLES, seed: int = 0,
                      steps: int = DEFAULT_STEPS, prior: Optional[str] = None, progress: Progress = None,
                      inversion_steps: int = INVERSION_STEPS) -> DrawingTranslation:
    """Map ``picture`` to a latent of ``bridge``'s decoder and translate it ``num_samples`` times."""
    bridge = check_bridge(bridge, prior)
    n = as_int(num_samples, "Number of translations", LIMITS.draw_samples)
    seed = as_int(seed, "Seed", LIMITS.seed)
    steps = as_int(steps, "Sampling steps", LIMITS.steps)
    deadline = Deadline()
    pipe = get_pipeline(bridge)
    image = picture_to_image(picture, domain_of(bridge))
    z0, method = image_to_latent(pipe.decoder, image, progress, seed, inversion_steps, deadline)
    recon = pipe.decode(z0)
    err = float(((recon - image) ** 2).mean())
    key = hashlib.sha1(image.numpy().tobytes()).hexdigest()[:8]
    report_progress(progress, 0.6, f"Translating your picture ({key})")
    tr = translate(bridge, seed=seed, steps=steps, latents=z0.repeat(n, 1),
                   progress=lambda f, d: report_progress(progress, 0.6 + 0.4 * f, d), deadline=deadline)
    tr.metrics["source"] = "your picture"
    return DrawingTranslation(picture=image, reconstruction=recon, method=method, reconstruction_error=err,
                              translation=tr)
