"""The Gradio Blocks of the app: layout, events, error messages. The only module that imports Gradio.

Every event has an ``api_name``, so scripts can call what the page calls with ``gradio_client``:

* ``/targets(prior)``: the targets of a prior (a dropdown update);
* ``/translate(prior, target, num_samples, seed, steps)``: pairs image, animation (GIF file),
  step slider, frame at the last step, plot, numbers (Markdown and JSON), run id;
* ``/frame(run_id, step)``: the picture of one step of a run;
* ``/translate_drawing(prior, target, drawing, upload, num_samples, seed, steps)``: the same
  outputs for your own picture, plus the picture as the app read it and its reconstruction;
* ``/drawing_frame(run_id, step)``: a step of such a run;
* ``/compose(prior, expression, weight, num_samples, seed, mala_steps)``: samples of a target
  written as an expression ("even and not 4"), by a zoo bridge, a bridge trained here, or MALA;
  the same outputs plus a line saying which was used;
* ``/train_bridge(prior, expression, weight, num_samples, seed)``: train a bridge for that
  target (about two minutes, cached) and translate with it;
* ``/compose_frame(run_id, step)``: a step of such a run.

For API clients, bad inputs (out of the limits shown, unknown names, an empty canvas) raise
``gr.Error`` with a readable message that names the field. In the page, each tab has its own
controls and a status line: an error is shown there, in place of the results, until the next
run; results are cleared as soon as a control changes; each press draws a new seed unless the
seed is kept. The API endpoints and the page's buttons run the same functions (the API's are
wired to hidden buttons, so that the page's can also set the seed and the status line).
Anything unexpected is logged with its traceback; ordinary mistakes are not.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

try:
    import gradio as gr
except ImportError as error:  # gradio is the `app` extra: the library works without it
    raise ImportError("the app needs Gradio, an optional dependency: pip install -e \".[app]\" "
                      "(or pip install -r requirements.txt)") from error

from . import render
from . import compose
from .choices import (DEFAULT_DRAW_SAMPLES, DEFAULT_PRIOR, DEFAULT_SAMPLES, DEFAULT_STEPS, LIMITS, InputError,
                      as_int, check_prior, default_target, prior_choices, target_choices, target_label)
from .drawing import check_picture_file, translate_drawing
from .translate import get_run, translate

logger = logging.getLogger(__name__)

CSS = """
.pixelated img { image-rendering: pixelated; image-rendering: crisp-edges; }
.pixelated .icon-button-wrapper { display: none !important; }  /* no buttons: not even their empty bar */
.img-heading p { margin: 0 0 2px 0; font-weight: 600; }
.status p { margin: 0; }
"""
PICK_BRUSH = """() => {  // select the brush once, when the Draw tab first shows (the canvas may mount late)
  let tries = 0;
  const pick = () => {
    const b = document.querySelector('#sketch button[aria-label="Brush"]');
    if (b) { if (!b.dataset.d2ePicked) { b.dataset.d2ePicked = "1"; b.click(); } }
    else if (tries++ < 50) setTimeout(pick, 100);
  };
  pick();
}"""
INTRO = """
# Data-free translation: watch digits change, step by step
Pick a **prior** (a generator of digit images from random codes) and a **target**. A *bridge*,
trained with no examples of the target, only a classifier's opinion of it, moves each random
code along a path until its image is in the target. Each box below shows one sample: the
**source** on the left, its **result** on the right.
"""
SEED_INFO = "a new seed on each press, unless kept; the same seed gives the same pictures"


def _theme():
    system = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: works offline
    return gr.themes.Soft(font=system, font_mono=["ui-monospace", "monospace"])


def launch_kwargs() -> dict:
    """Keyword arguments for ``demo.launch`` that belong to the app (Gradio 6 takes the look
    there) and its upload size limit."""
    return {"theme": _theme(), "css": CSS, "max_file_size": LIMITS.upload_bytes}


def _unexpected(fn_name: str, e: Exception) -> str:
    """Log an unexpected failure with its traceback (call inside ``except``); the message for the page."""
    logger.exception("%s failed", fn_name)
    return (f"Something went wrong ({type(e).__name__}). The app is still running: try again or change the "
            "inputs.")


def _friendly(fn):
    """For API endpoints: :class:`InputError` becomes a ``gr.Error`` with its message (no
    traceback in the log); anything else is logged with its traceback and reported by type."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as e:
            raise gr.Error(str(e), title="Please check the inputs", print_exception=False) from None
        except Exception as e:  # never a frozen page: log it and say so
            raise gr.Error(_unexpected(fn.__name__, e), print_exception=False) from None

    return wrapper


