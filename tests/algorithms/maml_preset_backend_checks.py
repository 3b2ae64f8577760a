"""MAML preset measurements on the current Keras backend, for tests that compare backends.

`python -m tests.algorithms.maml_preset_backend_checks OUT.npz IN.npz` (with
`KERAS_BACKEND` set) reads episodes built on TensorFlow from `IN.npz` and
writes what `measure` returns to `OUT.npz`.
"""

from __future__ import annotations

import keras

from metazoo import presets
from tests.backend_runs import run_checks

# Every committed preset of the MAML family (the zoo's, not a user's folder).
PRESETS = tuple(
    sorted(
        name
        for name, metadata in presets.list_presets().items()
        if metadata.get("training", {}).get("algorithm") == "maml"
    )
)


def measure(inputs: dict) -> dict:
    """Each preset's query logits on the episodes: a call (its own test steps), `predict`."""
    x = (inputs["support"], inputs["support_labels"], inputs["query"])
    out = {}
    for name in PRESETS:
        model = presets.load(name)
        out[name] = keras.ops.convert_to_numpy(model(x))
        out[f"{name}_predict"] = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    return out


if __name__ == "__main__":
    run_checks(measure)
