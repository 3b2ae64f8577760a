"""Data sets in their official formats: Omniglot (TFDS builder) and MNIST (IDX)."""

from metazoo.data.mnist import load_mnist
from metazoo.data.omniglot import (
    ClassImages,
    MetazooOmniglot,
    load_omniglot,
    omniglot_builder,
    vinyals_split,
)

__all__ = [
    "ClassImages",
    "MetazooOmniglot",
    "load_mnist",
    "load_omniglot",
    "omniglot_builder",
    "vinyals_split",
]