def _progress(progress):
    return None if progress is None else (lambda f, d: progress(f, desc=d))


@dataclass
class Panel:
    """The output area of a tab, by name: its components (made by :func:`_result_panel`) or the
    values a handler gives them (made by :func:`_panel_values`). The field order is the order
    of the outputs that API clients see."""

    pairs: Any
    animation: Any
    step: Any
    frame: Any
    plot: Any
    numbers: Any
    raw: Any
    run_id: Any

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))


def _panel_values(tr, started: float) -> Panel:
    """What the result panel shows for the translation ``tr`` (``started``: perf_counter at the
    request). The step picture starts half-way along the path (the end is the pairs picture)."""
    metrics = dict(tr.metrics)
    gif = render.animation_gif(tr)
    pairs = render.pairs_image(tr)
    middle = tr.steps // 2
    frame = render.frame_image(tr, middle)
    fig = render.probability_figure(tr)
    metrics["seconds_total"] = time.perf_counter() - started
    slider = gr.Slider(minimum=0, maximum=tr.steps, value=middle, step=1, interactive=True)
    return Panel(pairs=pairs, animation=str(gif), step=slider, frame=frame, plot=fig,
                 numbers=render.metrics_markdown(metrics), raw=metrics, run_id=tr.run_id)


def _empty_panel() -> Panel:
    """Values that clear a result panel (after an error, or when the controls change)."""
    return Panel(pairs=None, animation=None, step=gr.Slider(value=0), frame=None, plot=None, numbers="", raw=None,
                 run_id="")


def _fresh_seed(seed, keep: bool):
    """``seed`` when the person keeps it, else a new one (so that each press shows new samples)."""
    return seed if keep else random.randrange(LIMITS.seed[1] + 1)


def _shown(tr, what: str) -> str:
    return f"Showing {what}: {tr.num_samples} samples, **seed {tr.seed}**, {tr.steps} steps."


def _not_run(e: Exception, fn_name: str) -> str:
    """The status line for a failed request: the message of an input error (it names the field)."""
    text = str(e) if isinstance(e, InputError) else _unexpected(fn_name, e)
    return f"**⚠ Nothing was run.** {text}"


def _stale(button: str) -> str:
    return f"Settings changed: press **{button}** for results with them."


# --------------------------------------------------------------------------- handlers --
@_friendly
def update_targets(prior: str):
    """The targets of ``prior`` as a dropdown update (its first target selected)."""
    check_prior(prior)
    return gr.Dropdown(choices=target_choices(prior), value=default_target(prior))


def _translate(prior, target, num_samples, seed, steps, progress):
    started = time.perf_counter()
    tr = translate(target, num_samples, seed, steps, prior=prior or None, progress=_progress(progress))
    if progress is not None:
        progress(0.8, desc="Rendering the animation")
    return tr, _panel_values(tr, started)


@_friendly
def run_translate(prior: str, target: str, num_samples: float, seed: float, steps: float,
                  progress=gr.Progress()):
    """Translate ``num_samples`` samples of ``prior`` into ``target``; all outputs of the Translate tab."""
    return _translate(prior, target, num_samples, seed, steps, progress)[1].as_tuple()


def ui_translate(prior, target, num_samples, seed, steps, keep, progress=gr.Progress()):
    """The Translate button: a new seed unless kept; ``(seed, status, *panel)``, an error in the status."""
    seed = _fresh_seed(seed, keep)
    try:
        tr, values = _translate(prior, target, num_samples, seed, steps, progress)
        return (seed, _shown(tr, target_label(tr.bridge)), *values.as_tuple())
    except Exception as e:
        return (seed, _not_run(e, "translate"), *_empty_panel().as_tuple())


