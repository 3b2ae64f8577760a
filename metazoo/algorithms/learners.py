"""Functional learners: networks as pure functions of explicit weights.

The inner loops of `metazoo.algorithms.inner_loop` differentiate these with
respect to their weights, so everything here is written with `keras.ops`
and has every derivative on every backend:

- `ConvLearner`: Finn et al.'s Omniglot network, weights from `parameter_specs`.
- `SequentialLearner`: any chain of built Keras layers (e.g. `Conv4` and a
  head), each run by `stateless_call` on the weights it is given.
- `batch_norm` and `cross_entropy`, written out: Keras's `BatchNormalization`
  gives wrong second-order gradients on TensorFlow, and TensorFlow's fused
  sparse cross-entropy has no second derivative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
from keras import ops

from metazoo.backend import matmul

ACTIVATIONS = ("relu", "softplus", "tanh", "elu", "gelu", "silu")


@dataclass(frozen=True)
class ParameterSpec:
    """One weight tensor of a functional learner.

    Args:
        name: str. Unique name, e.g. `"conv0_kernel"`.
        shape: tuple. The tensor's shape.
        initializer: str. A Keras initializer name.
        head: bool. Whether it belongs to the classification head (the part
            ANIL adapts).
    """

    name: str
    shape: tuple[int, ...]
    initializer: str
    head: bool = False


class ConvLearner:
    """Finn et al.'s Omniglot learner as a pure function of explicit weights.

    `blocks` blocks of [3x3 conv with `filters` filters and stride 2, batch
    norm, activation], then the mean over the remaining spatial positions
    (as in Finn et al.'s code for Omniglot) and a linear `ways`-way head.
    Strided convolutions replace max-pooling, as in Finn et al.'s Omniglot
    model. The convolutions have no bias: batch norm's offset makes one
    redundant (its gradient is exactly zero under batch statistics).

    Batch norm always normalizes with the statistics of the batch it is
    given, in training and at test time alike, as in the paper: there are
    no moving averages, so the support set and the query set are each
    normalized by their own statistics.

    Args:
        ways: int. Classes of the head.
        image_shape: tuple. `(height, width, channels)`.
        filters: int. Filters of every convolution (64 in the paper).
        blocks: int. Conv blocks (4 in the paper).
        activation: str. One of `ACTIVATIONS`; `"relu"` in the paper. A smooth
            one (`"softplus"`, `"tanh"`) makes the meta-gradient
            differentiable everywhere, for finite-difference checks.
        epsilon: float. Batch norm's variance offset (TF's default, 1e-3,
            as in Finn et al.'s code).

    Example:
    ```python
    learner = ConvLearner(ways=5)
    params = [keras.initializers.get(s.initializer)(s.shape) for s in learner.parameter_specs()]
    logits = learner.forward(params, np.zeros((5, 28, 28, 1), "float32"))  # (5, 5)
    ```

    References:
        Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
        Adaptation of Deep Networks", ICML 2017 (code: github.com/cbfinn/maml).
    """

    def __init__(
        self,
        ways: int,
        image_shape: tuple[int, int, int] = (28, 28, 1),
        filters: int = 64,
        blocks: int = 4,
        activation: str = "relu",
        epsilon: float = 1e-3,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}. Received: activation={activation!r}"
            )
        if len(image_shape) != 3:
            raise ValueError(
                "image_shape must be (height, width, channels). "
                f"Received: image_shape={image_shape!r}"
            )
        self.ways = ways
        self.image_shape = tuple(image_shape)
        self.filters = filters
        self.blocks = blocks
        self.activation = activation
        self.epsilon = epsilon
        self._activation = keras.activations.get(activation)

    def parameter_specs(self) -> list[ParameterSpec]:
        """The weight tensors `forward` takes, in order."""
        specs = []
        channels = self.image_shape[-1]
        for i in range(self.blocks):
            specs += [
                ParameterSpec(f"conv{i}_kernel", (3, 3, channels, self.filters), "glorot_uniform"),
                ParameterSpec(f"bn{i}_scale", (self.filters,), "ones"),
                ParameterSpec(f"bn{i}_offset", (self.filters,), "zeros"),
            ]
            channels = self.filters
        specs += [
            ParameterSpec("head_kernel", (self.filters, self.ways), "glorot_uniform", head=True),
            ParameterSpec("head_bias", (self.ways,), "zeros", head=True),
        ]
        return specs

    def batch_norm(self, x, scale, offset):
        """`batch_norm` with this learner's epsilon."""
        return batch_norm(x, scale, offset, self.epsilon)

    def features(self, params: Sequence, images):
        """The `[n, filters]` features under the head (`params` may include the head's)."""
        x = ops.cast(images, params[0].dtype)
        for i in range(self.blocks):
            kernel, scale, offset = params[3 * i : 3 * i + 3]
            x = ops.conv(x, kernel, strides=2, padding="same", data_format="channels_last")
            x = self._activation(self.batch_norm(x, scale, offset))
        return _mean(x, (1, 2), keepdims=False)

    def forward(self, params: Sequence, images, training: bool = True):
        """Logits `[n, ways]` of `images` `[n, H, W, C]` under weights `params`.

        `training` is accepted for symmetry with Keras layers and changes
        nothing: batch norm uses batch statistics in both modes.
        """
        kernel, bias = params[-2:]
        return matmul(self.features(params, images), kernel) + bias


class SequentialLearner:
    """A chain of Keras layers as a pure function of explicit weights.

    Each layer runs by `stateless_call` on the weights it is given, except
    batch norm, which becomes `batch_norm` (batch statistics in training and
    at test time alike, no moving averages, so nothing leaks from one
    episode into the next). Batch-norm layers need `center`, `scale` and
    `axis=-1`.

    Args:
        layers: list of built Keras layers, applied in order.

    Example:
    ```python
    head = keras.layers.Dense(5)
    head.build((None, 64))
    learner = SequentialLearner(Conv4().layers[1:] + [head])
    params = [keras.ops.convert_to_tensor(v) for v in learner.variables]
    logits = learner.forward(params, np.zeros((5, 28, 28, 1), "float32"))  # (5, 5)
    ```
    """

    def __init__(self, layers: Sequence[keras.layers.Layer]):
        for layer in layers:
            if isinstance(layer, keras.layers.BatchNormalization) and not (
                layer.center and layer.scale and layer.axis in (-1, len(layer.input.shape) - 1)
            ):
                raise ValueError(
                    "Batch-norm layers of a learner need center=True, scale=True and "
                    f"axis=-1. Received: layer {layer.name!r}"
                )
        self.layers = list(layers)

    @property
    def variables(self) -> list:
        """The trainable variables, in the order `forward` takes their values."""
        return [v for layer in self.layers for v in layer.trainable_variables]

    def forward(self, params: Sequence, images, training: bool = True):
        """The last layer's output on `images` under weights `params` (`training`: unused)."""
        x = ops.cast(images, params[0].dtype)
        weights = list(params)
        for layer in self.layers:
            count = len(layer.trainable_variables)
            layer_weights, weights = weights[:count], weights[count:]
            if isinstance(layer, keras.layers.BatchNormalization):
                scale, offset = layer_weights
                x = batch_norm(x, scale, offset, layer.epsilon)
            else:
                x, _ = layer.stateless_call(layer_weights, layer.non_trainable_variables, x)
        return x


def batch_norm(x, scale, offset, epsilon: float):
    """Normalizes `x` `[n, ..., C]` with its own batch statistics, then scales and shifts.

    Mean and variance (over every axis but the last) are written out, no
    fused kernel, so every order of derivative is exact on every backend.
    """
    axes = tuple(range(len(x.shape) - 1))
    mean = _mean(x, axes)
    variance = _mean(ops.square(x - mean), axes)
    return (x - mean) * ops.rsqrt(variance + epsilon) * scale + offset


def _mean(x, axis: tuple[int, ...], keepdims: bool = True):
    # A sum over the static count: `keras.ops.mean` on JAX computes in float32
    # even for float64 inputs, which spoils float64 gradient checks.
    dims = [x.shape[a] for a in axis]
    if None in dims:  # A TF graph of unknown size.
        dims = [ops.cast(ops.shape(x)[a], x.dtype) for a in axis]
    return ops.sum(x, axis=axis, keepdims=keepdims) / math.prod(dims)


def cross_entropy(logits, labels):
    """Mean cross-entropy of int `labels` under `logits`, written out so it has every derivative.

    (TensorFlow's fused sparse softmax cross-entropy has no second derivative.)
    """
    one_hot = ops.one_hot(ops.cast(labels, "int32"), logits.shape[-1], dtype=logits.dtype)
    return -_mean(ops.sum(one_hot * ops.log_softmax(logits, axis=-1), axis=-1), (0,), False)
