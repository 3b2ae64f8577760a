"""Siamese networks for one-shot image recognition (Koch, Zemel & Salakhutdinov, 2015)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from metazoo.algorithms.base import FewShotClassifier, embed_episode
from metazoo.algorithms.protonet import MISSING_CLASS_LOGIT

EPISODE_REDUCTIONS = ("max", "mean")


def affine_warp(images, matrices, offsets):
    """Resamples `images` bilinearly at `matrices @ p + offsets` for every output pixel `p`.

    Pixel coordinates are centred on the image centre, and points outside
    the image read 0 (the background in metazoo's ink = 1 convention). Pure
    TF gathers, so it compiles with XLA (Keras' own `RandomRotation` and
    friends use an op that XLA lacks).

    Args:
        images: float `[batch, height, width, channels]`.
        matrices: float `[batch, 2, 2]`, acting on `(x, y)` = (column, row).
        offsets: float `[batch, 2]`, in pixels.
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    h, w = tf.cast(height, images.dtype), tf.cast(width, images.dtype)
    ys, xs = tf.meshgrid(
        tf.range(h, dtype=images.dtype) - (h - 1) / 2,
        tf.range(w, dtype=images.dtype) - (w - 1) / 2,
        indexing="ij",
    )
    grid = tf.stack([tf.reshape(xs, [-1]), tf.reshape(ys, [-1])])  # [2, H*W]
    source = tf.matmul(tf.cast(matrices, images.dtype), grid)
    source += tf.cast(offsets, images.dtype)[:, :, None]
    # One pixel of zero padding: every corner that falls outside reads 0.
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    x = tf.reshape(source[:, 0], [-1, height, width]) + (w - 1) / 2 + 1
    y = tf.reshape(source[:, 1], [-1, height, width]) + (h - 1) / 2 + 1
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]

    def corner(yy, xx):
        yy = tf.clip_by_value(tf.cast(yy, tf.int32), 0, height + 1)
        xx = tf.clip_by_value(tf.cast(xx, tf.int32), 0, width + 1)
        return tf.gather_nd(padded, tf.stack([yy, xx], axis=-1), batch_dims=1)

    top = corner(y0, x0) * (1 - wx) + corner(y0, x0 + 1) * wx
    bottom = corner(y0 + 1, x0) * (1 - wx) + corner(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


@keras.saving.register_keras_serializable(package="metazoo")
class RandomAffine(keras.layers.Layer):
    """Koch et al.'s random affine distortions; active only when `training=True`.

    Each image gets its own transform, made of a rotation, a shear, a
    per-axis scale and a translation; each of the four is switched on with
    probability `probability` (Koch et al. sample every component with
    probability 0.5). The transform is applied in one bilinear resampling,
    and maps output pixels to input pixels, with areas from outside the
    image filled with 0 (background when ink = 1).

    Args:
        rotation: float. Largest rotation in degrees (Koch: 10).
        shear: float. Largest shear per axis (Koch: 0.3).
        scale: float. Largest relative change of scale per axis (Koch: 0.2,
            i.e. scales in [0.8, 1.2]).
        translation: float. Largest shift per axis as a fraction of the image
            size (Koch: 2 pixels of 105, about 0.02).
        probability: float. Chance that each component is applied.
        seed: int. Seed of the layer's random stream.

    Example:
    ```python
    distort = RandomAffine()
    distorted = distort(images, training=True)  # images [n, H, W, 1], ink = 1
    ```

    References:
        Koch, Zemel & Salakhutdinov, "Siamese Neural Networks for One-shot
        Image Recognition", ICML Deep Learning Workshop 2015.
    """

    def __init__(
        self,
        rotation: float = 10.0,
        shear: float = 0.3,
        scale: float = 0.2,
        translation: float = 0.02,
        probability: float = 0.5,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("rotation", rotation),
            ("shear", shear),
            ("scale", scale),
            ("translation", translation),
        ):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
        if scale >= 1:
            raise ValueError(
                f"scale must be < 1 (scales in [1 - scale, 1 + scale]). Received: scale={scale}"
            )
        if not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise ValueError(
                f"probability must be in [0, 1]. Received: probability={probability!r}"
            )
        self.rotation = float(rotation)
        self.shear = float(shear)
        self.scale = float(scale)
        self.translation = float(translation)
        self.probability = float(probability)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def random_transforms(self, batch, image_size):
        """Samples `(matrices [batch, 2, 2], offsets [batch, 2])` for `batch` images."""
        seed = self.seed_generator.next()
        draws = tf.random.stateless_uniform([batch, 7], seed, minval=-1.0, maxval=1.0)
        on = tf.cast(
            tf.random.stateless_uniform([batch, 4], seed + 1) < self.probability, tf.float32
        )
        angle = draws[:, 0] * math.radians(self.rotation) * on[:, 0]
        shear_x, shear_y = (
            draws[:, 1] * self.shear * on[:, 1],
            draws[:, 2] * self.shear * on[:, 1],
        )
        scale_x = 1 + draws[:, 3] * self.scale * on[:, 2]
        scale_y = 1 + draws[:, 4] * self.scale * on[:, 2]
        cos, sin = tf.cos(angle), tf.sin(angle)
        rotate = tf.reshape(tf.stack([cos, -sin, sin, cos], -1), [-1, 2, 2])
        ones = tf.ones_like(shear_x)
        shear = tf.reshape(tf.stack([ones, shear_x, shear_y, ones], -1), [-1, 2, 2])
        zeros = tf.zeros_like(scale_x)
        scale = tf.reshape(tf.stack([scale_x, zeros, zeros, scale_y], -1), [-1, 2, 2])
        offsets = draws[:, 5:7] * self.translation * image_size * on[:, 3:4]
        return rotate @ shear @ scale, offsets

    def call(self, images, training=False):
        if not training:
            return images
        images = tf.convert_to_tensor(images)
        shape = tf.shape(images)
        size = tf.cast(tf.stack([shape[2], shape[1]]), tf.float32)  # (width, height)
        matrices, offsets = self.random_transforms(tf.shape(images)[0], size)
        return tf.cast(affine_warp(tf.cast(images, tf.float32), matrices, offsets), images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    # Keras does not save seed states; saving it here makes a reloaded model
    # draw the same distortions, so resumed or reloaded training continues exactly.
    def save_own_variables(self, store):
        store["seed_state"] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        if "seed_state" in store.keys():
            self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "shear": self.shear,
            "scale": self.scale,
            "translation": self.translation,
            "probability": self.probability,
            "seed": self.seed,
        }


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
    pair_scores = tf.cast(pair_scores, tf.float32)
    depth = support_labels.shape[-1] or tf.shape(support_labels)[-1]
    one_hot = tf.one_hot(support_labels, depth, dtype=tf.float32)  # [E, S, K]
    present = (tf.reduce_sum(one_hot, axis=1) > 0)[:, None, :]
    if reduction == "max":
        member = one_hot[:, None, :, :] > 0  # [E, 1, S, K]
        masked = tf.where(member, pair_scores[..., None], MISSING_CLASS_LOGIT)
        scores = tf.reduce_max(masked, axis=2)
    elif reduction == "mean":
        counts = tf.maximum(tf.reduce_sum(one_hot, axis=1), 1.0)[:, None, :]
        scores = tf.einsum("eqs,esk->eqk", pair_scores, one_hot) / counts
    else:
        raise ValueError(f"reduction must be one of {EPISODE_REDUCTIONS}. Received: {reduction!r}")
    return tf.where(present, scores, tf.cast(MISSING_CLASS_LOGIT, tf.float32))


@keras.saving.register_keras_serializable(package="metazoo")
class SiameseNetwork(FewShotClassifier):
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"backbone must be a keras.Model. Received: {type(backbone).__name__}")
        if augmentation == "koch":
            augmentation = RandomAffine(name="augmentation")
        if augmentation is not None and not isinstance(augmentation, keras.layers.Layer):
            raise ValueError(
                "augmentation must be 'koch', a keras Layer or None. "
                f"Received: augmentation={augmentation!r}"
            )
        if episode_reduction not in EPISODE_REDUCTIONS:
            raise ValueError(
                f"episode_reduction must be one of {EPISODE_REDUCTIONS}. "
                f"Received: episode_reduction={episode_reduction!r}"
            )
        self.backbone = backbone
        self.augmentation = augmentation
        self.episode_reduction = episode_reduction
        self.image_shape = tuple(backbone.input_shape[1:])
        dim = backbone.output_shape[-1]
        # Starting at minus the mean |difference|, an untrained model already
        # ranks nearer embeddings as more alike (a zero-mean start ranks at random).
        self.head = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.Constant(-1.0 / dim), name="distance_weights"
        )
        self.head.build((None, dim))
        self.built = True  # Backbone and head are built; saving keeps the optimizer.

    def embed(self, images, training=False):
        """Tower outputs for `images`, distorted first when training."""
        if training and self.augmentation is not None:
            images = self.augmentation(images, training=True)
        return self.backbone(images, training=training)

    def pair_logits(self, images_a, images_b, training=False):
        """Logits of P(same) `[batch, 1]`; both halves go through the tower as one batch."""
        embeddings = self.embed(tf.concat([images_a, images_b], axis=0), training=training)
        a, b = tf.split(embeddings, 2, axis=0)
        return self.head(tf.abs(a - b))

    def episode_logits(self, support, support_labels, query, training=False):
        support_emb, query_emb = embed_episode(self.embed, support, query, training)
        support_emb, query_emb = support_emb[:, None], query_emb[:, :, None]
        logits = self.head(tf.abs(query_emb - support_emb))[..., 0]  # [E, Q, S]
        return class_scores(tf.math.log_sigmoid(logits), support_labels, self.episode_reduction)

    def call(self, inputs, training=False):
        if isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            return tf.sigmoid(self.pair_logits(inputs[0], inputs[1], training=training))
        return super().call(inputs, training=training)

    def serving_signature(self):
        """Input signature of the exported `serve` endpoint: a batch of pairs.

        `(images_a [n, H, W, C] float32, images_b [n, H, W, C] float32)` ->
        P(same) `[n, 1]`.
        """
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
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        config["augmentation"] = (
            keras.saving.serialize_keras_object(self.augmentation) if self.augmentation else None
        )
        config["episode_reduction"] = self.episode_reduction
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("augmentation"):
            config["augmentation"] = keras.saving.deserialize_keras_object(config["augmentation"])
        return cls(**config)
