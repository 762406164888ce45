"""The functions behind the Gradio app (``python app.py``), importable without Gradio.

One concept per module:

* :mod:`.choices`: what can be picked (priors, their bridge targets), the input limits and
  their validation (:class:`InputError` carries the message shown in the page);
* :mod:`.models`: loaded pipelines, priors and the judge, cached once per process;
* :mod:`.translate`: a seeded translation with its trajectory, decoded frames, the judge's
  target probability along the path and the numbers (:class:`Translation`), cached by run id;
* :mod:`.render`: pictures of a translation: aligned pairs, trajectory frames, the GIF, the
  probability plot, the numbers as Markdown;
* :mod:`.drawing`: a drawing or an uploaded image -> a 28x28 MNIST-style digit -> a latent
  (VAE encoder, or GAN inversion by optimisation) -> its translation;
* :mod:`.deadline`: the wall-clock deadline of one request's sampling run;
* :mod:`.tempfiles`: the process's temporary folder (GIFs, Gradio's cache), its size bound;
* :mod:`.ui`: the Gradio Blocks (the only module that imports Gradio);
* :mod:`.screenshot`: ``python -m d2e_zoo.app.screenshot docs/images/app.png``, the docs' picture.
"""

from .choices import LIMITS, InputError, Limits, prior_choices, target_choices, validate_request
from .translate import Translation, translate

__all__ = ["LIMITS", "InputError", "Limits", "Translation", "prior_choices", "target_choices", "translate",
           "validate_request"]
