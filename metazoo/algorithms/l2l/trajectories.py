"""Optimizee trajectories: their seeds, and the meta-training data that walks them."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from metazoo.algorithms.l2l.optimizees import Optimizee, fold_in


def trajectory_seeds(seed, index) -> tuple:
    """`(param_seed, data_seed)` of optimizee run `index` in the seed stream `seed`.

    Meta-training task `i` of a run with seed `s` is trajectory `(s, i)`;
    evaluation uses other streams, so its optimizees are held out.
    """
    trajectory = ops.stack([ops.cast(seed, "int32"), ops.cast(index, "int32")])
    return fold_in(trajectory, 0), fold_in(trajectory, 1)


def meta_training_data(
    optimizee: Optimizee,
    unroll: int = 20,
    horizon: int = 100,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
):
    """Endless meta-training data for `L2LMetaTrainer.fit`, one element per meta-step.

    Element `k` is a dict: `reset` (True when a fresh optimizee starts),
    `seed` (int32 `[2]`: the optimizee's trajectory `(seed, k // unrolls)`)
    and `batches` (the `unroll + 1` minibatches of optimizee steps
    `j * unroll .. (j + 1) * unroll` of that trajectory, stacked; the last
    is the next element's first). Deterministic, so `start` resumes exactly.
    A `tf.data.Dataset` on TensorFlow; on JAX and PyTorch a
    `keras.utils.PyDataset` of numpy arrays.

    Args:
        optimizee: Optimizee. The task family.
        unroll: int. Optimizee steps per meta-step (T = 20 in the paper).
        horizon: int. Optimizee steps before a fresh optimizee (100).
        seed: int. The seed stream of the meta-training optimizees.
        split: str. Data split the optimizees train on.
        start: int. Index of the first meta-step.
    """
    if unroll < 1 or horizon < unroll or horizon % unroll:
        raise ValueError(
            "horizon must be a positive multiple of unroll. "
            f"Received: unroll={unroll}, horizon={horizon}"
        )
    unrolls = horizon // unroll

    def element(k):
        task = k // unrolls
        _, data_seed = trajectory_seeds(seed, task)
        first = ops.cast((k % unrolls) * unroll, "int32")
        batches = [optimizee.batch(data_seed, first + j, split) for j in range(unroll + 1)]
        stacked = keras.tree.map_structure(lambda *xs: ops.stack(xs), *batches)
        trajectory = ops.stack([ops.convert_to_tensor(seed, "int32"), ops.cast(task, "int32")])
        return {"reset": k % unrolls == 0, "seed": trajectory, "batches": stacked}

    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return (
            tf.data.Dataset.range(start, np.iinfo(np.int64).max)
            .map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(2)
        )
    return _MetaTrainingData(element, start)


class _MetaTrainingData(keras.utils.PyDataset):
    """Elements `start, start + 1, ...` of `element(k)`, as numpy, without end."""

    def __init__(self, element, start: int):
        super().__init__()
        self.element, self.start = element, start

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return keras.tree.map_structure(ops.convert_to_numpy, self.element(self.start + index))
