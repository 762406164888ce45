"""Pictures and text of a :class:`~d2e_zoo.app.translate.Translation`.

* :func:`pairs_image`: each source G(z0) boxed with its translation G(z1), pairs aligned;
* :func:`frame_image`: the same boxes with G(z_k) on the right, for a step k (the slider);
* :func:`animation_gif`: those frames as a looping GIF (PIL);
* :func:`probability_figure`: the judge's target probability along the path (matplotlib);
* :func:`metrics_markdown`: the numbers as a small Markdown table.

Grids are built with :func:`d2e_zoo.visual.image_grid` and :func:`~d2e_zoo.visual.to_pil`.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Optional

import torch
from PIL import Image, ImageDraw, ImageFont

from ..domains import DEFAULT_DOMAIN, get_domain
from ..visual import image_grid, to_pil
from .tempfiles import process_folder

FRAME_GREY = 0.35  # the box around each pair, and the line between source and translation
MAX_GIF_FRAMES = 41
_CAPTION = 18


def header_height(scale: int) -> int:
    """Height of the strip above a grid (upscaled ``scale`` times) that names the halves of its boxes."""
    return 6 * scale + 4


def pairs_per_row(n: int) -> int:
    """How many (source, translation) boxes go on one row."""
    return min(n, 4 if n <= 16 else 8)


def default_scale(n: int) -> int:
    """Upscaling of still pictures: 3x up to 16 samples, else 2x."""
    return 3 if n <= 16 else 2


def gif_scale(n: int) -> int:
    """Upscaling of the GIF (smaller, to keep the file light): 2x up to 16 samples, else 1x."""
    return 2 if n <= 16 else 1


def pair_tiles(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Two ``(N, 1, 28, 28)`` batches -> ``(N, 1, 30, 59)`` tiles ``[left | right]`` in a grey box."""
    n = len(left)
    tiles = torch.full((n, 1, 30, 59), FRAME_GREY)
    tiles[:, :, 1:29, 1:29] = left.detach().cpu().clamp(0, 1)
    tiles[:, :, 1:29, 30:58] = right.detach().cpu().clamp(0, 1)
    return tiles


