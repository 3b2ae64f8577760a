"""What every episodic few-shot classifier shares: episode inputs, defaults, build."""

from __future__ import annotations

import keras
import numpy as np

from metazoo.backend import has_values, is_tf_dataset
from metazoo.presets import PresetMixin

# A drawing's mean intensity under the ink = 1 convention is about 0.09 on
# Omniglot (at most 0.21 for one image); inverted (ink = 0 on white), 0.91.
INVERTED_MEAN = 0.75


def check_images(images, name: str = "images") -> None:
    """Raises `ValueError` unless `images` follow metazoo's convention.

    Images are float in [0, 1]; single-channel drawings have ink = 1 on a 0
    background. Called on eager inputs only (a traced call has no values).

    Raises:
        ValueError: values outside [0, 1] (e.g. uint8 in 0..255), or
            drawings that look inverted (mean intensity above 0.75).
    """
    values = keras.ops.convert_to_numpy(images)
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if low < -1e-3 or high > 1 + 1e-3:
        hint = " (0..255 pixels? divide by 255)" if high > 1.5 else ""
        raise ValueError(
            f"{name} must be in [0, 1] with ink = 1 on a 0 background{hint}. "
            f"Received: values in [{low:g}, {high:g}], dtype {values.dtype}"
        )
    if values.shape[-1] == 1 and float(values.mean()) > INVERTED_MEAN:
        raise ValueError(
            f"{name} look inverted: metazoo's drawings have ink = 1 on a 0 background "
            f"(pass 1 - images for dark ink on white). Received: mean intensity "
            f"{float(values.mean()):.2f}"
        )


def check_support_labels(support_labels) -> None:
    """Raises `ValueError` unless each episode's support labels are exactly `0..ways-1`.

    `support_labels` is `[episodes, support]`; `ways` is the number of
    distinct labels of an episode. A label outside that range would have no
    column among the logits, and its examples would silently be dropped.
    """
    labels = keras.ops.convert_to_numpy(support_labels)
    for episode, row in enumerate(labels):
        ways = len(np.unique(row))
        if row.min() < 0 or row.max() >= ways:
            where = f" (episode {episode})" if len(labels) > 1 else ""
            raise ValueError(
                f"support_labels must be the class ids 0..ways-1 with every class present; "
                f"this episode has {ways} classes{where}. "
                f"Received: labels {sorted(np.unique(row).tolist())}"
            )


def check_episode(inputs) -> None:
    """Checks an eager episode's values: `check_support_labels` and `check_images`.

    Symbolic inputs (inside `fit` or a traced function) pass unchecked.
    """
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 3 or not has_values(*inputs):
        return
    support, support_labels, query = inputs
    labels = keras.ops.convert_to_numpy(support_labels)
    check_support_labels(labels.reshape((-1, labels.shape[-1])) if labels.ndim else labels)
    check_images(support, "support_images")
    check_images(query, "query_images")


def check_labels_fit_head(inputs, ways: int) -> None:
    """Raises `ValueError` if an eager episode has a support label outside `0..ways-1`.

    For models whose head has `ways` units: such a label would have no logit.
    Symbolic inputs pass unchecked.
    """
    if isinstance(inputs, (tuple, list)) and len(inputs) == 3 and has_values(inputs[1]):
        labels = keras.ops.convert_to_numpy(inputs[1])
        if labels.size and (labels.min() < 0 or labels.max() >= ways):
            raise ValueError(
                f"support_labels must be in 0..{ways - 1} (ways={ways}, the "
                f"head's size). Received: labels in [{labels.min()}, {labels.max()}]"
            )


def unpack_episode(inputs):
    """Returns `(support, support_labels, query, batched)` with a leading episode axis.

    Accepts one episode (`support` of rank 4) or a batch of them (rank 5).
    """
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 3:
        raise ValueError(
            "Episode inputs must be (support_images, support_labels, query_images). "
            f"Received: {type(inputs).__name__} of length "
            f"{len(inputs) if hasattr(inputs, '__len__') else 'n/a'}"
        )
    support, support_labels, query = inputs
    support = keras.ops.convert_to_tensor(support)
    rank = len(support.shape)
    if rank not in (4, 5):
        raise ValueError(
            "support_images must have rank 4 [examples, H, W, C] or 5 "
            f"[episodes, examples, H, W, C]. Received: shape={support.shape}"
        )
    batched = rank == 5
    support_labels = keras.ops.cast(support_labels, "int32")
    query = keras.ops.convert_to_tensor(query)
    if not batched:
        support, support_labels, query = (
            support[None],
            support_labels[None],
            query[None],
        )
    return support, support_labels, query, batched