def ui_first_translation(prior, target, num_samples, seed, steps, progress=gr.Progress()):
    """What the page shows when it opens: the translation of the controls as they are."""
    return ui_translate(prior, target, num_samples, seed, steps, True, progress)[1:]


@_friendly
def show_frame(run_id: str, step: float):
    """The picture of step ``step`` (0..K) of the run ``run_id``."""
    tr = get_run(run_id)
    return render.frame_image(tr, as_int(step, "Step", (0, tr.steps)))


def _only_uploads(value):
    """``value`` if every file it names (a path, a file dict, an editor dict of them) is in
    Gradio's upload folder, else :class:`InputError`: a request may not name files of the server."""
    if isinstance(value, dict) and "path" in value:
        _only_uploads(value["path"])
    elif isinstance(value, dict):
        for v in (value.get("background"), value.get("composite"), *(value.get("layers") or [])):
            _only_uploads(v)
    elif isinstance(value, (str, Path)):
        folder = Path(gr.utils.get_upload_folder()).resolve()
        if not Path(value).resolve().is_relative_to(folder):
            raise InputError("Picture: not a file uploaded to this app; upload the picture itself.")
    return value


def _drawing(prior, target, drawing, upload, num_samples, seed, steps, progress):
    started = time.perf_counter()
    picture = _only_uploads(upload if upload is not None else drawing)
    res = translate_drawing(target, picture, num_samples, seed, steps, prior=prior or None,
                            progress=_progress(progress))
    if progress is not None:
        progress(0.9, desc="Rendering the animation")
    read = render.with_header(render.to_pil(render.pair_grid(res.picture, res.reconstruction), 4), 1, 4,
                              left="as read", right="its code")
    values = _panel_values(res.translation, started)
    values.numbers = (f"**Your picture → a random code:** {res.method}; pixel error of the code's image "
                      f"{res.reconstruction_error:.3f} (mean squared; 0 = identical).\n\n" + values.numbers)
    return res, read, values


@_friendly
def run_drawing(prior: str, target: str, drawing, upload, num_samples: float, seed: float, steps: float,
                progress=gr.Progress()):
    """Your picture (the upload if given, else the drawing) -> latent -> ``num_samples`` translations."""
    _, read, values = _drawing(prior, target, drawing, upload, num_samples, seed, steps, progress)
    return (read, *values.as_tuple())


def ui_drawing(prior, target, drawing, upload, num_samples, seed, steps, keep, progress=gr.Progress()):
    """The Translate-my-drawing button: ``(seed, status, read, *panel)``, an error in the status."""
    seed = _fresh_seed(seed, keep)
    try:
        res, read, values = _drawing(prior, target, drawing, upload, num_samples, seed, steps, progress)
        return (seed, _shown(res.translation, f"your picture → {target_label(target)}"), read, *values.as_tuple())
    except Exception as e:
        return (seed, _not_run(e, "translate_drawing"), None, *_empty_panel().as_tuple())


def _method_line(method: str, tr) -> str:
    m = tr.metrics
    if method == "MALA":
        if m.get("mala_stopped_early"):
            ran = (f"{m['mala_steps']} of the {m['mala_steps_asked']} steps asked: stopped at the app's time limit "
                   f"of {LIMITS.seconds:.0f} s")
        else:
            ran = f"{m['mala_steps']} steps"
        settled = "its energy has settled" if m["energy_settled"] else "its energy has not settled: try more steps"
        mixed = ("the chains agree" if m["energy_rhat"] < 1.05 else "the chains do not agree yet")
        return (f"**Sampled by MALA**, a random walk towards the target ({ran}; {m['mala_acceptance']:.0%} of its "
                f"moves accepted; {settled}; {mixed}: split-R̂ {m['energy_rhat']:.2f}, near 1 when they do). No "
                "bridge exists for this target yet: press *Train a bridge* to make one (about two minutes), "
                "after which it is used here.")
    if method == "trained here":
        took = m.get("train_seconds")
        return ("**Sampled by a bridge trained in this app** for this target"
                + (f" (training took {took:.0f} s)." if took else "."))
    return f"**Sampled by the zoo bridge `{tr.bridge}`**: this target is exactly one the zoo was trained for."


