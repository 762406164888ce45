"""Datasets: real MNIST with a fixed, documented train/test split."""

from .fashion_mnist import load_fashion_mnist
from .mnist import MNISTData, load_mnist

__all__ = ["MNISTData", "load_fashion_mnist", "load_mnist"]
