"""`LearnedOptimizer`: a meta-trained L2L update rule as an ordinary Keras optimizer."""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
from keras import ops

from metazoo import backend
from metazoo.algorithms.l2l.meta_trainer import L2LMetaTrainer
from metazoo.algorithms.l2l.update_rule import UpdateRuleConfig, lstm_update
from metazoo.presets import load_metadata


@keras.saving.register_keras_serializable(package="metazoo")
class LearnedOptimizer(keras.optimizers.Optimizer):
    """Optimizer that applies a frozen, meta-trained coordinatewise LSTM (L2L).

    Each model variable gets an LSTM state per coordinate (optimizer
    variables `h` and `c` of shape `[hidden_units, size]` per LSTM layer, so
    they are saved with the model); every step the LSTM maps the gradient and that state to
    the update `variable += learning_rate * update`. The meta-parameters are
    constants from a preset or a `L2LMetaTrainer` and are part of the config.

    Memory: `2 * num_layers * hidden_units` floats of state per model
    parameter (80 for the paper's LSTM), so it suits small models.

    Args:
        meta_params: dict. Name -> array, as `L2LMetaTrainer.get_meta_params()`.
        hidden_units: int. Units per LSTM layer (20).
        num_layers: int. LSTM layers (2).
        preprocess: str. `"log_sign"` (the paper's) or `"none"`.
        p: float. `p` of the log/sign preprocessing (10).
        output_scale: float. Multiplies the LSTM's output.
        learning_rate: float. Multiplies the learned update; 1.0 applies the
            rule exactly as meta-trained.
        jit_compile: bool. Compile the rule (the LSTM step of one variable)
            with XLA, also when the model's train step is not compiled: XLA
            fuses the gates' elementwise work, which sets the rule's cost
            on CPU (`benchmarks/l2l_step_cost.py`). Same result either way,
            up to float rounding. TensorFlow and JAX; PyTorch runs the rule
            as it is.
        **kwargs: the common Keras optimizer arguments (`clipnorm`, ...).

    Example:
    ```python
    model.compile(optimizer=LearnedOptimizer.from_preset("l2l_mnist_mlp"),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=1)
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016.
    """

    def __init__(
        self,
        meta_params: dict,
        hidden_units: int = 20,
        num_layers: int = 2,
        preprocess: str = "log_sign",
        p: float = 10.0,
        output_scale: float = 0.1,
        learning_rate: float = 1.0,
        jit_compile: bool = True,
        name: str = "learned_optimizer",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rule_config = UpdateRuleConfig(hidden_units, num_layers, preprocess, p, output_scale)
        if not isinstance(jit_compile, bool):
            raise ValueError(f"jit_compile must be True or False. Received: {jit_compile!r}")
        self.jit_compile = jit_compile
        expected = self.rule_config.meta_param_shapes()
        if not isinstance(meta_params, dict) or set(meta_params) != set(expected):
            got = sorted(meta_params) if isinstance(meta_params, dict) else meta_params
            raise ValueError(
                f"meta_params must be a dict with keys {sorted(expected)}. Received: {got!r}"
            )
        self.meta_params = {}
        for key, shape in expected.items():
            value = np.asarray(meta_params[key], np.float32)
            if value.shape != shape:
                raise ValueError(
                    f"meta_params[{key!r}] must have shape {shape} for {self.rule_config}. "
                    f"Received: shape={value.shape}"
                )
            self.meta_params[key] = value

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        config = self.rule_config
        meta_params = self.meta_params

        def rule(gradient, state):
            # Constants made inside: the function may be traced in any graph.
            params = {k: ops.convert_to_tensor(v) for k, v in meta_params.items()}
            return lstm_update(gradient, state, params, config)

        self._rule = backend.jit(rule) if self.jit_compile else rule
        self._lstm_states = []
        for var in var_list:
            prefix = getattr(var, "path", var.name).replace("/", "_")
            shape = (config.hidden_units, int(np.prod(var.shape)))
            self._lstm_states.append(
                [
                    self.add_variable(shape, name=f"{prefix}_lstm{layer}_{part}")
                    for layer in range(config.num_layers)
                    for part in ("h", "c")
                ]
            )

    def update_step(self, gradient, variable, learning_rate):
        state = self._lstm_states[self._get_variable_index(variable)]
        gradient = ops.cast(ops.convert_to_tensor(gradient), "float32")
        update, new_state = self._rule(gradient, tuple(s.value for s in state))
        for var, value in zip(state, new_state, strict=True):
            self.assign(var, value)
        lr = ops.cast(learning_rate, variable.dtype)
        self.assign_add(variable, lr * ops.cast(update, variable.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **self.rule_config.as_dict(),
                "jit_compile": self.jit_compile,
                "meta_params": {k: v.tolist() for k, v in self.meta_params.items()},
            }
        )
        return config

    @classmethod
    def from_meta_trainer(cls, trainer, **kwargs: Any) -> LearnedOptimizer:
        """A frozen copy of a `L2LMetaTrainer`'s current update rule."""
        return cls(meta_params=trainer.get_meta_params(), **trainer.rule_config.as_dict(), **kwargs)

    @classmethod
    def from_preset(cls, name_or_dir: str | os.PathLike, **kwargs: Any) -> LearnedOptimizer:
        """Loads frozen meta-parameters from an L2L preset (a name or a folder).

        Args:
            name_or_dir: str. A registered preset (`metazoo list`, e.g.
                `"l2l_mnist_mlp"`) or a preset folder.
            **kwargs: optimizer arguments, e.g. `learning_rate` or `clipnorm`.

        Raises:
            ValueError: the preset is not a learned optimizer ("Received: ...").
        """
        kind = load_metadata(name_or_dir).get("kind")
        if kind != "learned_optimizer":
            raise ValueError(
                f"LearnedOptimizer.from_preset needs a learned-optimizer preset. "
                f"Received: {str(name_or_dir)!r} of kind {kind!r}"
            )
        trainer = L2LMetaTrainer.from_preset(name_or_dir, compile=False)
        return cls.from_meta_trainer(trainer, **kwargs)
