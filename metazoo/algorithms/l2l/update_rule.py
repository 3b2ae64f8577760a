"""The L2L update rule: a coordinatewise LSTM as pure functions (optax style).

Meta-parameters (the LSTM's weights) are a plain `dict` of tensors, kept apart
from what uses them: `L2LMetaTrainer` trains them, `LearnedOptimizer` applies
them frozen. Both call the same `lstm_update`.

One set of weights is shared by every coordinate of the optimizee (the
paper's coordinate sharing): a gradient of any shape is flattened to
`[n]`, each coordinate is one column of an LSTM batch, and the state is
`(h_0, c_0, h_1, c_1, ...)`, each `[hidden_units, n]`. Coordinates go last
so that the gates are contiguous row blocks: on CPU the elementwise work,
not the matmuls, sets the cost, and this layout copies nothing.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from keras import ops

from metazoo.backend import matmul_transposed
from metazoo.checks import check_int

PREPROCESSINGS = ("log_sign", "none")


@dataclasses.dataclass(frozen=True)
class UpdateRuleConfig:
    """Shape and fixed hyper-parameters of the coordinatewise LSTM update rule.

    Args:
        hidden_units: int. Units of every LSTM layer (20 in the paper).
        num_layers: int. Stacked LSTM layers (2 in the paper).
        preprocess: str. `"log_sign"`, the paper's scheme
            `(log|g| / p, sign g)` for `|g| >= e^-p`, else `(-1, e^p g)`; or
            `"none"` for the raw gradient.
        p: float. The `p` of the log/sign scheme (10 in the paper).
        output_scale: float. Multiplies the LSTM's linear output (the update).

    Example:
    ```python
    config = UpdateRuleConfig(hidden_units=20, num_layers=2)
    meta_params = init_meta_params(config, seed=0)
    ```
    """

    hidden_units: int = 20
    num_layers: int = 2
    preprocess: str = "log_sign"
    p: float = 10.0
    output_scale: float = 0.1

    def __post_init__(self):
        for name in ("hidden_units", "num_layers"):
            check_int(name, getattr(self, name))
        if self.preprocess not in PREPROCESSINGS:
            raise ValueError(
                f"preprocess must be one of {PREPROCESSINGS}. "
                f"Received: preprocess={self.preprocess!r}"
            )
        if not self.p > 0:
            raise ValueError(f"p must be positive. Received: p={self.p!r}")

    @property
    def input_dim(self) -> int:
        return 2 if self.preprocess == "log_sign" else 1

    def meta_param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every meta-parameter, in a fixed order."""
        h = self.hidden_units
        shapes = {}
        for layer in range(self.num_layers):
            fan_in = (self.input_dim if layer == 0 else h) + h
            # Input and recurrent kernels fused: one matmul per layer and step.
            shapes[f"lstm_{layer}/kernel"] = (fan_in, 4 * h)
            shapes[f"lstm_{layer}/bias"] = (4 * h,)
        shapes["output/kernel"] = (h, 1)
        shapes["output/bias"] = (1,)
        return shapes

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def init_meta_params(config: UpdateRuleConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial meta-parameters: Glorot-uniform LSTM kernels, forget-gate bias 1, zero output.

    The zero output layer makes the untrained rule a no-op (no update), so
    meta-training starts from a stable optimizer and learns the step.

    Args:
        config: UpdateRuleConfig. The rule's shape.
        seed: int. Seed of the kernels' random initialization.

    Returns:
        dict name -> float32 numpy array, ordered as `config.meta_param_shapes()`.
    """
    rng = np.random.default_rng(seed)
    h = config.hidden_units
    params = {}
    for name, shape in config.meta_param_shapes().items():
        if name.endswith("kernel") and name.startswith("lstm"):
            limit = math.sqrt(6.0 / (shape[0] + shape[1]))
            params[name] = rng.uniform(-limit, limit, shape).astype(np.float32)
        elif name.endswith("bias") and name.startswith("lstm"):
            bias = np.zeros(shape, np.float32)
            bias[h : 2 * h] = 1.0  # Gates are ordered i, f, o, then the cell input.
            params[name] = bias
        else:
            params[name] = np.zeros(shape, np.float32)
    return params


def init_state(config: UpdateRuleConfig, num_coordinates: int, dtype="float32") -> tuple:
    """Zero LSTM state: `(h_0, c_0, ..., h_{L-1}, c_{L-1})`, each `[hidden_units, n]`."""
    shape = (config.hidden_units, num_coordinates)
    return tuple(ops.zeros(shape, dtype) for _ in range(2 * config.num_layers))


def preprocess_gradient(gradient, p: float = 10.0, axis: int = -1):
    """The paper's log/sign preprocessing: `[...] -> [..., 2]` (the new axis at `axis`).

    `(log|g| / p, sign g)` where `|g| >= e^-p`, else `(-1, e^p g)`: both
    parts are continuous in `g`, and the gradient w.r.t. `g` is finite
    everywhere, `g = 0` included (the log only ever sees a safe input).

    Args:
        gradient: tensor. Any shape, float.
        p: float. Scale of the log (10 in the paper).
        axis: int. Where the two features go in the output.

    Example:
    ```python
    preprocess_gradient(np.array([0.0, -0.1], "float32"))  # [[-1, 0], [-0.2303, -1]]
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016, Appendix A.
    """
    gradient = ops.convert_to_tensor(gradient)
    magnitude = ops.abs(gradient)
    large = magnitude >= math.exp(-p)
    # `where` before the log: the untaken branch must not be log(0), whose
    # zero-times-infinite gradient would be NaN (on every backend).
    safe = ops.where(large, magnitude, ops.ones_like(magnitude))
    log_part = ops.where(large, ops.log(safe) / p, -ops.ones_like(gradient))
    sign_part = ops.where(large, ops.sign(gradient), gradient * math.exp(p))
    return ops.stack([log_part, sign_part], axis=axis)


def _lstm_layer(inputs, h, c, kernel, bias):
    # Coordinates on the last axis: gate slices are contiguous rows (no copies).
    units = h.shape[0]
    z = matmul_transposed(kernel, ops.concatenate([inputs, h], axis=0)) + bias[:, None]
    gates = ops.sigmoid(z[: 3 * units])
    i, f, o = gates[:units], gates[units : 2 * units], gates[2 * units :]
    c = f * c + i * ops.tanh(z[3 * units :])
    h = o * ops.tanh(c)
    return h, c


def lstm_update(
    gradient, state: tuple, meta_params: dict, config: UpdateRuleConfig
) -> tuple[object, tuple]:
    """One step of the coordinatewise LSTM optimizer: `(gradient, state) -> (update, state)`.

    The optimizee then takes `theta + update` (the update already points
    downhill once meta-trained; there is no minus sign or learning rate).

    Args:
        gradient: tensor. The optimizee's gradient, any shape (`n` elements).
        state: tuple. `(h_0, c_0, ..., h_{L-1}, c_{L-1})`, each
            `[hidden_units, n]`, from `init_state` or the previous call.
        meta_params: dict. Name -> tensor, as from `init_meta_params`.
        config: UpdateRuleConfig. The rule's shape and constants.

    Returns:
        `(update, new_state)`: the update has the gradient's shape.

    Example:
    ```python
    config = UpdateRuleConfig()
    params = init_meta_params(config)
    grad = np.array([0.5, -1e-6], "float32")
    update, state = lstm_update(grad, init_state(config, 2), params, config)
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016, Section 2.1.
    """
    gradient = ops.convert_to_tensor(gradient)
    if len(state) != 2 * config.num_layers:
        raise ValueError(
            f"state must hold h and c of {config.num_layers} layers "
            f"({2 * config.num_layers} tensors). Received: {len(state)}"
        )
    meta_params = {name: ops.convert_to_tensor(value) for name, value in meta_params.items()}
    flat = ops.reshape(gradient, (1, -1))
    if config.preprocess == "log_sign":
        x = preprocess_gradient(flat[0], config.p, axis=0)
    else:
        x = flat
    x = ops.cast(x, state[0].dtype)
    new_state = []
    for layer in range(config.num_layers):
        h, c = _lstm_layer(
            x,
            state[2 * layer],
            state[2 * layer + 1],
            meta_params[f"lstm_{layer}/kernel"],
            meta_params[f"lstm_{layer}/bias"],
        )
        new_state += [h, c]
        x = h
    out = matmul_transposed(meta_params["output/kernel"], x) + meta_params["output/bias"]
    update = config.output_scale * ops.reshape(out, ops.shape(gradient))
    return ops.cast(update, gradient.dtype), tuple(new_state)
