"""Siamese networks for one-shot image recognition (Koch, Zemel & Salakhutdinov, 2015)."""

from __future__ import annotations

import keras
from keras import ops

from metazoo.algorithms.augmentation import (  # RandomAffine, affine_warp: re-exported
    RandomAffine,  # noqa: F401
    affine_warp,  # noqa: F401
)
from metazoo.algorithms.base import check_images, embed_episode, has_values
from metazoo.algorithms.embedding import EmbeddingClassifier
from metazoo.algorithms.protonet import MISSING_CLASS_LOGIT

EPISODE_REDUCTIONS = ("max", "mean")


def class_scores(pair_scores, support_labels, reduction="max"):
    """Per-class scores of queries from their scores against every support example.

    Args:
        pair_scores: float `[episodes, queries, support]`, e.g. log P(same).
        support_labels: int `[episodes, support]`, class ids in `0..support-1`.
        reduction: str. `"max"` (the best-matching support example, Koch's
            one-shot rule) or `"mean"` over the class's support examples.

    Returns:
        float32 `[episodes, queries, support]`: one column per possible class
        id; columns of ids absent from the support set hold
        `MISSING_CLASS_LOGIT`.
    """
    pair_scores = ops.cast(pair_scores, "float32")
    depth = support_labels.shape[-1] or ops.shape(support_labels)[-1]
    one_hot = ops.one_hot(support_labels, depth, dtype="float32")  # [E, S, K]
    present = (ops.sum(one_hot, axis=1) > 0)[:, None, :]
    if reduction == "max":
        member = one_hot[:, None, :, :] > 0  # [E, 1, S, K]
        masked = ops.where(member, pair_scores[..., None], MISSING_CLASS_LOGIT)
        scores = ops.max(masked, axis=2)
    elif reduction == "mean":
        counts = ops.maximum(ops.sum(one_hot, axis=1), 1.0)[:, None, :]
        scores = ops.einsum("eqs,esk->eqk", pair_scores, one_hot) / counts
    else:
        raise ValueError(f"reduction must be one of {EPISODE_REDUCTIONS}. Received: {reduction!r}")
    return ops.where(present, scores, ops.cast(MISSING_CLASS_LOGIT, "float32"))


@keras.saving.register_keras_serializable(package="metazoo")
class SiameseNetwork(EmbeddingClassifier):
    """Twin towers with shared weights; P(same) from a weighted L1 distance.

    `call((images_a, images_b))` returns P(same class) `[batch, 1]` =
    sigmoid(w . |f(a) - f(b)| + b), where `f` is the backbone; train it with
    `fit` on balanced pairs (`metazoo.pairs`) and binary cross-entropy, the
    `compile()` default. `call((support_images, support_labels,
    query_images))` classifies each query by its support images, with log
    P(same) reduced per class (`"max"`: the most similar support image,
    Koch's one-shot rule), so episodic tools (`evaluate_episodes`, the Lake
    benchmark) score it like any few-shot classifier.

    Args:
        backbone: keras.Model. The tower: images `[n, H, W, C]` -> embeddings `[n, d]`.
        augmentation: `"koch"` (default) for `RandomAffine()`, any Keras
            layer applied to every image in training only (e.g. a
            `keras.Sequential` of `keras.layers.RandomRotation`...), or
            `None`.
        episode_reduction: str. `"max"` or `"mean"` log P(same) over a class's
            support images.
        preprocessing: `None` (default), `"center"` for `CenterInk()` (each
            drawing's ink moved to the middle by whole pixels), or any Keras
            layer; applied to every image, in training and at inference,
            before any augmentation.

    Example:
    ```python
    model = SiameseNetwork(Conv4(image_shape=(28, 28, 1)))
    model.compile()  # Adam 1e-3, binary cross-entropy, accuracy
    model.fit(omniglot_pairs("background", batch_size=128), steps_per_epoch=100)
    model((images_a, images_b))  # P(same) [n, 1]
    ```

    References:
        Koch, Zemel & Salakhutdinov, "Siamese Neural Networks for One-shot
        Image Recognition", ICML Deep Learning Workshop 2015.
    """

    def __init__(
        self,
        backbone: keras.Model,
        augmentation: keras.layers.Layer | str | None = "koch",
        episode_reduction: str = "max",
        preprocessing: keras.layers.Layer | str | None = None,
        **kwargs,
    ):
        super().__init__(backbone, augmentation, preprocessing, **kwargs)
        if episode_reduction not in EPISODE_REDUCTIONS:
            raise ValueError(
                f"episode_reduction must be one of {EPISODE_REDUCTIONS}. "
                f"Received: episode_reduction={episode_reduction!r}"
            )
        self.episode_reduction = episode_reduction
        dim = backbone.output_shape[-1]
        # Starting at minus the mean |difference|, an untrained model already
        # ranks nearer embeddings as more alike (a zero-mean start ranks at random).
        self.head = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.Constant(-1.0 / dim), name="distance_weights"
        )
        self.head.build((None, dim))

    def pair_logits(self, images_a, images_b, training=False):
        """Logits of P(same) `[batch, 1]`; both halves go through the tower as one batch."""
        embeddings = self.embed(ops.concatenate([images_a, images_b], axis=0), training=training)
        a, b = ops.split(embeddings, 2, axis=0)
        return self.head(ops.abs(a - b))

    def episode_logits(self, support, support_labels, query, training=False):
        support_emb, query_emb = embed_episode(self.embed, support, query, training)
        support_emb, query_emb = support_emb[:, None], query_emb[:, :, None]
        logits = self.head(ops.abs(query_emb - support_emb))[..., 0]  # [E, Q, S]
        return class_scores(ops.log_sigmoid(logits), support_labels, self.episode_reduction)

    def call(self, inputs, training=False):
        if isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            return ops.sigmoid(self.pair_logits(inputs[0], inputs[1], training=training))
        return super().call(inputs, training=training)

    def check_inputs(self, inputs) -> None:
        """Eager pairs `(images_a, images_b)` or episodes follow metazoo's conventions."""
        if isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            if has_values(*inputs):
                check_images(inputs[0], "images_a")
                check_images(inputs[1], "images_b")
            return
        super().check_inputs(inputs)

    def serving_signature(self):
        """Input signature of the exported `serve` endpoint: a batch of pairs.

        `(images_a [n, H, W, C] float32, images_b [n, H, W, C] float32)` ->
        P(same) `[n, 1]`.
        """
        import tensorflow as tf  # a SavedModel signature is TensorFlow's, whatever the backend

        spec = (None, *self.image_shape)
        return [
            (
                tf.TensorSpec(spec, tf.float32, name="images_a"),
                tf.TensorSpec(spec, tf.float32, name="images_b"),
            )
        ]

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Configures the model for pairs; `"auto"` picks the defaults.

        Args:
            optimizer: `"auto"` for Adam with learning rate 1e-3.
            loss: `"auto"` for binary cross-entropy on P(same).
            metrics: `"auto"` for accuracy at P(same) = 0.5.
            **kwargs: passed to `keras.Model.compile`.
        """
        if loss == "auto":
            loss = keras.losses.BinaryCrossentropy()
        if metrics == "auto":
            metrics = [keras.metrics.BinaryAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {**super().get_config(), "episode_reduction": self.episode_reduction}
