"""Data sets in their official formats, read with numpy: Omniglot (zips) and MNIST (IDX).

Nothing here imports TensorFlow. The TFDS builder of Omniglot,
`MetazooOmniglot` (and `omniglot_builder`), is in `metazoo.data.omniglot_tfds`;
`from metazoo.data import MetazooOmniglot` still works and imports TFDS then.
"""

from metazoo.data._files import fetch, resolve_data_dir
from metazoo.data.mnist import load_mnist
from metazoo.data.omniglot import ClassImages, load_omniglot, vinyals_split

__all__ = [
    "ClassImages",
    "fetch",
    "load_mnist",
    "load_omniglot",
    "resolve_data_dir",
    "vinyals_split",
]

_TFDS_NAMES = ("MetazooOmniglot", "omniglot_builder")


def __getattr__(name: str):
    if name in _TFDS_NAMES:
        from metazoo.data import omniglot_tfds

        return getattr(omniglot_tfds, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
