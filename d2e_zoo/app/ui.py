"""The Gradio Blocks of the app: layout, events, error messages. The only module that imports Gradio.

Every event has an ``api_name``, so scripts can call what the page calls with ``gradio_client``:

* ``/targets(prior)``: the targets of a prior (a dropdown update);
* ``/translate(prior, target, num_samples, seed, steps)``: pairs image, animation (GIF file),
  step slider, frame at the last step, plot, numbers (Markdown and JSON), run id;
* ``/frame(run_id, step)``: the picture of one step of a run;
* ``/translate_drawing(prior, target, drawing, upload, num_samples, seed, steps)``: the same
  outputs for your own digit, plus the digit as the app read it and its reconstruction;
* ``/drawing_frame(run_id, step)``: a step of such a run;
* ``/compose(prior, expression, weight, num_samples, seed, mala_steps)``: samples of a target
  written as an expression ("even and not 4"), by a zoo bridge, a bridge trained here, or MALA;
  the same outputs plus a line saying which was used;
* ``/train_bridge(prior, expression, weight, num_samples, seed)``: train a bridge for that
  target (about two minutes, cached) and translate with it;
* ``/compose_frame(run_id, step)``: a step of such a run.

Bad inputs (out of the limits shown, unknown names, an empty canvas) raise ``gr.Error`` with a
readable message, shown in the page; anything unexpected is logged and shown the same way.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, fields
from typing import Any, Optional

import torch

try:
    import gradio as gr
except ImportError as error:  # gradio is the `app` extra: the library works without it
    raise ImportError("the app needs Gradio, an optional dependency: pip install -e \".[app]\" "
                      "(or pip install -r requirements.txt)") from error

from . import render
from . import compose
from .choices import (DEFAULT_DRAW_SAMPLES, DEFAULT_PRIOR, DEFAULT_SAMPLES, DEFAULT_STEPS, LIMITS, InputError,
                      as_int, check_prior, default_target, prior_choices, target_choices)
from .drawing import translate_drawing
from .translate import get_run, translate

logger = logging.getLogger(__name__)

CSS = """
.pixelated img { image-rendering: pixelated; image-rendering: crisp-edges; }
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
**source** on the left, its **translation** on the right.
"""


def _theme():
    system = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: works offline
    return gr.themes.Soft(font=system, font_mono=["ui-monospace", "monospace"])


def launch_kwargs() -> dict:
    """Keyword arguments for ``demo.launch`` that belong to the look (Gradio 6 takes them there)."""
    return {"theme": _theme(), "css": CSS}


def _friendly(fn):
    """Turn :class:`InputError` (and any other failure) into a ``gr.Error`` message in the page."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as e:
            raise gr.Error(str(e), title="Please check the inputs") from None
        except Exception as e:  # never a frozen page: log it and say so
            logger.exception("%s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}: {e}). The app is still running: "
                           "try again or change the inputs.") from None

    return wrapper


def _progress(progress):
    return None if progress is None else (lambda f, d: progress(f, desc=d))


@dataclass
class Panel:
    """The output area shared by the tabs, by name: its components (made by
    :func:`_result_panel`) or the values a handler gives them (made by :func:`_panel_values`).
    The field order is the order of the outputs that Gradio and API clients see."""

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
    """What the result panel shows for the translation ``tr`` (``started``: perf_counter at the request)."""
    metrics = dict(tr.metrics)
    gif = render.animation_gif(tr)
    pairs = render.pairs_image(tr)
    last = render.frame_image(tr, tr.steps)
    fig = render.probability_figure(tr)
    metrics["seconds_total"] = time.perf_counter() - started
    slider = gr.Slider(minimum=0, maximum=tr.steps, value=tr.steps, step=1, interactive=True)
    return Panel(pairs=pairs, animation=str(gif), step=slider, frame=last, plot=fig,
                 numbers=render.metrics_markdown(metrics), raw=metrics, run_id=tr.run_id)


@_friendly
def update_targets(prior: str):
    """The targets of ``prior`` as a dropdown update (its first target selected)."""
    check_prior(prior)
    return gr.Dropdown(choices=target_choices(prior), value=default_target(prior))


@_friendly
def run_translate(prior: str, target: str, num_samples: float, seed: float, steps: float,
                  progress=gr.Progress()):
    """Translate ``num_samples`` samples of ``prior`` into ``target``; all outputs of the Translate tab."""
    started = time.perf_counter()
    tr = translate(target, num_samples, seed, steps, prior=prior or None, progress=_progress(progress))
    progress(0.8, desc="Rendering the animation")
    return _panel_values(tr, started).as_tuple()


