"""The inner-loop core of gradient-based meta-learners (MAML and its kin).

Three pieces, shared by every learner that adapts explicit weights by
gradient descent:

- `ConvLearner`: Finn et al.'s Omniglot network as a pure function
  `forward(params, images) -> logits` of a list of weight tensors, written
  with `keras.ops` only (functional batch norm included: Keras's
  `BatchNormalization` gives wrong second-order gradients on TensorFlow).
- `value_and_grad(loss_fn, params, create_graph)`: the one place where the
  backends differ. Nested `tf.GradientTape` on TensorFlow (an enclosing tape
  records it, so second-order gradients flow), `jax.value_and_grad` on JAX
  (it composes with the outer `jax.value_and_grad` of Keras's stateless
  train step), `torch.autograd.grad` on PyTorch (written, not yet tested).
- `adapt(...)`: the inner loop, plain SGD steps on the support loss, first
  order or exact, with fixed or per-tensor learnable step sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
from keras import ops

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
        """Normalizes `x` `[n, H, W, C]` with its own batch statistics, then scales and shifts.

        Mean and variance are written out (no fused kernel), so every order
        of derivative is exact on every backend.
        """
        mean = _mean(x, (0, 1, 2))
        variance = _mean(ops.square(x - mean), (0, 1, 2))
        return (x - mean) * ops.rsqrt(variance + self.epsilon) * scale + offset

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
        return ops.matmul(self.features(params, images), kernel) + bias


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


def value_and_grad(
    loss_fn: Callable[[list], object], params: Sequence, create_graph: bool = True
) -> tuple[object, list]:
    """`loss_fn(params)` and its gradients with respect to each tensor of `params`.

    With `create_graph=True` the gradients are themselves differentiable, so
    an enclosing gradient computation (Keras's train step) gets the exact
    second-order terms; with `False` they are constants to it (first order).

    Args:
        loss_fn: callable. Maps a list of tensors like `params` to a scalar.
        params: list of tensors (or Keras variables).
        create_graph: bool. Keep the gradients differentiable.

    Returns:
        `(loss, grads)`, `grads` a list matching `params`.

    Example:
    ```python
    loss, grads = value_and_grad(lambda p: keras.ops.sum(p[0] ** 2), [keras.ops.ones(3)])
    # grads[0] == [2., 2., 2.]
    ```
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        params = [tf.convert_to_tensor(p) for p in params]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(params)
            loss = loss_fn(params)
        grads = tape.gradient(loss, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if not create_graph:
            grads = [tf.stop_gradient(g) for g in grads]
        return loss, grads
    if backend == "jax":
        import jax

        params = [ops.convert_to_tensor(p) for p in params]
        loss, grads = jax.value_and_grad(loss_fn)(params)
        if not create_graph:
            grads = [jax.lax.stop_gradient(g) for g in grads]
        return loss, grads
    if backend == "torch":  # Untested so far.
        import torch

        params = [ops.convert_to_tensor(p) for p in params]
        params = [p if p.requires_grad else p.detach().requires_grad_(True) for p in params]
        loss = loss_fn(params)
        grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
        pairs = zip(params, grads, strict=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in pairs]
        return loss, grads
    raise NotImplementedError(
        f"Inner-loop gradients need the tensorflow, jax or torch backend. Received: {backend!r}"
    )


def map_episodes(fn: Callable, episodes: tuple):
    """`fn` applied to each episode of a batch (leading axis), outputs stacked.

    A Python loop over a static batch: each episode's inner gradients are
    their own ops in the graph. (`jax.vmap` would trace one episode, but the
    adapted convolution kernels then differ per episode and XLA runs them as
    grouped convolutions, 7x slower than the loop on CPU: 7.5 s against
    1.0 s per meta-batch of 32.) A TF graph of unknown batch size (as in
    evaluation) gets `keras.ops.map`.
    """
    count = episodes[0].shape[0]
    if count is None:
        return ops.map(fn, episodes)
    return ops.stack([fn(tuple(part[i] for part in episodes)) for i in range(count)])


def adapt(
    forward: Callable,
    params: Sequence,
    images,
    labels,
    steps: int,
    lr: float | Sequence,
    first_order: bool = False,
    adapted: Sequence[bool] | None = None,
) -> list:
    """The inner loop: `steps` SGD steps on the cross-entropy of `forward(params, images)`.

    Args:
        forward: callable. `(params, images) -> logits`, e.g. `ConvLearner.forward`.
        params: list of tensors. The initial weights.
        images: `[n, H, W, C]` support images.
        labels: int `[n]` support labels in `0..ways-1`.
        steps: int. Gradient steps (0 returns `params`).
        lr: float, or one step size per tensor of `params` (scalars or
            tensors, e.g. learnable ones: Meta-SGD).
        first_order: bool. Treat the inner gradients as constants (FOMAML);
            otherwise they stay differentiable (exact MAML).
        adapted: list of bool. Which tensors the inner loop changes (default
            all; only the head's for ANIL). The others still reach the
            loss, and an outer gradient, through `forward`.

    Returns:
        The adapted weights, a list like `params`.

    Example:
    ```python
    learner = ConvLearner(ways=5)
    fast = adapt(learner.forward, params, support, support_labels, steps=1, lr=0.4)
    query_logits = learner.forward(fast, query)
    ```

    References:
        Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
        Adaptation of Deep Networks", ICML 2017.
        Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for
        Few-Shot Learning", arXiv:1707.09835, 2017.
        Raghu, Raghu, Bengio & Vinyals, "Rapid Learning or Feature Reuse?
        Towards Understanding the Effectiveness of MAML" (ANIL), ICLR 2020.
    """
    params = list(params)
    lrs = list(lr) if isinstance(lr, (list, tuple)) else [lr] * len(params)
    adapted = [True] * len(params) if adapted is None else list(adapted)
    if not (len(lrs) == len(adapted) == len(params)):
        raise ValueError(
            "lr and adapted need one entry per parameter tensor. Received: "
            f"{len(params)} tensors, {len(lrs)} step sizes, {len(adapted)} adapted flags"
        )
    which = [i for i, flag in enumerate(adapted) if flag]
    for _ in range(steps):
        fixed = params

        def support_loss(moving, fixed=fixed):
            full = list(fixed)
            for i, tensor in zip(which, moving, strict=True):
                full[i] = tensor
            return cross_entropy(forward(full, images), labels)

        _, grads = value_and_grad(
            support_loss, [params[i] for i in which], create_graph=not first_order
        )
        params = list(params)
        for i, grad in zip(which, grads, strict=True):
            params[i] = params[i] - ops.cast(lrs[i], grad.dtype) * grad
    return params
