"""The inner-loop core of gradient-based meta-learners (MAML and its kin).

Shared by every learner that adapts explicit weights by gradient (MAML,
FOMAML, Meta-SGD, ANIL, the LSTM meta-learner), on the functional learners
of `metazoo.algorithms.learners` (re-exported here):

- `value_and_grad(loss_fn, params, create_graph)`: the one place where the
  backends differ. Nested `tf.GradientTape` on TensorFlow (an enclosing tape
  records it, so second-order gradients flow), `jax.value_and_grad` on JAX
  (it composes with the outer `jax.value_and_grad` of Keras's stateless
  train step), `torch.autograd.grad` on PyTorch (with `create_graph`, so the
  `loss.backward()` of Keras's torch train step gets the second-order terms).
- `inner_loop(loss_fn, params, update, steps)`: the inner loop for any
  update rule `update(params, grads, loss, state)`, first order or exact.
  `adapt(...)` is it with SGD steps (fixed or per-tensor learnable step
  sizes); the LSTM meta-learner passes its LSTM cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

# The learners live in `learners`; re-exported so `inner_loop` stays the one import.
from metazoo.algorithms.learners import (  # noqa: F401
    ACTIVATIONS,
    ConvLearner,
    ParameterSpec,
    SequentialLearner,
    batch_norm,
    cross_entropy,
)


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
    if backend == "torch":
        import torch

        # Keras's torch evaluate/predict run under `no_grad`; the inner loop needs
        # gradients there too. In training an outer `loss.backward()` follows.
        with torch.enable_grad():
            params = [ops.convert_to_tensor(p) for p in params]
            # A fresh node per tensor: each gradient is then the partial derivative,
            # as on TF and JAX, even where one tensor of `params` depends on another.
            params = [
                p.view_as(p) if p.requires_grad else p.detach().requires_grad_(True) for p in params
            ]
            loss = loss_fn(params)
            if loss.device.type == "meta":
                # Keras's shape inference runs `call` on the meta device, where
                # Keras's ops record no graph; the gradients' shapes are all it needs.
                return loss, [torch.zeros_like(p) for p in params]
            grads = torch.autograd.grad(
                loss,
                params,
                create_graph=create_graph,
                # The outer backward may still need this graph (first order too).
                retain_graph=True,
                allow_unused=True,
            )
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


def inner_loop(
    loss_fn: Callable[[list, int], Any],
    params: Sequence,
    update: Callable[[list, list, Any, Any], tuple[list, Any]],
    steps: int,
    state: Any = None,
    first_order: bool = False,
) -> tuple[list, Any]:
    """`steps` updates of `params`, each from the loss and its gradients at the current ones.

    Step `t` computes `loss = loss_fn(params, t)` and its gradients, then
    `params, state = update(params, grads, loss, state)`.

    Args:
        loss_fn: callable. `(params, step) -> scalar`, e.g. the cross-entropy
            on step `step`'s support batch.
        params: list of tensors. The initial weights.
        update: callable. The update rule, `(params, grads, loss, state) ->
            (params, state)`: an SGD step, or a learned optimizer's.
        steps: int. Updates (0 returns `params` and `state`).
        state: The update rule's initial state (`None` for SGD).
        first_order: bool. The gradients and loss reach `update` as
            constants, so an outer gradient drops their derivatives (FOMAML,
            and Ravi & Larochelle's choice); otherwise they stay
            differentiable and it gets the exact second-order terms.

    Returns:
        `(params, state)` after the last update.

    Example:
    ```python
    def sgd(params, grads, loss, state):
        return [p - 0.4 * g for p, g in zip(params, grads)], state

    fast, _ = inner_loop(lambda p, t: cross_entropy(learner.forward(p, x), y), params, sgd, 5)
    ```
    """
    params = list(params)
    for step in range(steps):
        loss, grads = value_and_grad(
            lambda p, step=step: loss_fn(p, step), params, create_graph=not first_order
        )
        if first_order:
            loss = ops.stop_gradient(loss)
        params, state = update(params, grads, loss, state)
    return list(params), state


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
    """`inner_loop` with SGD steps on the cross-entropy of `forward(params, images)`.

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
    step_sizes = [lrs[i] for i in which]

    def support_loss(moving, step):
        full = list(params)
        for i, tensor in zip(which, moving, strict=True):
            full[i] = tensor
        return cross_entropy(forward(full, images), labels)

    def sgd(moving, grads, loss, state):
        pairs = zip(moving, grads, step_sizes, strict=True)
        return [p - ops.cast(lr, g.dtype) * g for p, g, lr in pairs], state

    moving, _ = inner_loop(
        support_loss, [params[i] for i in which], sgd, steps, first_order=first_order
    )
    for i, tensor in zip(which, moving, strict=True):
        params[i] = tensor
    return params