def _compose(prior, expression, weight, num_samples, seed, mala_steps, progress, train: bool):
    started = time.perf_counter()
    if train:
        tr, method = compose.train_bridge(prior, expression, weight, num_samples, seed, progress=_progress(progress))
    else:
        tr, method = compose.sample_target(prior, expression, weight, num_samples, seed, mala_steps,
                                           progress=_progress(progress))
    if progress is not None:
        progress(0.9, desc="Rendering the animation")
    return tr, _method_line(method, tr), _panel_values(tr, started)


@_friendly
def run_compose(prior: str, expression: str, weight: float, num_samples: float, seed: float, mala_steps: float,
                progress=gr.Progress()):
    """Samples of the target ``expression`` on ``prior``; the Translate outputs plus how they were made."""
    _, method, values = _compose(prior, expression, weight, num_samples, seed, mala_steps, progress, False)
    return (method, *values.as_tuple())


@_friendly
def run_train_bridge(prior: str, expression: str, weight: float, num_samples: float, seed: float,
                     progress=gr.Progress()):
    """Train a bridge for the target (cached), then translate with it."""
    _, method, values = _compose(prior, expression, weight, num_samples, seed, None, progress, True)
    return (method, *values.as_tuple())


def _ui_compose(train: bool, prior, expression, weight, num_samples, seed, mala_steps, keep, progress):
    seed = _fresh_seed(seed, keep)
    try:
        tr, method, values = _compose(prior, expression, weight, num_samples, seed, mala_steps, progress, train)
        return (seed, _shown(tr, f"'{tr.metrics['bridge']}'"), method, *values.as_tuple())
    except Exception as e:
        return (seed, _not_run(e, "train_bridge" if train else "compose"), "", *_empty_panel().as_tuple())


def ui_compose(prior, expression, weight, num_samples, seed, mala_steps, keep, progress=gr.Progress()):
    """The Sample button: ``(seed, status, method, *panel)``, an error in the status."""
    return _ui_compose(False, prior, expression, weight, num_samples, seed, mala_steps, keep, progress)


def ui_train_bridge(prior, expression, weight, num_samples, seed, keep, progress=gr.Progress()):
    """The Train-a-bridge button: ``(seed, status, method, *panel)``, an error in the status."""
    return _ui_compose(True, prior, expression, weight, num_samples, seed, None, keep, progress)


# ---------------------------------------------------------------------------- layout --
def _check_files(*files) -> None:
    """``gr.Error`` naming the problem if an uploaded picture is too large (read from its header)."""
    for f in files:
        path = getattr(f, "path", None)
        if path:
            try:
                _only_uploads(path)
                check_picture_file(path)
            except InputError as e:
                raise gr.Error(str(e), title="Please check the inputs", print_exception=False) from None


def _check_image_upload(self, payload):
    if payload is not None:
        _check_files(payload)
    return gr.Image.preprocess(self, payload)


def _check_sketch(self, payload):
    if payload is not None:
        _check_files(payload.background, payload.composite, *(payload.layers or []))
    return gr.Sketchpad.preprocess(self, payload)


def _size_checked(component):
    """``component`` (an Image or a Sketchpad) with its pictures size-checked from their header
    before Gradio opens them. (A method on the instance: a subclass of a Gradio component would
    make Gradio write a type stub next to this file.)"""
    check = _check_sketch if isinstance(component, gr.ImageEditor) else _check_image_upload
    component.preprocess = types.MethodType(check, component)
    return component