def pair_grid(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """The tiles of :func:`pair_tiles` on a grid (2-D tensor in [0, 1]), row-major in sample order."""
    return image_grid(pair_tiles(left, right), nrow=pairs_per_row(len(left)), pad=4)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def with_caption(img: Image.Image, text: str) -> Image.Image:
    """``img`` with a line of text under it (under, so that page labels never hide it)."""
    out = Image.new("L", (img.width, img.height + _CAPTION), 0)
    out.paste(img, (0, 0))
    ImageDraw.Draw(out).text((6, img.height + 1), text, fill=230, font=_font(13))
    return out


def with_header(img: Image.Image, n: int, scale: int, left: str = "source", right: str = "result") -> Image.Image:
    """``img`` (a grid of :func:`pair_grid` for ``n`` samples, upscaled ``scale`` times) with a
    strip of text above it naming the two halves of the boxes of its first row (one line for the
    whole grid when the halves are too narrow for a word)."""
    height = header_height(scale)
    out = Image.new("L", (img.width, img.height + height), 0)
    out.paste(img, (0, height))
    draw, font = ImageDraw.Draw(out), _font(max(10, 5 * scale))
    half = 28 * scale
    if half < 40:
        draw.text((2, 1), f"each box: {left} | {right}", fill=230, font=font)
        return out
    for c in range(pairs_per_row(n)):
        x0 = c * 63 * scale
        draw.text((x0 + scale + 2, 1), left, fill=170, font=font)
        draw.text((x0 + 30 * scale + 2, 1), right, fill=255, font=font)
    return out


def pairs_image(tr, scale: Optional[int] = None) -> Image.Image:
    """Sources and translations: box i holds ``[G(z0_i) | G(z1_i)]``, the halves named above the first row."""
    scale = scale or default_scale(tr.num_samples)
    return with_header(to_pil(pair_grid(tr.sources, tr.translations), scale), tr.num_samples, scale)


def step_text(tr, step: int) -> str:
    return f"step {step}/{tr.steps}   t = {float(tr.times[step]):.2f}"


def frame_image(tr, step: int, scale: Optional[int] = None) -> Image.Image:
    """Step ``step`` (0..K) of the path: box i holds ``[G(z0_i) | G(z_step,i)]``, captioned with the step."""
    if not 0 <= step <= tr.steps:
        from .choices import InputError

        raise InputError(f"Step must be from 0 to {tr.steps}, got {step}.")
    scale = scale or default_scale(tr.num_samples)
    grid = with_header(to_pil(pair_grid(tr.sources, tr.images(step)), scale), tr.num_samples, scale,
                       right="result" if step == tr.steps else f"step {step}")
    return with_caption(grid, step_text(tr, step))


def gif_steps(steps: int, max_frames: int = MAX_GIF_FRAMES) -> list[int]:
    """The steps shown in the GIF: all of them, or ``max_frames`` evenly spread (first and last kept)."""
    if steps + 1 <= max_frames:
        return list(range(steps + 1))
    return sorted({round(i * steps / (max_frames - 1)) for i in range(max_frames)})


def animation_frames(tr, scale: Optional[int] = None) -> list[Image.Image]:
    scale = scale or gif_scale(tr.num_samples)
    return [frame_image(tr, k, scale) for k in gif_steps(tr.steps)]


def gif_bytes(frames: list[Image.Image], seconds: float = 2.5, hold_ms: int = 1200) -> bytes:
    """A looping GIF of ``frames``: about ``seconds`` of motion, the first and last frame held."""
    per = int(min(150, max(40, 1000 * seconds / max(1, len(frames)))))
    durations = [per] * len(frames)
    durations[0], durations[-1] = max(per, 500), hold_ms
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    return buf.getvalue()


KEEP_GIFS = 64


def _gif_folder() -> Path:
    return process_folder("gifs")


def gif_name(run_id: str) -> str:
    """``path-<16 hex digits>.gif``: a short name from a hash of the run id, whatever its length."""
    return f"path-{hashlib.sha1(run_id.encode()).hexdigest()[:16]}.gif"


def animation_gif(tr, path=None, scale: Optional[int] = None) -> Path:
    """Write the trajectory animation of ``tr`` as a GIF; returns its path.

    Without ``path`` it goes to this process's temporary folder, named by :func:`gif_name`,
    which keeps the newest :data:`KEEP_GIFS` files."""
    data = gif_bytes(animation_frames(tr, scale))
    if path is None:
        folder = _gif_folder()
        path = folder / gif_name(tr.run_id)
        old = sorted(folder.glob("*.gif"), key=lambda p: p.stat().st_mtime)
        for p in old[:max(0, len(old) - KEEP_GIFS + 1)]:
            p.unlink(missing_ok=True)
    path = Path(path)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return path


def probability_figure(tr):
    """matplotlib Figure: the judge's probability of the target set at each judged step, one thin
    line per sample and their mean in bold, against the bridge time t."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe across threads

    t = tr.times[tr.probe_steps].numpy()
    p = tr.target_prob.numpy()
    fig = Figure(figsize=(6.0, 3.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(t, p, color="tab:blue", alpha=max(0.08, min(0.5, 4.0 / tr.num_samples)), linewidth=1)
    ax.plot(t, p.mean(1), color="black", linewidth=2.5, label=f"average of the {tr.num_samples} samples")
    ax.set_ylim(-0.02, 1.12)  # room above 1 for the legend
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.set_xlabel("along the path (left: the start, right: the result)")
    names = get_domain(tr.metrics.get("domain", DEFAULT_DOMAIN)).class_names
    ax.set_ylabel(f"judge's probability of {{{','.join(names[c] for c in tr.target_classes)}}}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=2)
    return fig


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def metrics_markdown(metrics: dict) -> str:
    """The numbers a curious user wants, as a Markdown list with a plain explanation of each."""
    domain = get_domain(metrics.get("domain", DEFAULT_DOMAIN))
    noun = domain.noun if domain.numeric else "class"  # "digit" or "class"
    what = f"{noun} classifier" if domain.numeric else f"{domain.title} classifier"
    targets = ", ".join(domain.class_names[c] for c in metrics["target_classes"])
    counts = ", ".join(f"{d}: {c}" for d, c in metrics.get("judge_counts", {}).items())
    total = metrics.get("seconds_total", metrics["seconds_compute"])
    rows = [
        ("Judged on target", f"{metrics['judge_precision']:.0%} of the results are {{{targets}}} "
         f"(of the sources: {metrics['judge_precision_source']:.0%})",
         f"the judge is a separate {what}, never used in training; this is the share it reads as a "
         f"target {noun}"),
        ("Judge's confidence", f"{metrics['target_probability']:.2f} (sources: "
         f"{metrics['target_probability_source']:.2f})",
         f"the judge's probability that a result is a target {noun}, averaged over the samples (0 to 1)"),
        (f"{noun.capitalize()}{'es' if noun.endswith('s') else 's'} the judge sees", counts,
         f"{noun}: how many of the results the judge reads as it"),
        ("Distance moved", f"{metrics['transport_cost']:.2f}",
         "how far each random code moved from start to result (mean squared distance E‖z1 − z0‖²): "
         "smaller means results stay closer to their sources"),
        ("Time taken", f"{_duration(total)} in all",
         f"the sampling itself took {_duration(metrics['seconds_bridge'])}; the rest is drawing every step, "
         "asking the judge and making the pictures"),
        ("Run", f"{metrics['bridge']} from {metrics['source']} on {metrics['prior']}",
         f"{metrics['num_samples']} samples, seed {metrics['seed']}, {metrics['steps']} steps: the same "
         "settings give the same pictures"),
    ]
    return "\n".join(f"- **{k}: {v}**  \n  {why}" for k, v, why in rows)


__all__ = ["animation_gif", "frame_image", "gif_bytes", "metrics_markdown", "pair_grid", "pair_tiles",
           "pairs_image", "probability_figure"]
