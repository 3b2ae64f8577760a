"""MAML and Reptile measurements on the current Keras backend, for tests that compare backends.

`python -m tests.algorithms.maml_backend_checks OUT.npz IN.npz` (with
`KERAS_BACKEND` set) reads a tiny episode batch and initial weights from
`IN.npz`, writes what `measure` returns to `OUT.npz` and the model it
trained beside it (`OUT.keras`), so that a test under TensorFlow can check
the JAX and PyTorch numbers too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from metazoo.algorithms.inner_loop import cross_entropy, value_and_grad
from metazoo.algorithms.maml import MAML
from metazoo.algorithms.reptile import Reptile
from tests.backend_runs import run_checks

TINY = dict(ways=3, filters=3, image_shape=(8, 8, 1))
# Exact (with Meta-SGD step sizes, so they are checked too), first order, ANIL.
GRADIENT_CONFIGS = {
    "exact": dict(inner_steps=2, inner_lr=0.3, learn_inner_lr=True),
    "first_order": dict(inner_steps=1, inner_lr=0.3, first_order=True),
    "anil": dict(inner_steps=1, inner_lr=0.3, adapt="head"),
}
FD_DIRECTIONS = 3
FD_EPSILON = 1e-5


def tiny_inputs(seed: int = 0) -> dict:
    """Two 3-way episodes of 8x8 images (2 shots, 2 queries), initial weights, directions."""
    rng = np.random.default_rng(seed)
    inputs = {
        "support": rng.uniform(size=(2, 6, 8, 8, 1)),
        "support_labels": np.tile(np.repeat(np.arange(3), 2), (2, 1)).astype("int32"),
        "query": rng.uniform(size=(2, 6, 8, 8, 1)),
        "query_labels": np.tile(np.repeat(np.arange(3), 2), (2, 1)).astype("int32"),
    }
    for name, config in GRADIENT_CONFIGS.items():
        keras.utils.set_random_seed(seed)
        weights = MAML(**TINY, **config, dtype="float64").get_weights()
        for i, w in enumerate(weights):
            # Off the initializer's values (BN scale 1, offset 0), so nothing is special.
            inputs[f"{name}_w{i}"] = w + rng.normal(0, 0.1, w.shape)
            for d in range(FD_DIRECTIONS):
                inputs[f"{name}_d{d}_{i}"] = rng.normal(size=w.shape)
    return inputs


def _weights(inputs: dict, prefix: str) -> list:
    count = sum(1 for key in inputs if key.startswith(f"{prefix}_w"))
    return [np.asarray(inputs[f"{prefix}_w{i}"]) for i in range(count)]


def measure(inputs: dict, save_to: str | None = None) -> dict:
    """Meta-gradients, finite differences, adapted weights and logits on this backend.

    For each of `GRADIENT_CONFIGS` (float64, softplus): the gradient the
    default Keras `train_step` applies (read off one SGD step of size 1),
    central differences of the meta-loss along random directions, and the
    analytic first-order gradient (the query loss's gradient at the adapted
    weights, averaged over episodes). For the paper's float32 ReLU learner:
    each episode's adapted weights and query logits; `Reptile`'s weights
    after one `fit` step (SGD 0.5) from the same start; with `save_to`, the
    MAML model after one Adam step of `fit`, saved there as `.keras`, and
    its logits.
    """
    x64 = tuple(np.asarray(inputs[k], "float64") for k in ("support", "query"))
    x64 = (x64[0], inputs["support_labels"], x64[1])
    y = inputs["query_labels"]
    out = {}
    for name, config in GRADIENT_CONFIGS.items():
        model = MAML(**TINY, **config, activation="softplus", dtype="float64")
        start = _weights(inputs, name)
        model.set_weights(start)
        # Summed, and divided here: Keras's mean reduction divides in float32 on
        # PyTorch (`ops.divide_no_nan`), too coarse for float64 finite differences.
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="sum", dtype="float64"
        )

        def meta_loss(weights, model=model, loss=loss):
            model.set_weights(weights)
            return float(loss(y, model.predict_on_batch(x64))) / y.size

        for d in range(FD_DIRECTIONS):
            direction = [np.asarray(inputs[f"{name}_d{d}_{i}"]) for i in range(len(start))]
            plus = meta_loss([w + FD_EPSILON * v for w, v in zip(start, direction, strict=True)])
            minus = meta_loss([w - FD_EPSILON * v for w, v in zip(start, direction, strict=True)])
            out[f"{name}_fd{d}"] = (plus - minus) / (2 * FD_EPSILON)
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
        model.train_on_batch(x64, y)
        for i, (before, after) in enumerate(zip(start, model.get_weights(), strict=True)):
            out[f"{name}_grad{i}"] = (before - after) / y.size
        model.set_weights(start)
        # The analytic first-order gradient: d query loss / d adapted weights.
        sums = None
        for e in range(2):
            fast = model.adapt_parameters(x64[0][e], x64[1][e], training=True)

            def query_loss(params, e=e, model=model):
                return cross_entropy(model.learner.forward(params, x64[2][e]), y[e])

            _, grads = value_and_grad(query_loss, fast, create_graph=False)
            grads = [keras.ops.convert_to_numpy(g) / 2 for g in grads]
            sums = grads if sums is None else [a + b for a, b in zip(sums, grads, strict=True)]
        for i, g in enumerate(sums):
            out[f"{name}_fograd{i}"] = g

    model = MAML(**TINY, inner_steps=1, eval_inner_steps=3)
    model.set_weights([w.astype("float32") for w in _weights(inputs, "first_order")])
    x32 = (inputs["support"].astype("float32"), inputs["support_labels"])
    x32 += (inputs["query"].astype("float32"),)
    out["logits"] = keras.ops.convert_to_numpy(model(x32))
    for e in range(2):
        fast = model.adapt_parameters(x32[0][e], x32[1][e])
        for i, w in enumerate(fast):
            out[f"adapted{e}_{i}"] = keras.ops.convert_to_numpy(w)
    reptile = Reptile(**TINY, inner_steps=2, inner_lr=0.3)
    reptile.set_weights([w.astype("float32") for w in _weights(inputs, "first_order")])
    reptile.compile(optimizer=keras.optimizers.SGD(0.5))
    reptile.train_on_batch(x32, y)
    for i, w in enumerate(reptile.get_weights()):
        out[f"reptile{i}"] = w
    if save_to is not None:
        # A model trained (one Adam step) and saved here, for loading on another backend.
        model.compile()
        model.train_on_batch(x32, y)
        out["trained_logits"] = keras.ops.convert_to_numpy(model.predict_on_batch(x32))
        model.save(save_to)
    return out


if __name__ == "__main__":
    # Beside OUT.npz, the model trained here: OUT.keras (e.g. jax.keras).
    saved = Path(sys.argv[1]).with_suffix(".keras")
    run_checks(lambda values: measure(values, save_to=saved))
