"""N-way K-shot episodes sampled from a class-indexed array: `tf.data` or a Keras `PyDataset`.

An episode is `((support_images, support_labels, query_images), query_labels)`:
`support_images` `[ways * shots, H, W, C]` float32 in [0, 1] (ink = 1),
`support_labels` `[ways * shots]` int32 in `0..ways-1` (class-major order),
`query_images` `[ways * queries, H, W, C]` and `query_labels` `[ways * queries]`.
With `batch_size`, every tensor gets a leading episode axis.

Episode `i` of a seed is the same whichever way it is drawn: `sample_episode`
(TensorFlow ops, for `tf.data`) and `sample_episode_numpy` (numpy, for
`EpisodeDataset`, a `keras.utils.PyDataset` that every Keras backend
trains on) draw the same numbers from the same stateless Philox stream
(`metazoo.stateless_random`). TensorFlow is imported only for `tf.data`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import keras
import numpy as np

from metazoo import stateless_random
from metazoo.checks import check_int
from metazoo.data.omniglot import load_omniglot
from metazoo.seeded_data import SeededDataset, alphabet_groups, default_pipeline

if TYPE_CHECKING:
    import tensorflow as tf


def check_episode_shape(
    num_classes: int,
    drawings_per_class: int,
    ways: int,
    shots: int,
    queries: int,
    where: str = "the data",
) -> None:
    """Raises `ValueError` unless `ways`/`shots`/`queries` fit the data."""
    for name, value in (("ways", ways), ("shots", shots), ("queries", queries)):
        check_int(name, value)
    if ways > num_classes:
        raise ValueError(
            f"ways must be <= the {num_classes} classes in {where}. Received: ways={ways}"
        )
    if shots + queries > drawings_per_class:
        raise ValueError(
            f"shots + queries must be <= the {drawings_per_class} drawings per class in "
            f"{where}. Received: shots={shots}, queries={queries}"
        )


def sample_episode(
    images: tf.Tensor,
    ways: int,
    shots: int,
    queries: int,
    seed: tf.Tensor,
    same_alphabet_fraction: float = 0.0,
    alphabets: tf.Tensor | None = None,
    eligible_alphabets: tf.Tensor | None = None,
) -> tuple[tuple[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """Samples one episode from `images` `[classes, drawings, H, W, C]` (uint8).

    Pure TF and stateless: the same `seed` (shape `[2]`, int) always gives
    the same episode, on any device. With probability
    `same_alphabet_fraction` all `ways` classes come from one alphabet
    (Lake's within-alphabet task), drawn uniformly from
    `eligible_alphabets` (ids with at least `ways` classes); `alphabets`
    gives each class's alphabet id.
    """
    import tensorflow as tf

    classes, drawings = tf.shape(images)[0], tf.shape(images)[1]
    class_seed, draw_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    scores = tf.random.stateless_uniform([classes], class_seed)
    if same_alphabet_fraction > 0:
        # A key of its own: episodes without the option stay exactly as they were.
        alphabet_seed = tf.random.experimental.stateless_fold_in(class_seed, 1)
        coin = tf.random.stateless_uniform([], alphabet_seed)
        pick = tf.random.stateless_uniform(
            [],
            tf.random.experimental.stateless_fold_in(alphabet_seed, 1),
            0,
            tf.shape(eligible_alphabets)[0],
            tf.int32,
        )
        alphabet = tf.gather(eligible_alphabets, pick)
        outside = tf.logical_and(coin < same_alphabet_fraction, alphabets != alphabet)
        scores = tf.where(outside, 2.0 + scores, scores)  # sorted after every member
    chosen = tf.argsort(scores)[:ways]
    draws = tf.argsort(tf.random.stateless_uniform([ways, drawings], draw_seed), axis=1)[
        :, : shots + queries
    ]
    index = tf.stack([tf.broadcast_to(chosen[:, None], tf.shape(draws)), draws], axis=-1)
    picked = tf.cast(tf.gather_nd(images, index), tf.float32) / 255.0
    image_shape = tf.shape(images)[2:]
    support = tf.reshape(picked[:, :shots], tf.concat([[ways * shots], image_shape], 0))
    query = tf.reshape(picked[:, shots:], tf.concat([[ways * queries], image_shape], 0))
    labels = tf.range(ways, dtype=tf.int32)
    support_labels = tf.repeat(labels, shots)
    query_labels = tf.repeat(labels, queries)
    return (support, support_labels, query), query_labels


def sample_episode_numpy(
    images: np.ndarray,
    ways: int,
    shots: int,
    queries: int,
    seed: np.ndarray,
    same_alphabet_fraction: float = 0.0,
    alphabets: np.ndarray | None = None,
    eligible_alphabets: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """`sample_episode` in numpy: the same episode, value for value, for the same `seed`.

    `seed` is an int64 array `[2]`; `images`, `alphabets` and
    `eligible_alphabets` are numpy arrays. Argsorts are stable (the lower
    index first among equal scores), as `tf.argsort`.
    """
    classes, drawings = images.shape[:2]
    class_seed, draw_seed = stateless_random.split(seed, 2)
    scores = stateless_random.uniform([classes], class_seed)
    if same_alphabet_fraction > 0:
        alphabet_seed = stateless_random.fold_in(class_seed, 1)
        coin = stateless_random.uniform([], alphabet_seed)
        pick = stateless_random.uniform(
            [], stateless_random.fold_in(alphabet_seed, 1), 0, len(eligible_alphabets), "int32"
        )
        outside = (coin < np.float32(same_alphabet_fraction)) & (
            alphabets != eligible_alphabets[pick]
        )
        scores = np.where(outside, np.float32(2.0) + scores, scores)
    chosen = np.argsort(scores, kind="stable")[:ways]
    draw_scores = stateless_random.uniform([ways, drawings], draw_seed)
    draws = np.argsort(draw_scores, axis=1, kind="stable")[:, : shots + queries]
    picked = images[chosen[:, None], draws].astype(np.float32) / np.float32(255.0)
    image_shape = images.shape[2:]
    support = picked[:, :shots].reshape((ways * shots, *image_shape))
    query = picked[:, shots:].reshape((ways * queries, *image_shape))
    labels = np.arange(ways, dtype=np.int32)
    return (support, np.repeat(labels, shots), query), np.repeat(labels, queries)


def _episode_tables(shape, ways, shots, queries, batch_size, where, alphabets, fraction):
    """Checks an episode request; `(alphabets, eligible_alphabets)` int32 arrays, or `None`."""
    if len(shape) != 5:
        raise ValueError(
            "images must have shape [classes, drawings, height, width, channels]. "
            f"Received: shape={shape}"
        )
    check_episode_shape(shape[0], shape[1], ways, shots, queries, where)
    check_int("batch_size", batch_size, allow_none=True)
    groups = alphabet_groups(alphabets, shape[0], fraction)
    if groups is None:
        return None
    alphabets, ids, counts = groups
    if counts.max() < ways:
        raise ValueError(
            f"Same-alphabet episodes need an alphabet with at least ways={ways} classes; "
            f"the largest in {where} has {counts.max()}"
        )
    return alphabets.astype(np.int32), ids[counts >= ways].astype(np.int32)


class EpisodeDataset(SeededDataset):
    """Seeded episodes as a `keras.utils.PyDataset`: numpy, on every Keras backend.

    Item `i` is episode `start + i` of `episodes_from_array(..., pipeline="tf.data")`
    with the same arguments, value for value (or, with `batch_size`, those
    episodes `start + i * batch_size ...` stacked on a leading axis).

    Args:
        images: uint8 array `[classes, drawings, H, W, C]`, ink = 255.
        ways: int. Classes per episode.
        shots: int. Labelled examples per class.
        queries: int. Examples per class to classify.
        seed: int. Episode `i` is a pure function of `(seed, i)`.
        batch_size: int. If given, a leading episode axis of this size.
        start: int. Index of the first episode (to resume a training run).
        num_batches: int. Number of items; `None` (default): endless.
        alphabets: int array `[classes]`. Alphabet of each class; needed
            when `same_alphabet_fraction > 0`.
        same_alphabet_fraction: float. Share of episodes drawn within one
            alphabet (see `episodes_from_array`).
        where: str. Name of the data, used in error messages.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Example:
    ```python
    data = np.zeros((10, 20, 28, 28, 1), np.uint8)
    episodes = EpisodeDataset(data, ways=5, shots=1, queries=15, num_batches=100)
    (support, support_labels, query), query_labels = episodes[0]
    model.evaluate(episodes)
    ```
    """

    def __init__(
        self,
        images,
        ways: int,
        shots: int,
        queries: int,
        seed: int = 0,
        batch_size: int | None = None,
        start: int = 0,
        num_batches: int | None = None,
        alphabets=None,
        same_alphabet_fraction: float = 0.0,
        where: str = "the data",
        **kwargs,
    ):
        super().__init__(seed, start, num_batches, **kwargs)
        images = np.asarray(images)
        tables = _episode_tables(
            images.shape, ways, shots, queries, batch_size, where, alphabets,
            same_alphabet_fraction,
        )  # fmt: skip
        self.images = images.astype(np.uint8, copy=False)
        self.ways, self.shots, self.queries = ways, shots, queries
        self.batch_size = batch_size
        self.same_alphabet_fraction = float(same_alphabet_fraction)
        self.alphabets, self.eligible_alphabets = tables or (None, None)

    def episode(self, index: int):
        """Episode `index` of the seed's sequence (counted from 0, not from `start`)."""
        return sample_episode_numpy(
            self.images, self.ways, self.shots, self.queries, self.seed_of(index),
            self.same_alphabet_fraction, self.alphabets, self.eligible_alphabets,
        )  # fmt: skip

    def batch(self, index: int):
        if self.batch_size is None:
            return self.episode(self.start + index)
        first = self.start + index * self.batch_size
        episodes = [self.episode(first + j) for j in range(self.batch_size)]
        return keras.tree.map_structure(lambda *parts: np.stack(parts), *episodes)


def episodes_from_array(
    images,
    ways: int,
    shots: int,
    queries: int,
    seed: int = 0,
    batch_size: int | None = None,
    where: str = "the data",
    start: int = 0,
    alphabets=None,
    same_alphabet_fraction: float = 0.0,
    pipeline: str | None = None,
):
    """Endless seeded episodes from class-indexed images: `tf.data` or an `EpisodeDataset`.

    Args:
        images: uint8 array `[classes, drawings, H, W, C]`, ink = 255.
        ways: int. Classes per episode.
        shots: int. Labelled examples per class (support set).
        queries: int. Examples per class to classify (query set).
        seed: int. Episode `i` is a pure function of `(seed, i)`.
        batch_size: int. If given, episodes are batched along a new leading
            axis (needed to split episodes across replicas of a
            `tf.distribute` strategy).
        where: str. Name of the data, used in error messages.
        start: int. Index of the first episode (to resume a training run).
        alphabets: int array `[classes]`. Alphabet of each class (e.g.
            `alphabet_ids(class_names)`); needed when
            `same_alphabet_fraction > 0`.
        same_alphabet_fraction: float. Share of episodes whose classes all
            come from one alphabet (Lake's within-alphabet task, as hard
            training episodes); the alphabet is drawn uniformly among those
            with at least `ways` classes.
        pipeline: str. `"tf.data"`: a `tf.data.Dataset` (TensorFlow ops);
            `"numpy"`: an endless `EpisodeDataset`, a `keras.utils.PyDataset`
            that needs no TensorFlow. Default: `"tf.data"` when Keras runs on
            TensorFlow, else `"numpy"`. Both give the same episodes.

    Example:
    ```python
    data = np.zeros((10, 20, 28, 28, 1), np.uint8)
    ds = episodes_from_array(data, ways=5, shots=1, queries=15)
    (support, support_labels, query), query_labels = next(iter(ds))
    ```
    """
    if default_pipeline(pipeline) == "numpy":
        return EpisodeDataset(
            images, ways, shots, queries, seed=seed, batch_size=batch_size, start=start,
            alphabets=alphabets, same_alphabet_fraction=same_alphabet_fraction, where=where,
        )  # fmt: skip
    import tensorflow as tf

    tables = _episode_tables(
        tuple(images.shape), ways, shots, queries, batch_size, where, alphabets,
        same_alphabet_fraction,
    )  # fmt: skip
    if tables is not None:
        tables = {"alphabets": tf.constant(tables[0]), "eligible_alphabets": tf.constant(tables[1])}
    images = tf.constant(images, dtype=tf.uint8)
    seed = int(seed)
    fraction = float(same_alphabet_fraction)

    def episode(index):
        return sample_episode(
            images,
            ways,
            shots,
            queries,
            tf.stack([tf.constant(seed, tf.int64), index]),
            fraction,
            **(tables or {}),
        )

    dataset = tf.data.Dataset.counter(int(start)).map(
        episode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def omniglot_episodes(
    split: str = "test",
    ways: int = 5,
    shots: int = 1,
    queries: int = 15,
    protocol: str = "vinyals",
    image_size: int = 28,
    seed: int = 0,
    batch_size: int | None = None,
    data_dir: str | os.PathLike | None = None,
    start: int = 0,
    same_alphabet_fraction: float = 0.0,
    rotations: bool | None = None,
    pipeline: str | None = None,
):
    """Endless seeded Omniglot episodes for a protocol and split.

    Args:
        split: str. `"train"`, `"val"`, `"test"`, `"trainval"` (Vinyals) or
            `"background"`, `"evaluation"` (Lake).
        ways: int. Classes per episode.
        shots: int. Support examples per class.
        queries: int. Query examples per class.
        protocol: str. `"vinyals"` or `"lake"`.
        image_size: int. 28, or 56 or 105 for the Lake protocol.
        seed: int. Same seed, same episodes.
        batch_size: int. Optional leading episode axis.
        data_dir: str. Folder with the official Omniglot zips (default
            `$METAZOO_DATA_DIR`, else downloaded).
        start: int. Index of the first episode.
        same_alphabet_fraction: float. Share of episodes drawn within one
            alphabet (alphabets come from the class names).
        rotations: bool. Rotated characters as extra classes (see
            `load_omniglot`; default: the protocol's own).
        pipeline: str. `"tf.data"` or `"numpy"` (an `EpisodeDataset`); by
            default `"tf.data"` on the TensorFlow backend, else `"numpy"`
            (see `episodes_from_array`). Same episodes either way.

    Example:
    ```python
    episodes = omniglot_episodes("test", ways=5, shots=1, queries=15)
    model.evaluate(episodes, steps=100)  # tf.data: or episodes.take(100)
    ```
    """
    data = load_omniglot(protocol, split, image_size, data_dir, rotations=rotations)
    return episodes_from_array(
        data.images,
        ways,
        shots,
        queries,
        seed=seed,
        batch_size=batch_size,
        where=f"split {split!r} of protocol {protocol!r}",
        start=start,
        alphabets=data.alphabets if same_alphabet_fraction else None,
        same_alphabet_fraction=same_alphabet_fraction,
        pipeline=pipeline,
    )
