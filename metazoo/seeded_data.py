"""What the episode and pair samplers share: the choice of pipeline and `SeededDataset`.

`tf.data` on TensorFlow, a `keras.utils.PyDataset` of numpy arrays
elsewhere; both draw the same numbers (see `metazoo.stateless_random`).
"""

from __future__ import annotations

import operator

import keras
import numpy as np

from metazoo.checks import check_int
from metazoo.data.omniglot import alphabet_counts

PIPELINES = ("tf.data", "numpy")


def default_pipeline(pipeline: str | None) -> str:
    """`pipeline` checked; by default `"tf.data"` when Keras runs on TensorFlow, else `"numpy"`.

    Both give the same episodes (pairs) for the same seed; `"numpy"` needs
    no TensorFlow and feeds `fit` on every backend.
    """
    if pipeline is None:
        return "tf.data" if keras.config.backend() == "tensorflow" else "numpy"
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {PIPELINES}. Received: pipeline={pipeline!r}")
    return pipeline


def alphabet_groups(alphabets, num_classes: int, same_alphabet_fraction: float):
    """`metazoo.data.omniglot.alphabet_counts` (`None` for a fraction of 0, else checked groups)."""
    if type(same_alphabet_fraction) in (int, float) and same_alphabet_fraction == 0:
        return None
    return alphabet_counts(alphabets, num_classes, same_alphabet_fraction)


class SeededDataset(keras.utils.PyDataset):
    """Base of `EpisodeDataset` and `PairDataset`: batch `i` is a function of `(seed, start + i)`.

    Endless unless `num_batches` is given: Keras 3 reads an endless
    `PyDataset` from `num_batches` being `None`, and then needs
    `steps_per_epoch` in `fit` and `steps` in `evaluate` and `predict`.
    Across the epochs of one `fit` call with `steps_per_epoch`, Keras goes
    on with the next batches, as with a `tf.data` dataset.
    Subclasses implement `batch(index)`.
    """

    def __init__(self, seed: int, start: int, num_batches: int | None, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.start = check_int("start", start, minimum=0)
        self._num_batches = check_int("num_batches", num_batches, allow_none=True)

    @property
    def num_batches(self) -> int | None:
        """Number of batches, or `None` for an endless dataset."""
        return self._num_batches

    def seed_of(self, index: int) -> np.ndarray:
        """The `[2]` int64 seed of item `index` (counted from 0, not from `start`)."""
        return np.array([self.seed, index], np.int64)

    def batch(self, index: int):
        raise NotImplementedError

    def __getitem__(self, index):
        index = operator.index(index)
        if index < 0 or (self._num_batches is not None and index >= self._num_batches):
            raise IndexError(
                f"Batch index out of range: the dataset has {self._num_batches or 'endless'} "
                f"batches. Received: index={index}"
            )
        return self.batch(index)