def _picture(elem_id: str, heading: str, **kwargs) -> gr.Image:
    """An output picture with its heading above it: no label or toolbar drawn over the image."""
    gr.Markdown(f"{heading}", elem_classes="img-heading")
    return gr.Image(show_label=False, buttons=[], interactive=False, elem_id=elem_id, elem_classes="pixelated",
                    **{"format": "png", **kwargs})


def _result_panel(prefix: str, pairs_heading: str, frame_heading: str, api_name: str) -> Panel:
    """The output area of a tab: pairs, animation, step slider and picture, plot, numbers, and
    the JSON / run id accordion; elem ids are ``prefix`` + ``pairs`` etc."""
    with gr.Row():
        with gr.Column(min_width=300):
            pairs = _picture(prefix + "pairs", pairs_heading)
        with gr.Column(min_width=300):
            anim = _picture(prefix + "animation", "The path, animated (source | the image at each step)")
    with gr.Row():
        with gr.Column(min_width=300):
            # the API accepts any step of a run; the page's slider follows the run shown
            step = gr.Slider(0, LIMITS.steps[1], value=DEFAULT_STEPS // 2, step=1, label="Move along the path: step",
                             info="0 is the start; the last step is the result", elem_id=prefix + "step")
            frame = _picture(prefix + "frame", frame_heading)
        with gr.Column(min_width=300):
            gr.Markdown("How sure the judge is that each sample is a target digit, along the path "
                        "(thin lines: each sample; bold: their average)", elem_classes="img-heading")
            plot = gr.Plot(show_label=False, format="png", elem_id=prefix + "plot")
    numbers = gr.Markdown(elem_id=prefix + "numbers")
    with gr.Accordion("For scripts: numbers as JSON and the run id", open=False):
        raw = gr.JSON(label="Numbers (JSON)")
        run_id = gr.Textbox(label=f"Run id (pass it to /{api_name})", interactive=False,
                            elem_id=prefix + "run-id")
    return Panel(pairs=pairs, animation=anim, step=step, frame=frame, plot=plot, numbers=numbers, raw=raw,
                 run_id=run_id)


@dataclass
class Seed:
    """A seed box and its "keep this seed" tick."""

    value: gr.Number
    keep: gr.Checkbox


def _seed(prefix: str) -> Seed:
    lo, hi = LIMITS.seed
    with gr.Column(min_width=200):
        value = gr.Number(value=0, precision=0, label=f"Seed ({lo}–{hi})", info=SEED_INFO, elem_id=prefix + "seed")
        keep = gr.Checkbox(value=False, label="Keep this seed", elem_id=prefix + "keep-seed")
    return Seed(value=value, keep=keep)


def _prior_target(prefix: str):
    priors, targets = prior_choices(), target_choices(DEFAULT_PRIOR)
    prior = gr.Dropdown(priors, value=DEFAULT_PRIOR, label="Prior (makes images from random codes)",
                        elem_id=prefix + "prior", min_width=200)
    target = gr.Dropdown(targets, value=default_target(DEFAULT_PRIOR), label="Target",
                         info="every bridge trained on this prior", elem_id=prefix + "target",
                         allow_custom_value=False, min_width=200)
    return prior, target


def _steps(prefix: str) -> gr.Slider:
    lo, hi = LIMITS.steps
    return gr.Slider(lo, hi, value=DEFAULT_STEPS, step=1, label=f"Steps along the path ({lo}–{hi})",
                     info=f"the bridges were trained with {DEFAULT_STEPS}", elem_id=prefix + "steps")


@dataclass
class TranslateTab:
    prior: gr.Dropdown
    target: gr.Dropdown
    samples: gr.Slider
    seed: Seed
    steps: gr.Slider
    button: gr.Button
    status: gr.Markdown
    panel: Panel

    def request(self) -> list:
        """The inputs of ``/translate``, in its argument order."""
        return [self.prior, self.target, self.samples, self.seed.value, self.steps]


@dataclass
class DrawTab:
    tab: gr.Tab
    prior: gr.Dropdown
    target: gr.Dropdown
    sketch: gr.Sketchpad
    upload: gr.Image
    samples: gr.Slider
    seed: Seed
    steps: gr.Slider
    button: gr.Button
    status: gr.Markdown
    read: gr.Image
    panel: Panel

    def request(self) -> list:
        """The inputs of ``/translate_drawing``, in its argument order."""
        return [self.prior, self.target, self.sketch, self.upload, self.samples, self.seed.value, self.steps]


