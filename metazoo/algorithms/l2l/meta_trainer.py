"""Meta-training the L2L update rule with `fit`: truncated BPTT through optimizee unrolls."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from metazoo.algorithms.base import DatasetFitMixin
from metazoo.algorithms.inner_loop import value_and_grad
from metazoo.algorithms.l2l.optimizees import Optimizee, optimizee_from_config
from metazoo.algorithms.l2l.trajectories import (  # noqa: F401  (re-exported)
    meta_training_data,
    trajectory_seeds,
)
from metazoo.algorithms.l2l.update_rule import UpdateRuleConfig, init_meta_params, lstm_update
from metazoo.presets import PresetMixin


class _UnrollCarry(keras.layers.Layer):
    """Optimizee parameters and LSTM state carried between meta-steps.

    Non-trainable variables, so that every backend's trainer carries them
    (JAX's stateless step included). They are not saved: presets and
    backups keep only the meta-parameters. Backups resume at task
    boundaries (see `fit_resumable` in the recipe), where the carry is
    reset anyway.
    """

    def __init__(self, num_params: int, config: UpdateRuleConfig, **kwargs):
        super().__init__(**kwargs)
        self.params = self.add_weight(
            (num_params,), "zeros", dtype="float32", trainable=False, name="l2l_params"
        )
        self.state = [
            self.add_weight(
                (config.hidden_units, num_params),
                "zeros",
                dtype="float32",
                trainable=False,
                name=f"l2l_state_{i}",
            )
            for i in range(2 * config.num_layers)
        ]
        self.built = True

    @property
    def carried(self) -> list:
        return [self.params, *self.state]

    def save_own_variables(self, store):
        pass  # Working memory of the current unroll, not part of the model.

    def load_own_variables(self, store):
        pass


@keras.saving.register_keras_serializable(package="metazoo")
class L2LMetaTrainer(PresetMixin, DatasetFitMixin, keras.Model):
    """Meta-trains a coordinatewise LSTM optimizer on an optimizee family with `fit`.

    Its trainable weights are the LSTM's meta-parameters. Each meta-step
    unrolls `unroll` optimizee steps (`meta_loss`; optimizee gradients are
    stop-gradiented, as in the paper), and the meta-loss is the mean
    optimizee loss along the unroll. Optimizee parameters and LSTM state
    carry over to the next step (truncated BPTT) until `horizon` steps, then
    the data's `reset` flag starts a fresh optimizee. Feed it
    `meta_training_data`; the default meta-optimizer is Adam(1e-3). Runs on
    TensorFlow, JAX and PyTorch: only the few lines that take the
    meta-gradient differ (`train_step`).

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
        self._carry = _UnrollCarry(optimizee.num_params, self.rule_config, name="unroll_carry")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.final_loss_tracker = keras.metrics.Mean(name="final_loss")
        self.built = True  # All weights exist now; .keras keeps the meta-optimizer.

    @property
    def meta_params(self) -> dict:
        """Name -> the current value of each meta-parameter (as a tensor of this backend)."""
        return {name: var.value for name, var in zip(self._names, self._meta_vars, strict=True)}

    def get_meta_params(self) -> dict[str, np.ndarray]:
        """The current meta-parameters as numpy arrays (name -> array)."""
        pairs = zip(self._names, self._meta_vars, strict=True)
        return {name: np.asarray(ops.convert_to_numpy(var)) for name, var in pairs}

    def set_meta_params(self, values: dict) -> None:
        """Assigns the meta-parameters from a dict name -> array (as `get_meta_params`)."""
        for name, var in zip(self._names, self._meta_vars, strict=True):
            var.assign(values[name])

    def count_params(self) -> int:
        """The update rule's parameters (the unroll's carry is working memory, not saved)."""
        return sum(int(np.prod(var.shape)) for var in self._meta_vars)

    @property
    def metrics(self):
        return [self.loss_tracker, self.final_loss_tracker]

    def call(self, inputs):
        """Applies the update rule: `(gradient, state) -> (update, new_state)`."""
        gradient, state = inputs
        return lstm_update(gradient, state, self.meta_params, self.rule_config)

    def unroll_loss(self, params, state, task, batches, meta_params: dict | None = None):
        """Runs `unroll` optimizee steps; returns `(mean loss, final loss, params, state)`.

        `batches` holds `unroll + 1` minibatches: step `t` uses `batches[t]`
        and the loss after the last update is taken on the last one.
        `meta_params` defaults to the trainer's own.
        """
        meta_params = self.meta_params if meta_params is None else meta_params
        losses = []
        for t in range(self.unroll):
            batch = keras.tree.map_structure(lambda b, t=t: b[t], batches)
            loss, (grad,) = value_and_grad(
                lambda p, batch=batch: self.optimizee.loss(p[0], task, batch), [params]
            )
            if t > 0:
                losses.append(loss)
            # The paper drops second derivatives: the gradient is an input.
            update, state = lstm_update(
                ops.stop_gradient(grad), state, meta_params, self.rule_config
            )
            params = params + update
        last = keras.tree.map_structure(lambda b: b[self.unroll], batches)
        final = self.optimizee.loss(params, task, last)
        losses.append(final)
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        return total / len(losses), final, params, state

    def meta_loss(self, meta_params: dict, carry: list, data: dict):
        """One meta-step's loss as a pure function: `(loss, (final_loss, carry))`.

        Args:
            meta_params: dict. Name -> tensor, the update rule's weights
                (what the meta-gradient is taken with respect to).
            carry: list. Optimizee parameters, then the LSTM state, as left
                by the previous meta-step (replaced where `data["reset"]`).
            data: dict. One element of `meta_training_data`.

        Returns:
            The mean optimizee loss along the unroll, the loss after its
            last step, and the carry for the next meta-step (constants).
        """
        param_seed, _ = trajectory_seeds(data["seed"][0], data["seed"][1])
        fresh, task = self.optimizee.sample(param_seed)
        reset = data["reset"]
        params = ops.where(reset, fresh, carry[0])
        state = tuple(ops.where(reset, ops.zeros_like(v), v) for v in carry[1:])
        loss, final, params, state = self.unroll_loss(
            params, state, task, data["batches"], meta_params
        )
        carry = [ops.stop_gradient(value) for value in (params, *state)]
        return loss, (final, carry)

    def train_step(self, *args):
        """One meta-step: the meta-gradient of `meta_loss`, applied; the carry kept.

        Keras calls `train_step(data)` on TensorFlow and PyTorch and
        `train_step(state, data)` on JAX (its stateless trainer).
        """
        if keras.config.backend() == "jax":
            return self._stateless_train_step(*args)
        (data,) = args
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        carry = [var.value for var in self._carry.carried]
        if keras.config.backend() == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss, (final, carry) = self.meta_loss(self.meta_params, carry, data)
            grads = tape.gradient(loss, self.trainable_variables)
        else:
            import torch

            loss, (final, carry) = self.meta_loss(self.meta_params, carry, data)
            grads = torch.autograd.grad(loss, [var.value for var in self.trainable_variables])
        self.optimizer.apply(grads, self.trainable_variables)
        return self._end_step(loss, final, carry)

    def _stateless_train_step(self, state, data):
        # Keras's JAX trainer pattern: variables in, variables out, no side effects.
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)

        def loss_fn(trainable):
            mapping = [
                *zip(self.trainable_variables, trainable, strict=True),
                *zip(self.non_trainable_variables, non_trainable, strict=True),
            ]
            with keras.StatelessScope(state_mapping=mapping):
                carry = [var.value for var in self._carry.carried]
                return self.meta_loss(self.meta_params, carry, data)

        (loss, (final, carry)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable
        )
        kept = [
            *zip(self.non_trainable_variables, non_trainable, strict=True),
            *zip(self.metrics_variables, metrics_variables, strict=True),
        ]
        with keras.StatelessScope(state_mapping=kept) as scope:
            logs = self._end_step(loss, final, carry)
        non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        metrics_variables = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def _end_step(self, loss, final, carry) -> dict:
        for var, value in zip(self._carry.carried, carry, strict=True):
            var.assign(value)
        self.loss_tracker.update_state(loss)
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