@_friendly
def show_frame(run_id: str, step: float):
    """The picture of step ``step`` (0..K) of the run ``run_id``."""
    tr = get_run(run_id)
    return render.frame_image(tr, as_int(step, "Step", (0, tr.steps)))


@_friendly
def run_drawing(prior: str, target: str, drawing, upload, num_samples: float, seed: float, steps: float,
                progress=gr.Progress()):
    """Your digit (the upload if given, else the drawing) -> latent -> ``num_samples`` translations."""
    started = time.perf_counter()
    picture = upload if upload is not None else drawing
    res = translate_drawing(target, picture, num_samples, seed, steps, prior=prior or None,
                            progress=_progress(progress))
    progress(0.9, desc="Rendering the animation")
    read = render.to_pil(render.pair_grid(res.digit, res.reconstruction), 4)
    values = _panel_values(res.translation, started)
    values.numbers = (f"**Your digit → latent:** {res.method}; pixel error of the reconstruction "
                      f"{res.reconstruction_error:.3f} (mean squared).\n\n" + values.numbers)
    return (read, *values.as_tuple())


def _method_line(method: str, tr) -> str:
    m = tr.metrics
    if method == "MALA":
        settled = "energy settled" if m["energy_settled"] else "energy not yet settled: try more MALA steps"
        mixed = "chains mixed" if m["energy_rhat"] < 1.05 else "chains not yet mixed"
        return (f"**Sampled by MALA** ({m['mala_steps']} steps, acceptance {m['mala_acceptance']:.2f}; {settled}; "
                f"{mixed}, split-R-hat {m['energy_rhat']:.2f}). No bridge exists for this target yet: press "
                "*Train a bridge* to make one (about two minutes), after which it is used here.")
    if method == "trained here":
        took = m.get("train_seconds")
        return ("**Sampled by a bridge trained in this app** for this target"
                + (f" (training took {took:.0f} s)." if took else "."))
    return f"**Sampled by the zoo bridge `{tr.bridge}`**: this target is exactly one the zoo was trained for."


@_friendly
def run_compose(prior: str, expression: str, weight: float, num_samples: float, seed: float, mala_steps: float,
                progress=gr.Progress()):
    """Samples of the target ``expression`` on ``prior``; the Translate outputs plus how they were made."""
    started = time.perf_counter()
    tr, method = compose.sample_target(prior, expression, weight, num_samples, seed, mala_steps,
                                       progress=_progress(progress))
    progress(0.8, desc="Rendering the animation")
    return (_method_line(method, tr), *_panel_values(tr, started).as_tuple())


@_friendly
def run_train_bridge(prior: str, expression: str, weight: float, num_samples: float, seed: float,
                     progress=gr.Progress()):
    """Train a bridge for the target (cached), then translate with it."""
    started = time.perf_counter()
    tr, method = compose.train_bridge(prior, expression, weight, num_samples, seed, progress=_progress(progress))
    progress(0.95, desc="Rendering the animation")
    return (_method_line(method, tr), *_panel_values(tr, started).as_tuple())


def _result_panel(prefix: str, pairs_label: str, frame_label: str, step_label: str, run_id_label: str,
                  run_id_elem: Optional[str] = None) -> Panel:
    """The output area shared by the tabs: pairs, animation, step slider and frame, plot,
    numbers, and the JSON / run id accordion; elem ids are ``prefix`` + ``pairs`` etc."""
    with gr.Row():
        pairs = gr.Image(label=pairs_label, format="png", interactive=False, elem_id=prefix + "pairs",
                         elem_classes="pixelated")
        anim = gr.Image(label="The path, animated", interactive=False, elem_id=prefix + "animation",
                        elem_classes="pixelated")
    with gr.Row():
        with gr.Column():
            step = gr.Slider(0, DEFAULT_STEPS, value=DEFAULT_STEPS, step=1, label=step_label, elem_id=prefix + "step")
            frame = gr.Image(label=frame_label, format="png", interactive=False, elem_id=prefix + "frame",
                             elem_classes="pixelated")
        with gr.Column():
            plot = gr.Plot(label="Judge's target probability along the path", format="png", elem_id=prefix + "plot")
            numbers = gr.Markdown(label="Numbers", elem_id=prefix + "numbers")
    with gr.Accordion("For scripts: numbers as JSON and the run id", open=False):
        raw = gr.JSON(label="Numbers (JSON)")
        run_id = gr.Textbox(label=run_id_label, interactive=False, elem_id=run_id_elem)
    return Panel(pairs=pairs, animation=anim, step=step, frame=frame, plot=plot, numbers=numbers, raw=raw,
                 run_id=run_id)


