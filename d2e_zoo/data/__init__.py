"""Datasets: real MNIST with a fixed, documented train/test split."""

from .mnist import MNISTData, load_mnist

__all__ = ["MNISTData", "load_mnist"]