@dataclass
class ComposeTab:
    prior: gr.Dropdown
    expression: gr.Textbox
    weight: gr.Slider
    samples: gr.Slider
    seed: Seed
    mala_steps: gr.Slider
    sample_button: gr.Button
    train_button: gr.Button
    status: gr.Markdown
    method: gr.Markdown
    panel: Panel

    def request(self) -> list:
        """The inputs of ``/compose``, in its argument order."""
        return [self.prior, self.expression, self.weight, self.samples, self.seed.value, self.mala_steps]


def _translate_tab() -> TranslateTab:
    with gr.Tab("Translate", id="translate"):
        with gr.Row():
            prior, target = _prior_target("")
        with gr.Row():
            lo, hi = LIMITS.samples
            samples = gr.Slider(lo, hi, value=DEFAULT_SAMPLES, step=1, label=f"Number of samples ({lo}–{hi})",
                                elem_id="samples", min_width=200)
            seed = _seed("")
            steps = _steps("")
        button = gr.Button("Translate", variant="primary", elem_id="translate-button")
        status = gr.Markdown(elem_id="status", elem_classes="status")
        panel = _result_panel("", "Each box: a source (left) and its result (right)",
                              "The images at this step (source | now)", "frame")
    return TranslateTab(prior=prior, target=target, samples=samples, seed=seed, steps=steps, button=button,
                        status=status, panel=panel)


def _draw_tab() -> DrawTab:
    with gr.Tab("Draw", id="draw") as tab:
        gr.Markdown("Draw a digit, or a piece of clothing for a Fashion-MNIST prior (or upload a picture of "
                    "one: a photo on a plain background works). It is cropped and framed like the prior's data, "
                    "turned into a random code of the prior (VAE: its encoder; GAN: a search, about a "
                    "second) and translated by the chosen bridge several times: the bridge is random, so "
                    "one picture has several results.")
        with gr.Row():
            prior, target = _prior_target("draw-")
        with gr.Row():
            sketch = gr.Sketchpad(label="Draw a digit or a piece of clothing", type="numpy", canvas_size=(280, 280),
                                  fixed_canvas=True, layers=False,
                                  brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                  elem_id="sketch")
            _size_checked(sketch)
            side = int(LIMITS.image_pixels ** 0.5)
            upload = gr.Image(label=f"…or upload a picture (at most {side}×{side} pixels)", type="filepath",
                              sources=["upload", "clipboard"], elem_id="upload")
            _size_checked(upload)
            with gr.Column(min_width=220):
                lo, hi = LIMITS.draw_samples
                samples = gr.Slider(lo, hi, value=DEFAULT_DRAW_SAMPLES, step=1,
                                    label=f"Results of your picture ({lo}–{hi})", elem_id="draw-samples")
                seed = _seed("draw-")
                steps = _steps("draw-")
        button = gr.Button("Translate my drawing", variant="primary", elem_id="draw-button")
        status = gr.Markdown(elem_id="draw-status", elem_classes="status")
        with gr.Row():
            with gr.Column(min_width=200, scale=0):
                read = _picture("read", "Your picture as read (28×28) | the image of its code")
        panel = _result_panel("draw-", "Each box: your picture's code (left) and a result (right)",
                              "The images at this step (start | now)", "drawing_frame")
    return DrawTab(tab=tab, prior=prior, target=target, sketch=sketch, upload=upload, samples=samples, seed=seed,
                   steps=steps, button=button, status=status, read=read, panel=panel)


