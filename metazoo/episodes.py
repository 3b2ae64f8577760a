"""N-way K-shot episodes sampled with TensorFlow ops from a class-indexed tensor.

An episode is `((support_images, support_labels, query_images), query_labels)`:
`support_images` `[ways * shots, H, W, C]` float32 in [0, 1] (ink = 1),
`support_labels` `[ways * shots]` int32 in `0..ways-1` (class-major order),
`query_images` `[ways * queries, H, W, C]` and `query_labels` `[ways * queries]`.
With `batch_size`, every tensor gets a leading episode axis.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from metazoo.checks import check_int
from metazoo.data.omniglot import alphabet_counts, load_omniglot


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


def episodes_from_array(
    images: np.ndarray | tf.Tensor,
    ways: int,
    shots: int,
    queries: int,
    seed: int = 0,
    batch_size: int | None = None,
    where: str = "the data",
    start: int = 0,
    alphabets=None,
    same_alphabet_fraction: float = 0.0,
) -> tf.data.Dataset:
    """An endless, seeded `tf.data.Dataset` of episodes from class-indexed images.

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

    Example:
    ```python
    data = np.zeros((10, 20, 28, 28, 1), np.uint8)
    ds = episodes_from_array(data, ways=5, shots=1, queries=15)
    (support, support_labels, query), query_labels = next(iter(ds))
    ```
    """
    shape = tuple(images.shape)
    if len(shape) != 5:
        raise ValueError(
            "images must have shape [classes, drawings, height, width, channels]. "
            f"Received: shape={shape}"
        )
    check_episode_shape(shape[0], shape[1], ways, shots, queries, where)
    if batch_size is not None:
        check_int("batch_size", batch_size)
    tables = {}
    groups = alphabet_counts(alphabets, shape[0], same_alphabet_fraction)
    if groups is not None:
        alphabets, ids, counts = groups
        if counts.max() < ways:
            raise ValueError(
                f"Same-alphabet episodes need an alphabet with at least ways={ways} classes; "
                f"the largest in {where} has {counts.max()}"
            )
        tables = {
            "alphabets": tf.constant(alphabets, tf.int32),
            "eligible_alphabets": tf.constant(ids[counts >= ways], tf.int32),
        }
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
            **tables,
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
) -> tf.data.Dataset:
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

    Example:
    ```python
    episodes = omniglot_episodes("test", ways=5, shots=1, queries=15)
    model.evaluate(episodes.take(100))
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
    )
