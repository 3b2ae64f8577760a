"""MetaLSTM measurements on the current Keras backend, for tests that compare backends.

`python -m tests.algorithms.meta_lstm_backend_checks OUT.npz IN.npz` (with
`KERAS_BACKEND` set) reads episodes built on TensorFlow from `IN.npz` and
writes what `measure` returns to `OUT.npz`.
"""

from __future__ import annotations

import keras
import numpy as np

from metazoo.algorithms.meta_lstm import MetaLSTM
from metazoo.networks import Conv4
from tests.backend_runs import run_checks

PRESETS = ("meta_lstm_omniglot_5w1s",)


def tiny_fit(seed: int = 0) -> dict:
    """Two `fit` steps of a tiny MetaLSTM on random 3-way episodes: losses, weights that moved."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.repeat(np.arange(3), 2), (2, 1)).astype("int32")
    x = (rng.uniform(size=(2, 6, 8, 8, 1)).astype("float32"), labels)
    x += (rng.uniform(size=(2, 6, 8, 8, 1)).astype("float32"),)
    keras.utils.set_random_seed(seed)
    model = MetaLSTM(Conv4(image_shape=(8, 8, 1), filters=2, blocks=1), ways=3, inner_steps=2,
                     inner_batch_size=3, hidden_units=2)  # fmt: skip
    model.compile()
    variables = model.trainable_weights
    before = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    history = model.fit(x, labels, batch_size=2, epochs=2, verbose=0)
    moved = [
        v.path
        for v, b in zip(variables, before, strict=True)
        if np.any(keras.ops.convert_to_numpy(v) != b)
    ]
    return {"fit_loss": history.history["loss"], "fit_moved": np.array(moved)}


def measure(inputs: dict) -> dict:
    """Each preset's query logits on the episodes (call and `predict`), and `tiny_fit`."""
    from metazoo.presets import load

    x = (inputs["support"], inputs["support_labels"], inputs["query"])
    out = {}
    for name in PRESETS:
        model = load(name)
        out[name] = keras.ops.convert_to_numpy(model(x))
        out[f"{name}_predict"] = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    return {**out, **tiny_fit()}


if __name__ == "__main__":
    run_checks(measure)
