"""Balanced same/different image pairs for verification training (Siamese networks).

A batch is `((images_a, images_b), same)`: `images_a`, `images_b`
`[batch_size, H, W, C]` float32 in [0, 1] (ink = 1), and `same`
`[batch_size]` float32, 1 for two drawings of one class, 0 otherwise,
alternating 1, 0, 1, 0, ... so every batch is exactly balanced. Batch `i` is
a pure function of `(seed, i)`, sampled with stateless TensorFlow ops
(`sample_pairs`, for `tf.data`) or the same draws in numpy
(`sample_pairs_numpy`, for `PairDataset`, a `keras.utils.PyDataset`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from metazoo import stateless_random
from metazoo.checks import check_int
from metazoo.data.omniglot import alphabet_ids, load_omniglot
from metazoo.seeded_data import SeededDataset, alphabet_groups, default_pipeline

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "PairDataset",
    "alphabet_ids",
    "omniglot_pairs",
    "pairs_from_array",
    "sample_pairs",
    "sample_pairs_numpy",
]


def sample_pairs(
    images: tf.Tensor,
    batch_size: int,
    seed: tf.Tensor,
    same_alphabet_fraction: float = 0.0,
    alphabet_order: tf.Tensor | None = None,
    alphabet_start: tf.Tensor | None = None,
    alphabet_size: tf.Tensor | None = None,
) -> tuple[tuple[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Samples one balanced batch of pairs from `images` `[classes, drawings, H, W, C]` (uint8).

    Same pairs: a class, two different drawings. Different pairs: two
    different classes, any drawings; with probability
    `same_alphabet_fraction` the second class is from the first one's
    alphabet, described by `alphabet_order` (class ids grouped by alphabet)
    and, per class, the `alphabet_start` of its group in that order and the
    `alphabet_size` of its alphabet. Stateless: the same `seed` (shape
    `[2]`) gives the same batch.
    """
    import tensorflow as tf

    half = batch_size // 2
    classes, drawings = tf.shape(images)[0], tf.shape(images)[1]
    keys = tf.unstack(tf.random.experimental.stateless_split(seed, num=8))

    def uniform_int(key, low, high):
        return tf.random.stateless_uniform([half], key, low, high, dtype=tf.int32)

    same_class = uniform_int(keys[0], 0, classes)
    draw_a = uniform_int(keys[1], 0, drawings)
    # Adding 1..drawings-1 modulo drawings always gives another drawing.
    draw_b = (draw_a + uniform_int(keys[2], 1, drawings)) % drawings
    class_a = uniform_int(keys[3], 0, classes)
    class_b = (class_a + uniform_int(keys[4], 1, classes)) % classes
    if same_alphabet_fraction > 0:
        start = tf.gather(alphabet_start, class_a)
        size = tf.gather(alphabet_size, class_a)
        position = tf.argsort(alphabet_order)  # where each class sits in the order
        offset = 1 + tf.cast(
            tf.random.stateless_uniform([half], keys[5]) * tf.cast(size - 1, tf.float32),
            tf.int32,
        )
        offset = tf.minimum(offset, size - 1)
        local = (tf.gather(position, class_a) - start + offset) % size
        hard = tf.gather(alphabet_order, start + local)
        use_hard = tf.random.stateless_uniform([half], keys[6]) < same_alphabet_fraction
        class_b = tf.where(use_hard, hard, class_b)
    neg_draw_a = uniform_int(keys[7], 0, drawings)
    neg_draw_b = tf.random.stateless_uniform(
        [half], tf.random.experimental.stateless_fold_in(keys[7], 1), 0, drawings, tf.int32
    )

    def pick(cls, draw):
        return tf.cast(tf.gather_nd(images, tf.stack([cls, draw], axis=-1)), tf.float32) / 255.0

    def interleave(same, different):
        return tf.reshape(
            tf.stack([same, different], axis=1), tf.concat([[-1], tf.shape(same)[1:]], 0)
        )

    images_a = interleave(pick(same_class, draw_a), pick(class_a, neg_draw_a))
    images_b = interleave(pick(same_class, draw_b), pick(class_b, neg_draw_b))
    same = tf.tile(tf.constant([1.0, 0.0]), [half])
    return (images_a, images_b), same


