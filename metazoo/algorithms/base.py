"""What every episodic few-shot classifier shares: episode inputs, defaults, build."""

from __future__ import annotations

import keras
import tensorflow as tf


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
    support = tf.convert_to_tensor(support)
    rank = support.shape.rank
    if rank not in (4, 5):
        raise ValueError(
            "support_images must have rank 4 [examples, H, W, C] or 5 "
            f"[episodes, examples, H, W, C]. Received: shape={support.shape}"
        )
    batched = rank == 5
    support_labels = tf.cast(support_labels, tf.int32)
    query = tf.convert_to_tensor(query)
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
    image_shape = tf.shape(support)[2:]
    episodes = tf.shape(support)[0]
    num_support, num_query = tf.shape(support)[1], tf.shape(query)[1]
    images = tf.concat(
        [
            tf.reshape(support, tf.concat([[-1], image_shape], 0)),
            tf.reshape(query, tf.concat([[-1], image_shape], 0)),
        ],
        axis=0,
    )
    embeddings = embed(images, training=training)
    dim = embeddings.shape[-1] or tf.shape(embeddings)[-1]
    split = episodes * num_support
    return (
        tf.reshape(embeddings[:split], [episodes, num_support, dim]),
        tf.reshape(embeddings[split:], [episodes, num_query, dim]),
    )


class FewShotClassifier(keras.Model):
    """Base of the episodic classifiers: `call(episode) -> query logits`.

    Subclasses implement `episode_logits(support, support_labels, query,
    training)` on batched episodes; this class handles single episodes,
    default `compile` arguments (Adam 1e-3, sparse cross-entropy on logits,
    accuracy) and explicit building, so saving always keeps the optimizer.
    """

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