def _compose_tab() -> ComposeTab:
    with gr.Tab("Compose", id="compose"):
        gr.Markdown("Write a target as an expression over digits: **and**, **or**, **not**, and **without** "
                    "(*B without A*: B, pushed away from A with the weight w; w = 0 is just B), e.g. "
                    "`even and not 4`, `3 or 8`, `(3 or 8) and not 5`, `even without 4`. A target the zoo has "
                    "a bridge for uses it; any other is sampled by MALA (a random walk towards the target), "
                    "and you can train a bridge for it here (about two minutes; kept for later).")
        with gr.Row():
            priors = prior_choices()
            prior = gr.Dropdown(priors, value=DEFAULT_PRIOR, label="Prior (makes images from random codes)",
                                elem_id="compose-prior", min_width=200)
            expression = gr.Textbox(value=compose.DEFAULT_EXPRESSION, label="Target expression",
                                    info=f"at most {LIMITS.expression_chars} characters", elem_id="expression",
                                    max_length=LIMITS.expression_chars, min_width=200)
            weight = gr.Slider(0.0, 1.0, value=compose.DEFAULT_WEIGHT, step=0.05, label="Weight w of 'without'",
                               elem_id="weight", min_width=200)
        with gr.Row():
            lo, hi = LIMITS.samples
            samples = gr.Slider(lo, hi, value=DEFAULT_SAMPLES, step=1, label=f"Number of samples ({lo}–{hi})",
                                elem_id="compose-samples", min_width=200)
            seed = _seed("compose-")
            lo, hi = compose.MALA_STEPS
            mala_steps = gr.Slider(lo, hi, value=compose.COMPOSE_MALA_STEPS, step=10,
                                   label=f"MALA steps ({lo}–{hi}), when no bridge exists", elem_id="mala-steps",
                                   min_width=200)
        with gr.Row():
            sample_button = gr.Button("Sample", variant="primary", elem_id="compose-button")
            train_button = gr.Button("Train a bridge for this target (about 2 minutes)", elem_id="train-button")
        status = gr.Markdown(elem_id="compose-status", elem_classes="status")
        method = gr.Markdown(elem_id="compose-method")
        panel = _result_panel("compose-", "Each box: a start (left) and its sample (right)",
                              "The images at this frame (start | now)", "compose_frame")
    return ComposeTab(prior=prior, expression=expression, weight=weight, samples=samples, seed=seed,
                      mala_steps=mala_steps, sample_button=sample_button, train_button=train_button, status=status,
                      method=method, panel=panel)


# ---------------------------------------------------------------------------- events --
def _wire_frames(panel: Panel, api_name: str) -> None:
    """Moving the step slider shows that step of the panel's run (``/<api_name>(run_id, step)``;
    any step of the run, up to ``LIMITS.steps``, for any client)."""
    panel.step.input(show_frame, [panel.run_id, panel.step], panel.frame, api_name=api_name, show_progress="hidden",
                     trigger_mode="always_last", concurrency_limit=4, concurrency_id="frames", preprocess=False)


def _wire_seed_and_staleness(seed: Seed, controls: list, status, panel: Panel, button: str, extra=()) -> None:
    """Typing a seed keeps it; changing any control clears the results and says why."""
    seed.value.input(lambda: True, None, seed.keep, queue=False, show_progress="hidden", api_visibility="private")

    def clear():
        return (_stale(button), *[None] * len(extra), *_empty_panel().as_tuple())

    outputs = [status, *extra, *panel.as_tuple()]
    for c in controls:
        event = c.change if isinstance(c, gr.Dropdown) else c.input
        event(clear, None, outputs, queue=False, show_progress="hidden", api_visibility="private")


def _api_twin(fn, inputs, outputs, api_name: str, **kwargs) -> None:
    """The API endpoint ``/<api_name>``: ``fn`` on a hidden button (errors raise ``gr.Error``)."""
    gr.Button(visible=False).click(fn, inputs, outputs, api_name=api_name, concurrency_id="compute", **kwargs)