@dataclass
class Controls:
    """The inputs on top of the page, shared by the tabs."""

    prior: gr.Dropdown
    target: gr.Dropdown
    samples: gr.Slider
    seed: gr.Number
    steps: gr.Slider

    def request(self) -> list:
        """The inputs of ``/translate``, in its argument order."""
        return [self.prior, self.target, self.samples, self.seed, self.steps]


@dataclass
class TranslateTab:
    """The Translate tab: its button and its results."""

    button: gr.Button
    panel: Panel


@dataclass
class DrawTab:
    """The Draw-your-own tab: the canvas, the upload, its sample count, its button, the digit as read."""

    tab: gr.Tab
    sketch: gr.Sketchpad
    upload: gr.Image
    samples: gr.Slider
    button: gr.Button
    read: gr.Image
    panel: Panel


@dataclass
class ComposeTab:
    """The Compose-a-target tab: the expression and its settings, two buttons, the method line."""

    expression: gr.Textbox
    weight: gr.Slider
    mala_steps: gr.Slider
    sample_button: gr.Button
    train_button: gr.Button
    method: gr.Markdown
    panel: Panel


def _controls() -> Controls:
    priors = prior_choices()
    targets = target_choices(DEFAULT_PRIOR)
    with gr.Row():
        prior = gr.Dropdown(priors, value=DEFAULT_PRIOR, label="Prior (latent generator)", elem_id="prior")
        target = gr.Dropdown(targets, value=targets[0][1], label="Target", elem_id="target",
                             info="Every bridge trained on this prior",
                             allow_custom_value=True)  # API callers may name any bridge: checked in translate
    with gr.Row():
        lo, hi = LIMITS.samples
        samples = gr.Slider(lo, hi, value=DEFAULT_SAMPLES, step=1, label=f"Number of samples ({lo}–{hi})",
                            elem_id="samples")
        seed = gr.Number(value=0, precision=0, minimum=LIMITS.seed[0], maximum=LIMITS.seed[1],
                         label=f"Seed ({LIMITS.seed[0]}–{LIMITS.seed[1]})", elem_id="seed")
        lo, hi = LIMITS.steps
        steps = gr.Slider(lo, hi, value=DEFAULT_STEPS, step=1, label=f"Sampling steps ({lo}–{hi})",
                          info=f"the bridges were trained with {DEFAULT_STEPS}", elem_id="steps")
    return Controls(prior=prior, target=target, samples=samples, seed=seed, steps=steps)


def _translate_tab() -> TranslateTab:
    with gr.Tab("Translate", id="translate"):
        button = gr.Button("Translate", variant="primary", elem_id="translate-button")
        panel = _result_panel("", "Source → translation (one box per sample)", "Source → image at this step",
                              "Scrub the path: step", "Run id (pass it to /frame)", run_id_elem="run-id")
    return TranslateTab(button=button, panel=panel)


def _draw_tab() -> DrawTab:
    with gr.Tab("Draw your own", id="draw") as tab:
        gr.Markdown("Draw a digit (or upload a picture of one). It is cropped and centred like MNIST, "
                    "mapped to a latent code of the prior (VAE: its encoder; GAN: an optimisation, "
                    "about a second) and translated by the chosen bridge several times: the bridge is "
                    "random, so one digit has several translations.")
        with gr.Row():
            sketch = gr.Sketchpad(label="Draw a digit", type="numpy", canvas_size=(280, 280),
                                  fixed_canvas=True, layers=False,
                                  brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                  elem_id="sketch")
            upload = gr.Image(label="…or upload a picture", type="numpy", sources=["upload", "clipboard"],
                              image_mode="RGBA", elem_id="upload")
            with gr.Column():
                lo, hi = LIMITS.draw_samples
                samples = gr.Slider(lo, hi, value=DEFAULT_DRAW_SAMPLES, step=1,
                                    label=f"Translations of your digit ({lo}–{hi})", elem_id="draw-samples")
                button = gr.Button("Translate my digit", variant="primary", elem_id="draw-button")
                read = gr.Image(label="As read (28×28) → its latent's image", format="png",
                                interactive=False, elem_id="read", elem_classes="pixelated")
        panel = _result_panel("draw-", "Your digit's image → translations", "Image at this step",
                              "Scrub the path: step", "Run id (pass it to /drawing_frame)")
    return DrawTab(tab=tab, sketch=sketch, upload=upload, samples=samples, button=button, read=read, panel=panel)


