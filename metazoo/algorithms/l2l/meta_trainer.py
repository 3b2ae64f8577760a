"""Meta-training the L2L update rule with `fit`: truncated BPTT through optimizee unrolls."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from metazoo.algorithms.base import DatasetFitMixin
from metazoo.algorithms.l2l.optimizees import (
    Optimizee,
    fold_in,
    optimizee_from_config,
)
from metazoo.algorithms.l2l.update_rule import (
    UpdateRuleConfig,
    init_meta_params,
    init_state,
    lstm_update,
)
from metazoo.presets import PresetMixin


def trajectory_seeds(seed, index) -> tuple[tf.Tensor, tf.Tensor]:
    """`(param_seed, data_seed)` of optimizee run `index` in the seed stream `seed`.

    Meta-training task `i` of a run with seed `s` is trajectory `(s, i)`;
    evaluation uses other streams, so its optimizees are held out.
    """
    trajectory = tf.stack([tf.cast(seed, tf.int32), tf.cast(index, tf.int32)])
    return fold_in(trajectory, 0), fold_in(trajectory, 1)


def meta_training_data(
    optimizee: Optimizee,
    unroll: int = 20,
    horizon: int = 100,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
) -> tf.data.Dataset:
    """Endless meta-training data for `L2LMetaTrainer.fit`, one element per meta-step.

    Element `k` is a dict: `reset` (True when a fresh optimizee starts),
    `seed` (int32 `[2]`: the optimizee's trajectory `(seed, k // unrolls)`)
    and `batches` (the `unroll + 1` minibatches of optimizee steps
    `j * unroll .. (j + 1) * unroll` of that trajectory, stacked; the last
    is the next element's first). Deterministic, so `start` resumes exactly.

    Args:
        optimizee: Optimizee. The task family.
        unroll: int. Optimizee steps per meta-step (T = 20 in the paper).
        horizon: int. Optimizee steps before a fresh optimizee (100).
        seed: int. The seed stream of the meta-training optimizees.
        split: str. Data split the optimizees train on.
        start: int. Index of the first meta-step.
    """
    if unroll < 1 or horizon < unroll or horizon % unroll:
        raise ValueError(
            "horizon must be a positive multiple of unroll. "
            f"Received: unroll={unroll}, horizon={horizon}"
        )
    unrolls = horizon // unroll

    def element(k):
        task = k // unrolls
        _, data_seed = trajectory_seeds(seed, task)
        first = tf.cast((k % unrolls) * unroll, tf.int32)
        batches = [optimizee.batch(data_seed, first + j, split) for j in range(unroll + 1)]
        stacked = tf.nest.map_structure(lambda *xs: tf.stack(xs), *batches)
        trajectory = tf.stack([tf.constant(seed, tf.int32), tf.cast(task, tf.int32)])
        return {"reset": k % unrolls == 0, "seed": trajectory, "batches": stacked}

    return (
        tf.data.Dataset.range(start, np.iinfo(np.int64).max)
        .map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(2)
    )


class _UnrollCarry:
    """Optimizee parameters and LSTM state carried between meta-steps.

    A plain object, so Keras does not track these variables: presets and
    backups keep only the meta-parameters. Backups resume at task boundaries
    (see `fit_resumable` in the recipe), where the carry is reset anyway.
    """

    def __init__(self, num_params: int, config: UpdateRuleConfig):
        self.params = tf.Variable(tf.zeros((num_params,)), trainable=False, name="l2l_params")
        self.state = [
            tf.Variable(s, trainable=False, name=f"l2l_state_{i}")
            for i, s in enumerate(init_state(config, num_params))
        ]


@keras.saving.register_keras_serializable(package="metazoo")
class L2LMetaTrainer(PresetMixin, DatasetFitMixin, keras.Model):
    """Meta-trains a coordinatewise LSTM optimizer on an optimizee family with `fit`.

    Its trainable weights are the LSTM's meta-parameters. Each `train_step`
    unrolls `unroll` optimizee steps inside a `tf.GradientTape` (optimizee
    gradients are stop-gradiented, as in the paper), and the meta-loss is
    the mean optimizee loss along the unroll. Optimizee parameters and LSTM
    state carry over to the next step (truncated BPTT) until `horizon`
    steps, then the data's `reset` flag starts a fresh optimizee. Feed it
    `meta_training_data`; the default meta-optimizer is Adam(1e-3).

    Args:
        optimizee: Optimizee or dict. The task family (or its `get_config()`).
        unroll: int. Optimizee steps per meta-step (T = 20).
        horizon: int. Optimizee steps per sampled optimizee (100).
        hidden_units: int. Units per LSTM layer (20).
        num_layers: int. LSTM layers (2).
        preprocess: str. `"log_sign"` (the paper's) or `"none"`.
        p: float. `p` of the log/sign preprocessing (10).
        output_scale: float. Multiplies the LSTM's output.
        init_seed: int. Seed of the meta-parameters' initialization.

    Example:
    ```python
    trainer = L2LMetaTrainer(Quadratic())
    trainer.compile()
    trainer.fit(meta_training_data(trainer.optimizee), steps_per_epoch=50, epochs=2)
    optimizer = LearnedOptimizer.from_meta_trainer(trainer)
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016.
    """

    def __init__(
        self,
        optimizee: Optimizee | dict,
        unroll: int = 20,
        horizon: int = 100,
        hidden_units: int = 20,
        num_layers: int = 2,
        preprocess: str = "log_sign",
        p: float = 10.0,
        output_scale: float = 0.1,
        init_seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(optimizee, dict):
            optimizee = optimizee_from_config(optimizee)
        if not isinstance(optimizee, Optimizee):
            raise ValueError(
                "optimizee must be an Optimizee or its config. "
                f"Received: {type(optimizee).__name__}"
            )
        if unroll < 1 or horizon < unroll or horizon % unroll:
            raise ValueError(
                "horizon must be a positive multiple of unroll. "
                f"Received: unroll={unroll}, horizon={horizon}"
            )
        self.optimizee = optimizee
        self.unroll = int(unroll)
        self.horizon = int(horizon)
        self.init_seed = int(init_seed)
        self.rule_config = UpdateRuleConfig(hidden_units, num_layers, preprocess, p, output_scale)
        self._names = list(self.rule_config.meta_param_shapes())
        initial = init_meta_params(self.rule_config, self.init_seed)
        self._meta_vars = []
        for name in self._names:
            var = self.add_weight(
                shape=initial[name].shape, initializer="zeros", name=name.replace("/", "_")
            )
            var.assign(initial[name])
            self._meta_vars.append(var)
        self._carry = _UnrollCarry(optimizee.num_params, self.rule_config)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.final_loss_tracker = keras.metrics.Mean(name="final_loss")
        self.built = True  # All weights exist now; .keras keeps the meta-optimizer.

    @property
    def meta_params(self) -> dict[str, tf.Variable]:
        return {name: var.value for name, var in zip(self._names, self._meta_vars, strict=True)}

    def get_meta_params(self) -> dict[str, np.ndarray]:
        """The current meta-parameters as numpy arrays (name -> array)."""
        return {name: np.asarray(var.numpy()) for name, var in self.meta_params.items()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.final_loss_tracker]

    def call(self, inputs):
        """Applies the update rule: `(gradient, state) -> (update, new_state)`."""
        gradient, state = inputs
        return lstm_update(gradient, state, self.meta_params, self.rule_config)

    def unroll_loss(self, params, state, task, batches, tape=None):
        """Runs `unroll` optimizee steps; returns `(mean loss, final loss, params, state)`.

        `batches` holds `unroll + 1` minibatches: step `t` uses `batches[t]`
        and the loss after the last update is taken on the last one.
        """
        meta_params = self.meta_params
        losses = []
        for t in range(self.unroll):
            batch = tf.nest.map_structure(lambda b, t=t: b[t], batches)
            with tf.GradientTape() as inner:
                inner.watch(params)
                loss = self.optimizee.loss(params, task, batch)
            if t > 0:
                losses.append(loss)
            # The paper drops second derivatives: the gradient is an input.
            if tape is not None:
                with tape.stop_recording():
                    grad = inner.gradient(loss, params)
            else:
                grad = inner.gradient(loss, params)
            update, state = lstm_update(
                tf.stop_gradient(grad), state, meta_params, self.rule_config
            )
            params = params + update
        last = tf.nest.map_structure(lambda b: b[self.unroll], batches)
        final = self.optimizee.loss(params, task, last)
        losses.append(final)
        return tf.add_n(losses) / len(losses), final, params, state

    def train_step(self, data):
        param_seed, _ = trajectory_seeds(data["seed"][0], data["seed"][1])
        fresh, task = self.optimizee.sample(param_seed)
        reset = data["reset"]
        params = tf.where(reset, fresh, self._carry.params)
        state = tuple(tf.where(reset, tf.zeros_like(v), v) for v in self._carry.state)
        with tf.GradientTape() as tape:
            meta_loss, final, params, state = self.unroll_loss(
                params, state, task, data["batches"], tape=tape
            )
        grads = tape.gradient(meta_loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self._carry.params.assign(tf.stop_gradient(params))
        for var, value in zip(self._carry.state, state, strict=True):
            var.assign(tf.stop_gradient(value))
        self.loss_tracker.update_state(meta_loss)
        self.final_loss_tracker.update_state(final)
        return {m.name: m.result() for m in self.metrics}

    def compile(self, optimizer: str | keras.optimizers.Optimizer = "auto", **kwargs: Any):
        """Configures meta-training; `"auto"` is Adam with learning rate 1e-3.

        Args:
            optimizer: str or keras.optimizers.Optimizer. The meta-optimizer;
                `"auto"` for `Adam(1e-3)`.
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`).
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Keras skips this for models with a custom compile(); without it a
        # loaded .keras model would come back without its meta-optimizer state.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "optimizee": self.optimizee.get_config(),
                "unroll": self.unroll,
                "horizon": self.horizon,
                **self.rule_config.as_dict(),
                "init_seed": self.init_seed,
            }
        )
        return config
