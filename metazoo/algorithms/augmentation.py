"""Image layers shared by the few-shot classifiers.

`RandomAffine`, Koch et al.'s training-time distortions, and `CenterInk`,
which puts every drawing's ink in the middle of the image (in training and
at inference alike).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from metazoo.backend import stateless_uniform

# How the recipes' metadata describe `CenterInk()` and the default `RandomAffine()`.
CENTER_INK = (
    "CenterInk: each image shifted by whole pixels to put its ink's centre of mass in the middle"
)
KOCH_AFFINE = (
    "RandomAffine (Koch et al.): rotation 10 deg, shear 0.3, scale 0.2, "
    "translation 0.02, each with probability 0.5"
)


def affine_warp(images, matrices, offsets):
    """Resamples `images` bilinearly at `matrices @ p + offsets` for every output pixel `p`.

    Pixel coordinates are centred on the image centre, and points outside
    the image read 0 (the background in metazoo's ink = 1 convention). Plain
    gathers in `keras.ops`, so it runs on every backend and compiles with
    XLA (Keras' own `RandomRotation` and friends use an op that XLA lacks).

    Args:
        images: float `[batch, height, width, channels]`.
        matrices: float `[batch, 2, 2]`, acting on `(x, y)` = (column, row).
        offsets: float `[batch, 2]`, in pixels.
    """
    images = ops.convert_to_tensor(images)
    dtype = images.dtype
    batch, height, width, channels = ops.shape(images)
    ys, xs = ops.meshgrid(
        _centred_range(height, dtype), _centred_range(width, dtype), indexing="ij"
    )
    grid = ops.stack([ops.reshape(xs, (-1,)), ops.reshape(ys, (-1,))])  # [2, H*W]
    matrices = ops.cast(matrices, dtype)
    # A batched product [batch, 2, 2] @ [batch, 2, H*W], the one TensorFlow has always done.
    source = ops.matmul(matrices, ops.broadcast_to(grid, (batch, *ops.shape(grid))))
    source += ops.cast(offsets, dtype)[:, :, None]
    # One pixel of zero padding: every corner that falls outside reads 0.
    padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows, cols = height + 2, width + 2
    pixels = ops.reshape(padded, (-1, channels))  # [batch * rows * cols, channels]
    first = (ops.arange(batch, dtype="int32") * (rows * cols))[:, None, None]
    x = ops.reshape(source[:, 0], (-1, height, width)) + _half(width, dtype) + 1
    y = ops.reshape(source[:, 1], (-1, height, width)) + _half(height, dtype) + 1
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]

    def corner(yy, xx):
        yy = ops.clip(ops.cast(yy, "int32"), 0, height + 1)
        xx = ops.clip(ops.cast(xx, "int32"), 0, width + 1)
        return ops.take(pixels, first + yy * cols + xx, axis=0)  # [batch, H, W, channels]

    top = corner(y0, x0) * (1 - wx) + corner(y0, x0 + 1) * wx
    bottom = corner(y0 + 1, x0) * (1 - wx) + corner(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _half(size, dtype):
    """`(size - 1) / 2` as a `dtype` scalar: the centre of `size` pixels."""
    return ops.cast(size - 1, dtype) / 2


def _centred_range(size, dtype):
    """Pixel coordinates `0..size-1` measured from the centre, as `dtype`."""
    return ops.arange(size, dtype=dtype) - _half(size, dtype)


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
        # Both draws from one seed (and seed + 1), as on TensorFlow since the
        # first release: trainings resumed from a saved seed state match.
        draws = stateless_uniform((batch, 7), seed, minval=-1.0, maxval=1.0)
        on = ops.cast(stateless_uniform((batch, 4), seed + 1) < self.probability, "float32")
        angle = draws[:, 0] * math.radians(self.rotation) * on[:, 0]
        shear_x, shear_y = (
            draws[:, 1] * self.shear * on[:, 1],
            draws[:, 2] * self.shear * on[:, 1],
        )
        scale_x = 1 + draws[:, 3] * self.scale * on[:, 2]
        scale_y = 1 + draws[:, 4] * self.scale * on[:, 2]
        cos, sin = ops.cos(angle), ops.sin(angle)
        rotate = ops.reshape(ops.stack([cos, -sin, sin, cos], -1), (-1, 2, 2))
        ones = ops.ones_like(shear_x)
        shear = ops.reshape(ops.stack([ones, shear_x, shear_y, ones], -1), (-1, 2, 2))
        zeros = ops.zeros_like(scale_x)
        scale = ops.reshape(ops.stack([scale_x, zeros, zeros, scale_y], -1), (-1, 2, 2))
        offsets = draws[:, 5:7] * self.translation * image_size * on[:, 3:4]
        return ops.matmul(ops.matmul(rotate, shear), scale), offsets

    def call(self, images, training=False):
        if not training:
            return images
        images = ops.convert_to_tensor(images)
        batch, height, width = ops.shape(images)[:3]
        size = ops.cast(ops.stack([width, height]), "float32")
        matrices, offsets = self.random_transforms(batch, size)
        return ops.cast(affine_warp(ops.cast(images, "float32"), matrices, offsets), images.dtype)

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


@keras.saving.register_keras_serializable(package="metazoo")
class CenterInk(keras.layers.Layer):
    """Shifts each image by whole pixels so that its ink's centre of mass is in the middle.

    Drawers place a character anywhere on the page, and a few pixels of
    offset between a support image and a query of another drawer are
    enough to mislead a small conv net at 28x28. Centring every image, in
    training and at inference, removes that nuisance. The shift is rounded
    to whole pixels, so strokes are moved, not blurred; ink shifted past
    the border is lost, background (0) comes in. An image without ink is
    left as it is.

    Example:
    ```python
    centred = CenterInk()(images)  # images [n, H, W, C], ink = 1
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def call(self, images):
        images = ops.convert_to_tensor(images)
        ink = ops.sum(ops.cast(images, "float32"), axis=-1)  # [n, H, W]
        batch, height, width = ops.shape(ink)
        ys = _centred_range(height, "float32")
        xs = _centred_range(width, "float32")
        mass = ops.sum(ink, axis=(1, 2))
        safe = ops.maximum(mass, 1e-6)
        cy = ops.sum(ink * ys[None, :, None], axis=(1, 2)) / safe
        cx = ops.sum(ink * xs[None, None, :], axis=(1, 2)) / safe
        # Output pixel p reads input pixel p + offset: the centre reads the centroid.
        offsets = ops.where((mass > 0)[:, None], ops.round(ops.stack([cx, cy], -1)), 0.0)
        identity = ops.broadcast_to(ops.eye(2), (batch, 2, 2))
        centred = affine_warp(ops.cast(images, "float32"), identity, offsets)
        return ops.cast(centred, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def _resolve_layer(value, argument: str, shorthand: str, make):
    """`shorthand` -> `make()`; a Keras layer or `None` as given; `ValueError` otherwise."""
    if isinstance(value, str) and value == shorthand:
        return make()
    if value is not None and not isinstance(value, keras.layers.Layer):
        raise ValueError(
            f"{argument} must be '{shorthand}', a keras Layer or None. "
            f"Received: {argument}={value!r}"
        )
    return value


def resolve_preprocessing(preprocessing):
    """`"center"` -> a new `CenterInk(name="preprocessing")`; a Keras layer or `None` as given.

    Raises:
        ValueError: for anything else.
    """
    return _resolve_layer(
        preprocessing, "preprocessing", "center", lambda: CenterInk(name="preprocessing")
    )


def resolve_augmentation(augmentation):
    """`"koch"` -> a new `RandomAffine(name="augmentation")`; a Keras layer or `None` as given.

    Raises:
        ValueError: for anything else.
    """
    return _resolve_layer(
        augmentation, "augmentation", "koch", lambda: RandomAffine(name="augmentation")
    )


def embed_images(backbone, images, training=False, preprocessing=None, augmentation=None):
    """`backbone(images)` after `preprocessing` (always) and `augmentation` (when training)."""
    if preprocessing is not None:
        images = preprocessing(images)
    if training and augmentation is not None:
        images = augmentation(images, training=True)
    return backbone(images, training=training)


def serialize_layer(layer):
    """A model config's entry for an optional layer (`None` stays `None`)."""
    return keras.saving.serialize_keras_object(layer) if layer is not None else None


def deserialize_layers(config: dict, names) -> dict:
    """`config` with the optional layers under `names` deserialized (missing or `None`: `None`)."""
    config = dict(config)
    for name in names:
        if config.get(name):
            config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