def _compose_tab() -> ComposeTab:
    with gr.Tab("Compose a target", id="compose"):
        gr.Markdown("Write a target as an expression over digits: **and**, **or**, **not**, and "
                    "**without** (a weighted negation, `U_B − w·U_A`), e.g. `even and not 4`, `3 or 8`, "
                    "`(3 or 8) and not 5`, `even without 4`. A target the zoo has a bridge for uses it; "
                    "any other is sampled by MALA on the composed energy, and you can train a bridge for "
                    "it here (about two minutes; kept for later).")
        with gr.Row():
            expression = gr.Textbox(value=compose.DEFAULT_EXPRESSION, label="Target expression",
                                    elem_id="expression")
            weight = gr.Slider(0.0, 1.0, value=compose.DEFAULT_WEIGHT, step=0.05,
                               label="Weight w of 'without'", elem_id="weight")
            lo, hi = compose.MALA_STEPS
            mala_steps = gr.Slider(lo, hi, value=compose.COMPOSE_MALA_STEPS, step=10,
                                   label=f"MALA steps ({lo}–{hi}), when no bridge exists", elem_id="mala-steps")
        with gr.Row():
            sample_button = gr.Button("Sample", variant="primary", elem_id="compose-button")
            train_button = gr.Button("Train a bridge for this target (about 2 minutes)", elem_id="train-button")
        method = gr.Markdown(elem_id="compose-method")
        panel = _result_panel("compose-", "Start → sample (one box per sample)", "Start → image at this frame",
                              "Scrub the path: frame", "Run id (pass it to /compose_frame)")
    return ComposeTab(expression=expression, weight=weight, mala_steps=mala_steps, sample_button=sample_button,
                      train_button=train_button, method=method, panel=panel)


def _wire_frames(panel: Panel, api_name: str) -> None:
    """Moving the step slider shows that step of the panel's run (``/<api_name>(run_id, step)``)."""
    panel.step.input(show_frame, [panel.run_id, panel.step], panel.frame, api_name=api_name, show_progress="hidden",
                     trigger_mode="always_last", concurrency_limit=4, concurrency_id="frames")


def _wire_translate(c: Controls, tab: TranslateTab) -> None:
    c.prior.change(update_targets, c.prior, c.target, api_name="targets", show_progress="hidden")
    tab.button.click(run_translate, c.request(), list(tab.panel.as_tuple()), api_name="translate",
                     concurrency_id="compute", show_progress_on=[tab.panel.pairs])
    _wire_frames(tab.panel, "frame")


def _wire_draw(c: Controls, tab: DrawTab) -> None:
    tab.button.click(run_drawing, [c.prior, c.target, tab.sketch, tab.upload, tab.samples, c.seed, c.steps],
                     [tab.read, *tab.panel.as_tuple()], api_name="translate_drawing", concurrency_id="compute",
                     show_progress_on=[tab.read])
    _wire_frames(tab.panel, "drawing_frame")
    tab.tab.select(None, js=PICK_BRUSH)  # in the browser only: the canvas opens ready to draw


def _wire_compose(c: Controls, tab: ComposeTab) -> None:
    outputs = [tab.method, *tab.panel.as_tuple()]
    tab.sample_button.click(run_compose, [c.prior, tab.expression, tab.weight, c.samples, c.seed, tab.mala_steps],
                            outputs, api_name="compose", concurrency_id="compute",
                            show_progress_on=[tab.panel.pairs])
    tab.train_button.click(run_train_bridge, [c.prior, tab.expression, tab.weight, c.samples, c.seed], outputs,
                           api_name="train_bridge", concurrency_id="training", concurrency_limit=1,
                           show_progress_on=[tab.panel.pairs])
    _wire_frames(tab.panel, "compose_frame")


def build_demo(concurrency_limit: int = 2, max_queue: int = 64) -> gr.Blocks:
    """The app: inputs on top, a Translate tab, a Draw-your-own tab and a Compose tab; queued with
    ``concurrency_limit`` translations at a time and at most ``max_queue`` waiting."""
    # delete_cache: Gradio's copies of the pictures older than an hour are removed every hour
    with gr.Blocks(title="d2e-zoo: data-free translation", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        controls = _controls()
        with gr.Tabs():
            translating = _translate_tab()
            drawing = _draw_tab()
            composing = _compose_tab()
        _wire_translate(controls, translating)
        _wire_draw(controls, drawing)
        _wire_compose(controls, composing)
        # something to look at as soon as the page opens (the same function as /translate)
        demo.load(run_translate, controls.request(), list(translating.panel.as_tuple()), api_visibility="private",
                  concurrency_id="compute", show_progress_on=[translating.panel.pairs])
    demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)
    return demo


def set_threads(concurrency_limit: int, threads=None) -> int:
    """Torch threads per request: the cores shared by the concurrent requests (at least 1)."""
    import os

    n = threads or max(1, (os.cpu_count() or 1) // max(1, concurrency_limit))
    torch.set_num_threads(n)
    return n
