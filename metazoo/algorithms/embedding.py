"""The base of the classifiers that compare embeddings: a backbone and its image layers."""

from __future__ import annotations

import keras

from metazoo.algorithms.augmentation import (
    deserialize_layers,
    embed_images,
    resolve_augmentation,
    resolve_preprocessing,
    serialize_layer,
)
from metazoo.algorithms.base import FewShotClassifier


class EmbeddingClassifier(FewShotClassifier):
    """A few-shot classifier that scores queries by their backbone embeddings.

    Owns what such models share: the backbone, the image layers around it
    (`preprocessing` always, `augmentation` in training only), `image_shape`,
    `embed` and the config plumbing. A subclass implements
    `episode_logits`, builds any head of its own after `super().__init__`
    and adds its own arguments to `get_config`.

    Args:
        backbone: keras.Model. Maps images `[n, H, W, C]` to embeddings `[n, d]`.
        augmentation: `None`, `"koch"` for `RandomAffine()`, or any Keras
            layer; applied to every image in training only.
        preprocessing: `None`, `"center"` for `CenterInk()`, or any Keras
            layer; applied to every image, in training and at inference,
            before any augmentation.
    """

    def __init__(
        self,
        backbone: keras.Model,
        augmentation: keras.layers.Layer | str | None = None,
        preprocessing: keras.layers.Layer | str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"backbone must be a keras.Model. Received: {type(backbone).__name__}")
        self.backbone = backbone
        self.augmentation = resolve_augmentation(augmentation)
        self.preprocessing = resolve_preprocessing(preprocessing)
        self.image_shape = tuple(backbone.input_shape[1:])
        # All weights live in the (built) backbone and image layers, and in
        # heads that subclasses build in __init__; saving keeps the optimizer.
        self.built = True

    def embed(self, images, training=False):
        """Backbone embeddings of `images`, preprocessed, and distorted when training."""
        return embed_images(self.backbone, images, training, self.preprocessing, self.augmentation)

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        config["augmentation"] = serialize_layer(self.augmentation)
        config["preprocessing"] = serialize_layer(self.preprocessing)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config = deserialize_layers(config, ("augmentation", "preprocessing"))
        return cls(**config)
