"""Neural networks of the zoo, each a diffusers ``ModelMixin`` + ``ConfigMixin`` (so each
has ``save_pretrained`` / ``from_pretrained`` with safetensors weights and a JSON config).

* :class:`MLPGenerator` - latent ``(N, d)`` -> image ``(N, 1, 28, 28)`` in [0, 1] (GAN generator).
* :class:`MLPDiscriminator` - image -> logit (GAN training only, not bundled).
* :class:`MLPVAE` - encoder image -> (mean, log-variance) and decoder latent -> image.
* :class:`ConvGenerator`, :class:`ConvDiscriminator`, :class:`ConvVAE` - the convolutional
  versions (the zoo's generators since version 2).
* :class:`MLPClassifier` - image -> 10 logits; defines the classifier energies.
* :class:`ConvClassifier` - a strided CNN, image -> 10 logits; an energy classifier too.
* :class:`CNNJudge` - a small CNN, image -> 10 logits; used only to evaluate.
* :class:`BridgeDriftModel` - the forward kernel of a trained bridge (drift and log-variance).
"""

from .bridge import BridgeDriftModel
from .classifier import CNNJudge, ConvClassifier, MLPClassifier
from .conv import ConvDiscriminator, ConvGenerator, ConvVAE
from .generator import MLPDiscriminator, MLPGenerator
from .vae import MLPVAE

__all__ = ["BridgeDriftModel", "CNNJudge", "ConvClassifier", "ConvDiscriminator", "ConvGenerator", "ConvVAE",
           "MLPClassifier", "MLPDiscriminator", "MLPGenerator", "MLPVAE"]
