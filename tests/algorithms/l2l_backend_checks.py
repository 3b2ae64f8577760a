"""L2L measurements on the current Keras backend, for tests that compare backends.

`python -m tests.algorithms.l2l_backend_checks OUT.npz` (with `KERAS_BACKEND`
set) writes what `measure` returns to `OUT.npz`, so that a test under
TensorFlow can check the JAX and PyTorch numbers too. The meta-gradient
checks start from one fixed task (numpy values); the rollout, meta-training
and draws use each backend's seeded draws, which are TensorFlow's on every
backend (`metazoo.stateless_random` off TensorFlow).
"""

from __future__ import annotations

import keras
import numpy as np

from metazoo.algorithms.l2l import (
    L2LMetaTrainer,
    LearnedOptimizer,
    Quadratic,
    init_meta_params,
    meta_training_data,
)
from metazoo.algorithms.l2l.rollout import Rollout
from metazoo.backend import stateless_fold_in, stateless_normal, stateless_randint
from tests.backend_runs import run_checks

PRESETS = ("l2l_quadratic", "l2l_mnist_mlp")
UNROLL = 2
RULE = dict(hidden_units=4, num_layers=2)


def gradients(seed: int = 0) -> list[list[np.ndarray]]:
    """Two optimizer steps' gradients for a `[2, 3]` and a `[4]` variable, zeros included."""
    rng = np.random.default_rng(seed)
    steps = []
    for scale in (1.0, 1e-3):
        grads = [rng.normal(0, scale, (2, 3)), rng.normal(0, scale, (4,))]
        grads[0][0, 0] = 0.0
        steps.append([g.astype("float32") for g in grads])
    return steps


class FixedQuadratic(Quadratic):
    """A `Quadratic` whose every sample is one fixed function: the same task on every backend."""

    def sample(self, seed):
        rng = np.random.default_rng(5)
        k, d = self.num_functions, self.dims
        w = rng.normal(size=(k, d, d)).astype("float32")
        y = rng.normal(size=(k, d)).astype("float32")
        params = (0.1 * rng.normal(size=(k * d,))).astype("float32")
        return keras.ops.convert_to_tensor(params), (
            keras.ops.convert_to_tensor(w),
            keras.ops.convert_to_tensor(y),
        )


def meta_params() -> dict[str, np.ndarray]:
    """Meta-parameters with a non-zero output layer, so every one has a gradient."""
    params = init_meta_params(L2LMetaTrainer(Quadratic(2, 2), **RULE).rule_config, seed=1)
    params["output/kernel"] = np.linspace(-1, 1, RULE["hidden_units"], dtype="float32")[:, None]
    params["output/bias"] = np.array([0.05], "float32")
    return params


def _meta_gradients(out: dict) -> None:
    trainer = L2LMetaTrainer(FixedQuadratic(dims=3, num_functions=2), UNROLL, 2 * UNROLL, **RULE)
    trainer.set_meta_params(meta_params())
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    batches = np.zeros((UNROLL + 1,), "float32")
    # Step 0 starts the optimizee; step 1 continues from the carry that step 0 left.
    for step, reset in enumerate((True, False)):
        data = {"reset": np.array(reset), "seed": np.array([0, 0], "int32"), "batches": batches}
        before = trainer.get_meta_params()
        logs = trainer.train_on_batch(data, return_dict=True)
        out[f"meta_loss{step}"] = np.float32(logs["loss"])
        for name, value in trainer.get_meta_params().items():
            out[f"meta_grad{step}_{name}"] = before[name] - value
    out["carry_params"] = keras.ops.convert_to_numpy(trainer._carry.params)


def measure() -> dict:
    """The numbers the L2L backend tests compare (see `tests/algorithms/test_l2l_backends.py`)."""
    out = {"backend": np.array(keras.config.backend())}
    for preset in PRESETS:
        optimizer = LearnedOptimizer.from_preset(preset)
        variables = [keras.Variable(np.ones((2, 3), "float32")), keras.Variable(np.zeros(4))]
        for grads in gradients():
            optimizer.apply(grads, variables)
        for i, value in enumerate([*variables, *optimizer.variables[2:]]):
            out[f"{preset}_{i}"] = keras.ops.convert_to_numpy(value)

    _meta_gradients(out)

    # LearnedOptimizer in compile / fit of a tiny model, from the same weights and batches.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.weights])
    optimizer = LearnedOptimizer(meta_params(), **RULE)
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    out["fit_loss"] = np.array(history.history["loss"], "float32")
    for i, weight in enumerate(model.get_weights()):
        out[f"fit_weight{i}"] = weight
    out["fit_states_nonzero"] = np.array(
        [np.any(keras.ops.convert_to_numpy(v) != 0) for v in optimizer.variables[2:]]
    )

    # Meta-training with `fit` on the seeded tasks: it runs and carries state.
    keras.utils.set_random_seed(0)
    trainer = L2LMetaTrainer(Quadratic(dims=3, num_functions=2), UNROLL, 2 * UNROLL, **RULE)
    trainer.compile()
    data = meta_training_data(trainer.optimizee, UNROLL, 2 * UNROLL)
    history = trainer.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    out["train_loss"] = np.array(history.history["loss"], "float32")
    out["train_carry_nonzero"] = np.any(keras.ops.convert_to_numpy(trainer._carry.params) != 0)

    # The learned optimizer on the seeded optimizees (the same tasks on every backend).
    rollout = Rollout(
        Quadratic(num_functions=4), LearnedOptimizer.from_preset(PRESETS[0]), 10, "test", 2
    )
    out["rollout_curve"], out["rollout_finals"] = rollout(stream=1_000_000)

    # Seeded draws: the same seed draws the same numbers; another seed, others.
    seed = np.array([3, -4], "int32")
    out["draw_fold_in"] = np.stack(
        [keras.ops.convert_to_numpy(stateless_fold_in(seed, d)) for d in (0, 1, 2**31 - 1)]
    )
    for name, draw in {
        "normal": lambda s: stateless_normal((1000,), s),
        "randint": lambda s: stateless_randint((1000,), s, 0, 60_000),
    }.items():
        values = [draw(s) for s in (seed, seed, stateless_fold_in(seed, 1))]
        out[f"draw_{name}"] = np.stack([keras.ops.convert_to_numpy(v) for v in values])
    return out


if __name__ == "__main__":
    run_checks(measure)
