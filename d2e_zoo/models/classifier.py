"""Image classifiers: the MLP and the strided CNN whose softmax can define the energies, and the
CNN judge, used only to evaluate."""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .common import CLASSES, DROPOUT, IMAGE_PIXELS, WIDTH, WIDTHS, Limit, RangeCheckedConfig, check_images, mlp



class MLPClassifier(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """``(N, 1, 28, 28)`` in [0, 1] -> ``(N, 10)`` logits. Smooth (SiLU) so that the energy
    ``-log p(C | G(z))`` has well-behaved gradients for Langevin and the bridge."""

    CONFIG_LIMITS = {"hidden": WIDTHS, "dropout": DROPOUT, "num_classes": CLASSES}

    @register_to_config
    def __init__(self, hidden: tuple = (512, 256), dropout: float = 0.2, num_classes: int = 10):
        self.check_config({"hidden": hidden, "dropout": dropout, "num_classes": num_classes})
        super().__init__()
        self.net = mlp([IMAGE_PIXELS, *hidden, num_classes], activation=nn.SiLU, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, type(self).__name__)
        return self.net(x.reshape(-1, IMAGE_PIXELS) * 2 - 1)


class ConvClassifier(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """``(N, 1, 28, 28)`` in [0, 1] -> ``(N, 10)`` logits: stride-2 5x5 convolutions with SiLU
    (28 -> 14 -> 7 -> 4 pixels for three layers), global average pooling and one linear layer.

    An energy classifier like :class:`MLPClassifier` (smooth, so that ``-log p(C | G(z))`` has
    well-behaved gradients), but one that sees strokes as local shapes, as people and
    :class:`CNNJudge` do. Its architecture is not the judge's: no max-pooling, no ReLU, no
    fully connected hidden layer."""

    CONFIG_LIMITS = {"channels": Limit(1, 1024, length=(1, 4)), "dropout": DROPOUT, "num_classes": CLASSES}

    @register_to_config
    def __init__(self, channels: tuple = (32, 64, 128), dropout: float = 0.2, num_classes: int = 10):
        self.check_config({"channels": channels, "dropout": dropout, "num_classes": num_classes})
        super().__init__()
        layers, width = [], 1
        for c in channels:
            layers += [nn.Conv2d(width, c, 5, stride=2, padding=2), nn.SiLU()]
            width = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, type(self).__name__)
        return self.head(self.features(x * 2 - 1))


class CNNJudge(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """A small CNN ``(N, 1, 28, 28) -> (N, 10)`` logits: 3x3 convolutions with ReLU and
    max-pooling, then a fully connected hidden layer; a different architecture and seed from
    the energy classifiers (:class:`MLPClassifier`, :class:`ConvClassifier`), used only to
    evaluate, never as an energy."""

    CONFIG_LIMITS = {"channels": Limit(1, 1024, length=(2, 2)), "hidden": WIDTH, "dropout": DROPOUT,
                     "num_classes": CLASSES}

    @register_to_config
    def __init__(self, channels: tuple = (32, 64), hidden: int = 128, dropout: float = 0.3, num_classes: int = 10):
        self.check_config({"channels": channels, "hidden": hidden, "dropout": dropout, "num_classes": num_classes})
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 14x14
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 7x7
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c2 * 49, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, type(self).__name__)
        return self.head(self.features(x * 2 - 1))

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations ``(N, hidden)`` (after the ReLU, dropout off in
        eval mode): the feature space of the zoo's Frechet distance."""
        x = check_images(x, type(self).__name__)
        return self.head[:-2](self.features(x * 2 - 1))