def embed_episode(embed, support, query, training=False):
    """Embeds support and query images as one batch; returns `[E, S, d]`, `[E, Q, d]`.

    One batch, as in Snell et al., so batch norm sees support and query
    together. `embed` maps images `[n, H, W, C]` to `[n, d]`.
    """
    episodes, num_support, *image_shape = keras.ops.shape(support)
    num_query = keras.ops.shape(query)[1]
    images = keras.ops.concatenate(
        [
            keras.ops.reshape(support, (-1, *image_shape)),
            keras.ops.reshape(query, (-1, *image_shape)),
        ],
        axis=0,
    )
    embeddings = embed(images, training=training)
    dim = embeddings.shape[-1] or keras.ops.shape(embeddings)[-1]
    split = episodes * num_support
    return (
        keras.ops.reshape(embeddings[:split], (episodes, num_support, dim)),
        keras.ops.reshape(embeddings[split:], (episodes, num_query, dim)),
    )


class DatasetFitMixin:
    """`fit` on a `tf.data.Dataset` or `PyDataset` without Keras's warning about `shuffle`.

    metazoo's training data (episodes, pairs, optimizee trajectories) are
    endless seeded datasets, random by construction. Keras's default
    `shuffle=True` cannot apply to a `tf.data` dataset and only makes `fit`
    warn that it ignores it, and it would reorder the batches of a finite
    `keras.utils.PyDataset` (`EpisodeDataset`, `PairDataset`); for both the
    default here is `shuffle=False` (pass `shuffle=True` to have Keras
    shuffle a finite `PyDataset` of your own).
    """

    def fit(self, x=None, y=None, *args, **kwargs):
        # Seeded data, in order: metazoo's episodes, pairs and trajectories.
        if not args and (is_tf_dataset(x) or isinstance(x, keras.utils.PyDataset)):
            kwargs.setdefault("shuffle", False)
        return super().fit(x, y, *args, **kwargs)


class FewShotClassifier(PresetMixin, DatasetFitMixin, keras.Model):
    """Base of the episodic classifiers: `call(episode) -> query logits`.

    Subclasses implement `episode_logits(support, support_labels, query,
    training)` on batched episodes; this class handles single episodes,
    default `compile` arguments (Adam 1e-3, sparse cross-entropy on logits,
    accuracy) and explicit building, so saving always keeps the optimizer.
    """

    def __call__(self, *args, **kwargs):
        # Checked before Keras's __call__, so a user sees the ValueError itself
        # rather than wrapped in Keras's "Exception encountered when calling".
        self.check_inputs(args[0] if args else kwargs.get("inputs"))
        return super().__call__(*args, **kwargs)

    def check_inputs(self, inputs) -> None:
        """Checks eager inputs against metazoo's conventions (see `check_episode`)."""
        check_episode(inputs)

    def episode_logits(self, support, support_labels, query, training=False):
        raise NotImplementedError

    def call(self, inputs, training=False):
        support, support_labels, query, batched = unpack_episode(inputs)
        logits = self.episode_logits(support, support_labels, query, training=training)
        return logits if batched else logits[0]

    def serving_signature(self):
        """Input signature of the exported `serve` endpoint: one episode, any size.

        `(support_images [n_support, H, W, C] float32, support_labels
        [n_support] int32, query_images [n_query, H, W, C] float32)` ->
        query logits `[n_query, n_support]`.
        """
        import tensorflow as tf  # a SavedModel signature is TensorFlow's, whatever the backend

        image_shape = tuple(self.image_shape)
        return [
            (
                tf.TensorSpec((None, *image_shape), tf.float32, name="support_images"),
                tf.TensorSpec((None,), tf.int32, name="support_labels"),
                tf.TensorSpec((None, *image_shape), tf.float32, name="query_images"),
            )
        ]

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Configures the model; `"auto"` picks the few-shot defaults.

        Args:
            optimizer: `"auto"` for Adam with learning rate 1e-3.
            loss: `"auto"` for sparse categorical cross-entropy on logits.
            metrics: `"auto"` for accuracy.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for models with a custom compile(); without it a
        # loaded .keras model would come back uncompiled, optimizer state lost.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)
