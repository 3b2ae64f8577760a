"""Data sets in their official formats: Omniglot (TFDS builder) and MNIST (IDX)."""

from metazoo.data._files import fetch, resolve_data_dir
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
    "fetch",
    "load_mnist",
    "load_omniglot",
    "omniglot_builder",
    "resolve_data_dir",
    "vinyals_split",
]
