"""The LSTM meta-learner (Ravi & Larochelle, 2017): an LSTM whose cell state is the learner.

The learner's forward pass, its loss gradient and the inner loop are the
shared core's (`metazoo.algorithms.inner_loop`: `SequentialLearner`,
`cross_entropy`, `value_and_grad`, `inner_loop`); the LSTM cell is the
update rule handed to `inner_loop`. Everything here is `keras.ops`, so it
runs on TensorFlow, JAX and PyTorch; the label check inside a TensorFlow
graph is `metazoo.backend.graph_assert_less`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from metazoo.algorithms.base import FewShotClassifier, check_labels_fit_head
from metazoo.algorithms.inner_loop import (
    SequentialLearner,
    cross_entropy,
    inner_loop,
    map_episodes,
)
from metazoo.backend import graph_assert_less, split_at
from metazoo.checks import check_int
from metazoo.networks.conv4 import Conv4


def _uniform(low: float, high: float):
    return keras.initializers.RandomUniform(low, high)


def preprocess(x, p: float = 10.0, axis: int = -1):
    """The log/sign preprocessing of `metazoo.algorithms.l2l.preprocess_gradient`, in `keras.ops`.

    `(log|x| / p, sign x)` where `|x| >= e^-p`, else `(-1, e^p x)`, stacked
    at `axis`; its gradient is finite everywhere, `x = 0` included.
    """
    magnitude = ops.abs(x)
    large = magnitude >= math.exp(-p)
    # `where` before the log: an untaken log(0) would still make the gradient NaN.
    safe = ops.where(large, magnitude, ops.ones_like(magnitude))
    log_part = ops.where(large, ops.log(safe) / p, -ops.ones_like(x))
    sign_part = ops.where(large, ops.sign(x), x * math.exp(p))
    return ops.stack([log_part, sign_part], axis=axis)


@keras.saving.register_keras_serializable(package="metazoo")
class MetaLSTMCell(keras.layers.Layer):
    """One meta-learner step: the learner's parameters are the LSTM cell state.

    Per coordinate (weights shared across all coordinates), with `x_t` the
    gradient and loss (log/sign preprocessed by `preprocess`, as
    `metazoo.algorithms.l2l.preprocess_gradient`, safe at 0), passed through a
    first, ordinary LSTM of `hidden_units` (the paper's two-layer
    meta-learner):

        f_t = sigmoid(W_F [x_t, c_{t-1}, f_{t-1}] + b_F)
        i_t = sigmoid(W_I [x_t, c_{t-1}, i_{t-1}] + b_I)
        c_t = f_t * c_{t-1} - i_t * grad_t

    With `f_t = 1` and `i_t = lr` this is plain SGD; the biases start at
    `b_F ~ U(4, 5)` (`f ~ 0.99`) and `b_I ~ U(-5, -4)` (`i ~ 0.01`), the
    other weights at `U(-0.01, 0.01)`, as in the authors' code, so
    meta-training starts near SGD.

    Args:
        hidden_units: int. Units of the first LSTM (20 in the paper); 0 feeds
            the preprocessed gradient and loss to the gates directly.
        p: float. Preprocessing constant (10 in the paper).

    Example:
    ```python
    cell = MetaLSTMCell(hidden_units=20)
    state = cell.initial_state(params)
    params, state = cell(grad, loss, params, state)
    ```

    References:
        Ravi & Larochelle, "Optimization as a Model for Few-Shot Learning",
        ICLR 2017.
    """

    def __init__(self, hidden_units: int = 20, p: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = check_int("hidden_units", hidden_units, minimum=0)
        if not p > 0:
            raise ValueError(f"p must be positive. Received: p={p!r}")
        self.p = float(p)
        self.build()

    def build(self, input_shape=None):
        if self.hidden_units:
            self.lstm_kernel = self.add_weight(
                (4 + self.hidden_units, 4 * self.hidden_units),
                _uniform(-0.01, 0.01),
                name="lstm_kernel",
            )
            self.lstm_bias = self.add_weight(
                (4 * self.hidden_units,), _uniform(-0.01, 0.01), name="lstm_bias"
            )
        features = (self.hidden_units or 4) + 2
        self.forget_kernel = self.add_weight(
            (features, 1), _uniform(-0.01, 0.01), name="forget_kernel"
        )
        self.input_kernel = self.add_weight(
            (features, 1), _uniform(-0.01, 0.01), name="input_kernel"
        )
        self.forget_bias = self.add_weight((1,), _uniform(4.0, 5.0), name="forget_bias")
        self.input_bias = self.add_weight((1,), _uniform(-5.0, -4.0), name="input_bias")
        self.built = True

    def initial_state(self, params) -> dict:
        """Zero state for flat parameters `params` `[n]`: previous gates (and LSTM) at 0.

        `forget` and `input` are `[n]`; the first LSTM's `h` and `c` are
        `[hidden_units, n]`.
        """
        params = ops.convert_to_tensor(params)
        zeros = ops.zeros_like(params)
        state = {"forget": zeros, "input": zeros}
        if self.hidden_units:
            hidden = ops.zeros((self.hidden_units, ops.shape(params)[0]), params.dtype)
            state.update(h=hidden, c=hidden)
        return state

    def call(self, grad, loss, params, state):
        # Coordinates go last, so gate slices are contiguous rows (no copies);
        # the loss is the same for every coordinate and enters as a bias.
        params = ops.convert_to_tensor(params)
        dtype = params.dtype
        grad = ops.cast(grad, dtype)
        grad_features = preprocess(grad, self.p, axis=0)  # [2, n]
        loss_features = preprocess(ops.cast(loss, dtype), self.p)[:, None]  # [2, 1]
        new_state = {}
        if self.hidden_units:
            units = self.hidden_units
            kernel = ops.convert_to_tensor(self.lstm_kernel)
            z = (
                _matmul_t(kernel[:2], grad_features)
                + _matmul_t(kernel[4:], state["h"])
                + (_matmul_t(kernel[2:4], loss_features) + self.lstm_bias[:, None])
            )  # [4 * units, n]
            i, f, g, o = ops.split(z, 4, axis=0)  # its gradient is a concat, not 4 pads
            c = ops.sigmoid(f) * state["c"] + ops.sigmoid(i) * ops.tanh(g)
            h = ops.sigmoid(o) * ops.tanh(c)
            new_state.update(h=h, c=c)
            features, rows = h, units
        else:
            features, rows = grad_features, 2

        def gate(kernel, bias, previous):
            # kernel rows: [features (or grad, loss), parameter, previous gate].
            kernel = ops.convert_to_tensor(kernel)
            z = _matmul_t(kernel[:rows], features)[0]
            if not self.hidden_units:
                z += ops.sum(kernel[2:4, 0] * loss_features[:, 0])
            return ops.sigmoid(z + kernel[-2, 0] * params + kernel[-1, 0] * previous + bias)

        forget = gate(self.forget_kernel, self.forget_bias, state["forget"])
        inputs = gate(self.input_kernel, self.input_bias, state["input"])
        new_state.update(forget=forget, input=inputs)
        return forget * params - inputs * grad, new_state

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "p": self.p}


def _matmul_t(a, b):
    """`a^T b` (TensorFlow folds the transpose into its matmul: the same bits)."""
    return ops.matmul(ops.transpose(a), b)


def _round_robin(labels, ways: int):
    """Order of the support set that cycles through the classes (support is class-major)."""
    one_hot = ops.one_hot(labels, ways, dtype="int32")
    rank_in_class = ops.sum(ops.cumsum(one_hot, axis=0) * one_hot, axis=-1)
    # Ties broken by position, so the order needs no stable sort (PyTorch's is not).
    count = ops.shape(labels)[0]
    return ops.argsort(rank_in_class * count + ops.arange(count, dtype="int32"))


@keras.saving.register_keras_serializable(package="metazoo")
class MetaLSTM(FewShotClassifier):
    """A learner trained by a learned LSTM optimizer on each episode's support set.

    `call((support_images, support_labels, query_images))` runs
    `inner_steps` updates of the learner (conv-4 + a `ways`-unit dense head)
    on the support set, each computed by `MetaLSTMCell` from the learner's
    gradient and loss, starting from the learned initialization `c_0`, and
    returns the adapted learner's query logits `[n_query, ways]`. `fit`
    back-propagates the query loss through the inner updates into the
    meta-learner's weights and into `c_0`, which lives in the learner's own
    variables (`model.backbone`, `model.head`). Use a meta-optimizer with
    gradient clipping (the default compile: Adam 1e-3, global norm 0.25).

    The learner runs functionally on explicit weights (each layer's
    `stateless_call`), and its batch norm always normalizes with the
    statistics of the batch at hand (support mini-batch or query set), in
    meta-training and meta-testing alike, as in the paper; no running
    statistics are kept, so nothing leaks from one episode into the next.
    Batch norm is computed here rather than by Keras' layer, whose moments
    (`tf.nn.moments`) give wrong second derivatives.

    Args:
        backbone: keras.Model. A chain of layers mapping images to
            embeddings; default `Conv4(filters=32)` on 28x28 (the paper's
            learner). Its batch-norm layers must have `center` and `scale`.
        ways: int. Classes per episode (the head's size); support labels
            must be in `0..ways-1`.
        inner_steps: int. Learner updates per episode, T.
        inner_batch_size: int. Support examples per update (cycling through
            the support set, classes interleaved); `None` uses the whole
            support set every step.
        hidden_units: int. First LSTM layer of the meta-learner (20).
        second_order: bool. Back-propagate through the learner's gradient
            and loss inputs too. The paper drops these terms (`False`).
        p: float. Gradient/loss preprocessing constant (10).

    Example:
    ```python
    model = MetaLSTM(Conv4(filters=32), ways=5, inner_steps=12)
    model.compile()  # Adam(1e-3, global_clipnorm=0.25)
    model.fit(omniglot_episodes("trainval", ways=5, shots=1, queries=15),
              steps_per_epoch=500, epochs=1)
    ```

    References:
        Ravi & Larochelle, "Optimization as a Model for Few-Shot Learning",
        ICLR 2017.
    """

    def __init__(
        self,
        backbone: keras.Model | None = None,
        ways: int = 5,
        inner_steps: int = 12,
        inner_batch_size: int | None = None,
        hidden_units: int = 20,
        second_order: bool = False,
        p: float = 10.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        backbone = Conv4(filters=32) if backbone is None else backbone
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"backbone must be a keras.Model. Received: {type(backbone).__name__}")
        ways = check_int("ways", ways)
        inner_steps = check_int("inner_steps", inner_steps)
        inner_batch_size = check_int("inner_batch_size", inner_batch_size, allow_none=True)
        self.backbone = backbone
        self.ways = ways
        self.inner_steps = inner_steps
        self.inner_batch_size = inner_batch_size
        self.second_order = bool(second_order)
        self.image_shape = tuple(backbone.input_shape[1:])
        self.head = keras.layers.Dense(ways, name="head")
        self.head.build((None, backbone.output_shape[-1]))
        self.learner = SequentialLearner(self.learner_layers)
        self._shapes = [tuple(v.shape) for v in self.learner.variables]
        self._split_points = np.cumsum([math.prod(s) for s in self._shapes])[:-1].tolist()
        self.cell = MetaLSTMCell(hidden_units, p, name="meta_learner")
        self.built = True  # Everything is built above; see FewShotClassifier.

    @property
    def learner_layers(self) -> list:
        """The learner's layers in order: the backbone's, then the head."""
        body = [x for x in self.backbone.layers if not isinstance(x, keras.layers.InputLayer)]
        return body + [self.head]

    @property
    def learner_variables(self) -> list:
        """The learner's variables: `c_0`, the learned initialization, unflattened."""
        return self.learner.variables

    def initial_parameters(self):
        """`c_0`: the learner's initial parameters as one flat vector."""
        return ops.concatenate([ops.reshape(v, (-1,)) for v in self.learner_variables], axis=0)

    def learner_logits(self, params, images):
        """The learner's logits `[n, ways]` on `images` with flat parameters `params`."""
        pieces = split_at(params, self._split_points)  # its gradient is one concat
        weights = [ops.reshape(w, s) for w, s in zip(pieces, self._shapes, strict=True)]
        return self.learner.forward(weights, images)

    def _support_batches(self, support, labels):
        """`t -> (images, labels)` of inner step `t`."""
        size = self.inner_batch_size
        static = support.shape[0]
        if size is None or (static is not None and size >= static):
            return lambda t: (support, labels)
        order = _round_robin(labels, self.ways)
        support, labels = ops.take(support, order, axis=0), ops.take(labels, order, axis=0)
        # Static sizes give static slices, which XLA needs.
        count = (
            -(-static // size) if static is not None else (ops.shape(support)[0] + size - 1) // size
        )

        def batch(t):
            start = (t % count) * size
            return support[start : start + size], labels[start : start + size]

        return batch

    def adapt(self, support, support_labels, trace: list | None = None):
        """Runs the inner loop on one episode's support set; returns the final parameters.

        Args:
            support: `[n, H, W, C]` images.
            support_labels: int `[n]` in `0..ways-1`.
            trace: list. If given, gets one dict per step with the step's
                `input_gate`, `forget_gate` (`[n_params]`), support `loss`
                and the new `parameters`.
        """
        support_labels = ops.cast(support_labels, "int32")
        params = self.initial_parameters()
        batch = self._support_batches(support, support_labels)

        def support_loss(flat, step):
            images, labels = batch(step)
            return cross_entropy(self.learner_logits(flat[0], images), labels)

        def lstm_update(flat, grads, loss, state):
            params, state = self.cell(grads[0], loss, flat[0], state)
            if trace is not None:
                gates = dict(input_gate=state["input"], forget_gate=state["forget"])
                trace.append(dict(gates, loss=loss, parameters=params))
            return [params], state

        (params,), _ = inner_loop(
            support_loss,
            [params],
            lstm_update,
            self.inner_steps,
            state=self.cell.initial_state(params),
            first_order=not self.second_order,  # the paper's choice
        )
        return params

    def check_inputs(self, inputs) -> None:
        super().check_inputs(inputs)
        check_labels_fit_head(inputs, self.ways)

    def episode_logits(self, support, support_labels, query, training=False):
        support_labels = graph_assert_less(
            support_labels,
            self.ways,
            f"support_labels must be < ways={self.ways} (the head's size)",
        )

        def one(episode):
            images, labels, queries = episode
            return self.learner_logits(self.adapt(images, labels), queries)

        return map_episodes(one, (support, support_labels, query))

    def serving_signature(self):
        """Input signature of the exported `serve` endpoint: one episode, any size.

        `(support_images [n_support, H, W, C] float32, support_labels
        [n_support] int32 in `0..ways-1`, query_images [n_query, H, W, C]
        float32)` -> the adapted learner's query logits `[n_query, ways]`.
        """
        return super().serving_signature()

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Configures the model; `"auto"` picks the paper's meta-optimizer.

        Args:
            optimizer: `"auto"` for Adam(1e-3) clipping the meta-gradient's
                global norm to 0.25, as Ravi & Larochelle.
            loss: `"auto"` for sparse categorical cross-entropy on logits.
            metrics: `"auto"` for accuracy.
            **kwargs: passed to `keras.Model.compile`.
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3, global_clipnorm=0.25)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            backbone=keras.saving.serialize_keras_object(self.backbone),
            ways=self.ways,
            inner_steps=self.inner_steps,
            inner_batch_size=self.inner_batch_size,
            hidden_units=self.cell.hidden_units,
            second_order=self.second_order,
            p=self.cell.p,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
