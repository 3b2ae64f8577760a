"""The conv-4 embedding network of Vinyals et al. (2016) and Snell et al. (2017)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="metazoo")
class Conv4(keras.Model):
    """Four blocks of [3x3 conv, batch norm, ReLU, 2x2 max-pool], then flatten.

    On 28x28 inputs with 64 filters the output is a 64-d embedding
    (28 -> 14 -> 7 -> 3 -> 1); on 56x56 it is 576-d, on 84x84 1,600-d, on
    105x105 2,304-d.

    Args:
        image_shape: tuple. `(height, width, channels)` of the inputs.
        filters: int. Filters of every convolution (64 for ProtoNets, 32 in
            Ravi & Larochelle).
        blocks: int. Number of conv blocks.
        bn_momentum: float. Momentum of the batch-norm moving statistics
            (0.9 is PyTorch's default of 0.1 in Keras terms).

    Example:
    ```python
    backbone = Conv4(image_shape=(28, 28, 1))
    backbone(np.zeros((2, 28, 28, 1))).shape  # (2, 64)
    ```

    References:
        Vinyals et al., "Matching Networks for One Shot Learning", NeurIPS 2016.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (28, 28, 1),
        filters: int = 64,
        blocks: int = 4,
        bn_momentum: float = 0.9,
        **kwargs,
    ):
        if len(image_shape) != 3:
            raise ValueError(
                "image_shape must be (height, width, channels). "
                f"Received: image_shape={image_shape!r}"
            )
        if min(image_shape[:2]) < 2**blocks:
            raise ValueError(
                f"Images must be at least {2**blocks} pixels wide for {blocks} blocks. "
                f"Received: image_shape={image_shape!r}"
            )
        inputs = keras.Input(shape=tuple(image_shape), name="images")
        x = inputs
        for i in range(blocks):
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv")(x)
            x = keras.layers.BatchNormalization(
                momentum=bn_momentum, epsilon=1e-5, name=f"block{i}_bn"
            )(x)
            x = keras.layers.ReLU(name=f"block{i}_relu")(x)
            x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        outputs = keras.layers.Flatten(name="embedding")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.image_shape = tuple(image_shape)
        self.filters = filters
        self.blocks = blocks
        self.bn_momentum = bn_momentum

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "image_shape": self.image_shape,
            "filters": self.filters,
            "blocks": self.blocks,
            "bn_momentum": self.bn_momentum,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