def _wire_translate(tab: TranslateTab) -> None:
    tab.prior.change(update_targets, tab.prior, tab.target, api_name="targets", show_progress="hidden")
    panel = list(tab.panel.as_tuple())
    tab.button.click(ui_translate, [*tab.request(), tab.seed.keep], [tab.seed.value, tab.status, *panel],
                     api_visibility="private", concurrency_id="compute", show_progress_on=[tab.panel.pairs],
                     preprocess=False)
    _api_twin(run_translate, tab.request(), panel, "translate", preprocess=False)
    _wire_frames(tab.panel, "frame")
    _wire_seed_and_staleness(tab.seed, [tab.prior, tab.target, tab.samples, tab.seed.value, tab.steps], tab.status,
                             tab.panel, "Translate")


def _wire_draw(tab: DrawTab) -> None:
    tab.prior.change(update_targets, tab.prior, tab.target, api_visibility="private", show_progress="hidden")
    outputs = [tab.read, *tab.panel.as_tuple()]
    tab.button.click(ui_drawing, [*tab.request(), tab.seed.keep], [tab.seed.value, tab.status, *outputs],
                     api_visibility="private", concurrency_id="compute", show_progress_on=[tab.read])
    # unprocessed inputs (files as Gradio's file dicts, already checked to be uploads): any prior's targets
    # are accepted and every message is the app's own, naming the field
    _api_twin(run_drawing, tab.request(), outputs, "translate_drawing", preprocess=False)
    _wire_frames(tab.panel, "drawing_frame")
    _wire_seed_and_staleness(tab.seed, [tab.prior, tab.target, tab.samples, tab.seed.value, tab.steps], tab.status,
                             tab.panel, "Translate my drawing", extra=[tab.read])
    tab.tab.select(None, js=PICK_BRUSH)  # in the browser only: the canvas opens ready to draw


def _wire_compose(tab: ComposeTab) -> None:
    outputs = [tab.method, *tab.panel.as_tuple()]
    ui_outputs = [tab.seed.value, tab.status, *outputs]
    shown = dict(api_visibility="private", show_progress_on=[tab.panel.pairs], preprocess=False)
    tab.sample_button.click(ui_compose, [*tab.request(), tab.seed.keep], ui_outputs, concurrency_id="compute",
                            **shown)
    train_inputs = tab.request()[:-1]
    tab.train_button.click(ui_train_bridge, [*train_inputs, tab.seed.keep], ui_outputs, concurrency_id="training",
                           concurrency_limit=1, **shown)
    _api_twin(run_compose, tab.request(), outputs, "compose", preprocess=False)
    gr.Button(visible=False).click(run_train_bridge, train_inputs, outputs, api_name="train_bridge",
                                   concurrency_id="training", concurrency_limit=1, preprocess=False)
    _wire_frames(tab.panel, "compose_frame")
    _wire_seed_and_staleness(tab.seed, [tab.prior, tab.expression, tab.weight, tab.samples, tab.seed.value,
                                        tab.mala_steps], tab.status, tab.panel, "Sample", extra=[tab.method])


def build_demo(concurrency_limit: int = 2, max_queue: int = 64) -> gr.Blocks:
    """The app: a Translate tab, a Draw tab and a Compose tab, each with its own controls;
    queued with ``concurrency_limit`` translations at a time and at most ``max_queue`` waiting."""
    # delete_cache: Gradio's copies of the pictures older than 15 minutes are removed every 5
    # (app.py also bounds their total size)
    with gr.Blocks(title="d2e-zoo: data-free translation", delete_cache=(300, 900)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            translating = _translate_tab()
            drawing = _draw_tab()
            composing = _compose_tab()
        _wire_translate(translating)
        _wire_draw(drawing)
        _wire_compose(composing)
        # something to look at as soon as the page opens (the controls as they are, seed 0)
        demo.load(ui_first_translation, translating.request(), [translating.status, *translating.panel.as_tuple()],
                  api_visibility="private", concurrency_id="compute", show_progress_on=[translating.panel.pairs],
                  preprocess=False)
    demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)
    return demo


def set_threads(concurrency_limit: int, threads=None) -> int:
    """Torch threads per request: the cores shared by the concurrent requests (at least 1)."""
    import os

    n = threads or max(1, (os.cpu_count() or 1) // max(1, concurrency_limit))
    torch.set_num_threads(n)
    return n