def sample_pairs_numpy(
    images: np.ndarray,
    batch_size: int,
    seed: np.ndarray,
    same_alphabet_fraction: float = 0.0,
    alphabet_order: np.ndarray | None = None,
    alphabet_start: np.ndarray | None = None,
    alphabet_size: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """`sample_pairs` in numpy: the same batch, value for value, for the same int64 `seed`."""
    half = batch_size // 2
    classes, drawings = images.shape[:2]
    keys = stateless_random.split(seed, 8)

    def uniform_int(key, low, high):
        return stateless_random.uniform([half], key, low, high, "int32")

    same_class = uniform_int(keys[0], 0, classes)
    draw_a = uniform_int(keys[1], 0, drawings)
    draw_b = (draw_a + uniform_int(keys[2], 1, drawings)) % drawings
    class_a = uniform_int(keys[3], 0, classes)
    class_b = (class_a + uniform_int(keys[4], 1, classes)) % classes
    if same_alphabet_fraction > 0:
        start = alphabet_start[class_a]
        size = alphabet_size[class_a]
        position = np.argsort(alphabet_order, kind="stable")
        scaled = stateless_random.uniform([half], keys[5]) * (size - 1).astype(np.float32)
        offset = np.minimum(1 + scaled.astype(np.int32), size - 1)
        local = (position[class_a] - start + offset) % size
        hard = alphabet_order[start + local]
        use_hard = stateless_random.uniform([half], keys[6]) < np.float32(same_alphabet_fraction)
        class_b = np.where(use_hard, hard, class_b).astype(np.int32)
    neg_draw_a = uniform_int(keys[7], 0, drawings)
    neg_draw_b = uniform_int(stateless_random.fold_in(keys[7], 1), 0, drawings)

    def pick(cls, draw):
        return images[cls, draw].astype(np.float32) / np.float32(255.0)

    def interleave(same, different):
        return np.stack([same, different], axis=1).reshape((-1, *same.shape[1:]))

    images_a = interleave(pick(same_class, draw_a), pick(class_a, neg_draw_a))
    images_b = interleave(pick(same_class, draw_b), pick(class_b, neg_draw_b))
    same = np.tile(np.array([1.0, 0.0], np.float32), half)
    return (images_a, images_b), same


def _pair_tables(shape, batch_size, seed, start, where, alphabets, fraction) -> dict:
    """Checks a pair request; the same-alphabet tables (int32 arrays), or `{}`."""
    if len(shape) != 5:
        raise ValueError(
            "images must have shape [classes, drawings, height, width, channels]. "
            f"Received: shape={shape}"
        )
    if shape[0] < 2 or shape[1] < 2:
        raise ValueError(
            f"Pairs need at least 2 classes and 2 drawings per class in {where}. "
            f"Received: shape={shape}"
        )
    check_int("batch_size", batch_size, minimum=2)
    if batch_size % 2:
        raise ValueError(
            "batch_size must be even (half same, half different pairs). "
            f"Received: batch_size={batch_size}"
        )
    check_int("start", start, minimum=0)
    check_int("seed", seed, minimum=0)
    groups = alphabet_groups(alphabets, shape[0], fraction)
    if groups is None:
        return {}
    alphabets, names, counts = groups
    if counts.min() < 2:
        raise ValueError(
            "Same-alphabet negatives need at least 2 classes in every alphabet. "
            f"Received: alphabet(s) {names[counts < 2].tolist()} with 1 class in {where}"
        )
    order = np.argsort(alphabets, kind="stable")
    first = {a: int(np.searchsorted(alphabets[order], a)) for a in names}
    size = dict(zip(names.tolist(), counts.tolist(), strict=True))
    return {
        "alphabet_order": order.astype(np.int32),
        "alphabet_start": np.array([first[a] for a in alphabets], np.int32),
        "alphabet_size": np.array([size[a] for a in alphabets.tolist()], np.int32),
    }


class PairDataset(SeededDataset):
    """Seeded balanced pair batches as a `keras.utils.PyDataset`: numpy, on every Keras backend.

    Item `i` is batch `start + i` of `pairs_from_array(..., pipeline="tf.data")`
    with the same arguments, value for value.

    Args:
        images: uint8 array `[classes, drawings, H, W, C]`, ink = 255.
        batch_size: int. Pairs per batch (even: half same, half different).
        seed: int. Batch `i` is a pure function of `(seed, i)`.
        alphabets: int array `[classes]`. Alphabet of each class; needed
            when `same_alphabet_fraction > 0`.
        same_alphabet_fraction: float. Share of the different pairs drawn
            within the first class's alphabet (see `pairs_from_array`).
        start: int. Index of the first batch (to resume a training run).
        num_batches: int. Number of batches; `None` (default): endless.
        where: str. Name of the data, used in error messages.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Example:
    ```python
    data = np.zeros((10, 20, 28, 28, 1), np.uint8)
    (images_a, images_b), same = PairDataset(data, batch_size=8)[0]
    ```
    """

    def __init__(
        self,
        images,
        batch_size: int = 128,
        seed: int = 0,
        alphabets=None,
        same_alphabet_fraction: float = 0.0,
        start: int = 0,
        num_batches: int | None = None,
        where: str = "the data",
        **kwargs,
    ):
        images = np.asarray(images)
        self.tables = _pair_tables(
            images.shape, batch_size, seed, start, where, alphabets, same_alphabet_fraction
        )
        super().__init__(seed, start, num_batches, **kwargs)
        self.images = images.astype(np.uint8, copy=False)
        self.batch_size = batch_size
        self.same_alphabet_fraction = float(same_alphabet_fraction)

    def batch(self, index: int):
        seed = self.seed_of(self.start + index)
        return sample_pairs_numpy(
            self.images, self.batch_size, seed, self.same_alphabet_fraction, **self.tables
        )


def pairs_from_array(
    images,
    batch_size: int = 128,
    seed: int = 0,
    alphabets=None,
    same_alphabet_fraction: float = 0.0,
    start: int = 0,
    where: str = "the data",
    pipeline: str | None = None,
):
    """Endless seeded balanced pair batches from class-indexed images: `tf.data` or a `PairDataset`.

    Args:
        images: uint8 array `[classes, drawings, H, W, C]`, ink = 255.
        batch_size: int. Pairs per batch (even: half same, half different).
        seed: int. Batch `i` is a pure function of `(seed, i)`.
        alphabets: int array `[classes]`. Alphabet of each class (e.g.
            `alphabet_ids(class_names)`); needed when
            `same_alphabet_fraction > 0`.
        same_alphabet_fraction: float. Share of the different pairs whose
            second class comes from the first one's alphabet ("hard"
            negatives, as in Lake's within-alphabet task); the rest pair two
            classes drawn uniformly.
        start: int. Index of the first batch (to resume a training run).
        where: str. Name of the data, used in error messages.
        pipeline: str. `"tf.data"`: a `tf.data.Dataset`; `"numpy"`: an
            endless `PairDataset` (a `keras.utils.PyDataset`, no
            TensorFlow needed). Default: `"tf.data"` when Keras runs on
            TensorFlow, else `"numpy"`. Both give the same batches.

    Example:
    ```python
    data = np.zeros((10, 20, 28, 28, 1), np.uint8)
    (images_a, images_b), same = next(iter(pairs_from_array(data, batch_size=8)))
    same  # [1, 0, 1, 0, 1, 0, 1, 0]
    ```
    """
    if default_pipeline(pipeline) == "numpy":
        return PairDataset(
            images, batch_size, seed=seed, alphabets=alphabets, start=start, where=where,
            same_alphabet_fraction=same_alphabet_fraction,
        )  # fmt: skip
    import tensorflow as tf

    tables = _pair_tables(
        tuple(images.shape), batch_size, seed, start, where, alphabets, same_alphabet_fraction
    )
    tables = {name: tf.constant(table) for name, table in tables.items()}
    images = tf.constant(images, dtype=tf.uint8)
    seed = int(seed)
    fraction = float(same_alphabet_fraction)

    def batch(index):
        return sample_pairs(
            images,
            batch_size,
            tf.stack([tf.constant(seed, tf.int64), index]),
            fraction,
            **tables,
        )

    dataset = tf.data.Dataset.counter(int(start)).map(
        batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def omniglot_pairs(
    split: str = "background",
    batch_size: int = 128,
    protocol: str = "lake",
    image_size: int = 28,
    seed: int = 0,
    same_alphabet_fraction: float = 0.0,
    data_dir: str | os.PathLike | None = None,
    start: int = 0,
    rotations: bool | None = None,
    pipeline: str | None = None,
):
    """Endless seeded batches of balanced Omniglot pairs from one split.

    Args:
        split: str. `"background"` (train) or `"evaluation"` for the Lake
            protocol; `"train"`, `"val"`, `"test"`, `"trainval"` for Vinyals.
        batch_size: int. Pairs per batch, even.
        protocol: str. `"lake"` or `"vinyals"`.
        image_size: int. 28, or 56 or 105 for the Lake protocol.
        seed: int. Same seed, same pairs.
        same_alphabet_fraction: float. Share of different pairs drawn within
            one alphabet (alphabets come from the class names).
        data_dir: str. Folder with the official Omniglot zips.
        start: int. Index of the first batch.
        rotations: bool. Lake protocol: each character rotated by
            0/90/180/270 degrees is four classes (a rotated copy is another
            class, so it can be a different pair's second image; it stays in
            its character's alphabet for the hard negatives). `None` keeps
            the protocol's default (`load_omniglot`): Vinyals yes, Lake no.
        pipeline: str. `"tf.data"` or `"numpy"` (a `PairDataset`); by
            default `"tf.data"` on the TensorFlow backend, else `"numpy"`.

    Example:
    ```python
    pairs = omniglot_pairs("background", batch_size=128, same_alphabet_fraction=0.5)
    model.fit(pairs, steps_per_epoch=500, epochs=10)
    ```
    """
    data = load_omniglot(protocol, split, image_size, data_dir, rotations=rotations)
    return pairs_from_array(
        data.images,
        batch_size,
        seed=seed,
        alphabets=alphabet_ids(data.class_names),
        same_alphabet_fraction=same_alphabet_fraction,
        start=start,
        where=f"split {split!r} of protocol {protocol!r}",
        pipeline=pipeline,
    )
