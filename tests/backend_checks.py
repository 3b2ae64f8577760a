"""Outputs of the embedding models and image layers on the current Keras backend.

`python -m tests.backend_checks OUT.npz` (with `KERAS_BACKEND` set) writes
what `measure` returns to `OUT.npz`, so that a test under TensorFlow can
compare another backend's numbers with its own. No data files: the
episodes are random ink images drawn by numpy (fed to the evaluation loop
through `tf.data`, as metazoo's datasets are).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf  # the data pipeline's, on every backend

from metazoo.algorithms.augmentation import CenterInk, RandomAffine, affine_warp
from metazoo.backend import has_values
from metazoo.evaluation import evaluate_episodes, evaluate_pairs
from metazoo.presets import load
from tests.backend_runs import run_checks

EMBEDDING_PRESETS = (
    "protonet_omniglot",
    "protonet_omniglot_5shot",
    "protonet_omniglot_lake",
    "siamese_omniglot",
)


def ink_images(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """float32 drawings (ink = 1 on 0): a few random strokes, then light noise."""
    images = np.zeros(shape, np.float32)
    height, width = shape[-3:-1]
    flat = images.reshape((-1, height, width))
    for image in flat:
        for _ in range(3):
            (r0, c0), (r1, c1) = rng.integers(3, min(height, width) - 3, size=(2, 2))
            steps = np.linspace(0, 1, 40)
            rows = np.round(r0 + (r1 - r0) * steps).astype(int)
            image[rows, np.round(c0 + (c1 - c0) * steps).astype(int)] = 1
    noise = rng.uniform(size=shape) < 0.02
    return np.maximum(images, noise).astype(np.float32)


def episodes(seed: int = 0) -> dict:
    """Two 5-way 2-shot episodes of 28x28 drawings (3 queries per class), labels shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.permutation(np.repeat(np.arange(5), 2)) for _ in range(2)])
    return {
        "support": ink_images(rng, (2, 10, 28, 28, 1)),
        "support_labels": labels.astype("int32"),
        "query": ink_images(rng, (2, 15, 28, 28, 1)),
        "query_labels": np.stack([rng.permutation(np.repeat(np.arange(5), 3)) for _ in range(2)]),
        "same": (rng.uniform(size=10) < 0.5).astype("int32"),
        "matrices": rng.normal(0, 0.5, (4, 2, 2)).astype("float32") + np.eye(2, dtype="float32"),
        "offsets": rng.normal(0, 2, (4, 2)).astype("float32"),
    }


def _numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def _raises(fn) -> bool:
    try:
        fn()
    except ValueError:
        return True
    return False


def _has_values_when_traced() -> bool:
    """`has_values` of an argument inside this backend's compiled function."""
    seen = []

    def fn(x):
        seen.append(has_values(x))
        return x

    backend = keras.config.backend()
    if backend == "jax":
        import jax

        jax.jit(fn)(np.zeros(2))
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.function(fn)(np.zeros(2))
    else:  # PyTorch runs eagerly; its symbolic tensors live on the meta device.
        import torch

        fn(torch.zeros(2, device="meta"))
    return seen[0]


def measure(inputs: dict) -> dict:
    """Each preset's query logits, the layers' outputs, and the input checks' verdicts."""
    support, labels, query = (inputs[k] for k in ("support", "support_labels", "query"))
    out = {}
    for name in EMBEDDING_PRESETS:
        model = load(name)
        out[name] = _numpy(model((support, labels, query)))
        out[f"{name}_single"] = _numpy(model((support[0], labels[0], query[0])))
        if name.startswith("siamese"):
            out[f"{name}_pairs"] = _numpy(model((support[0], query[0, :10])))
            pairs = ((support[0], query[0, :10]), inputs["same"])
            pairs = tf.data.Dataset.from_tensor_slices(pairs)
            score = evaluate_pairs(model, pairs.batch(4), 10, verbose=0)
            out[f"{name}_pair_scores"] = [score.accuracy, score.auc]
        # The evaluation loop, on episodes from tf.data as metazoo's data give them.
        data = ((support, labels, query), inputs["query_labels"])
        data = tf.data.Dataset.from_tensor_slices(data)
        out[f"{name}_accuracy"] = evaluate_episodes(model, data, 2, verbose=0).per_episode
        # The input checks see this backend's arrays as values.
        tensors = tuple(keras.ops.convert_to_tensor(x) for x in (support * 255, labels, query))
        out[f"{name}_refuses_0_255"] = _raises(lambda m=model, t=tensors: m(t))

    images = support[0]
    out["center_ink"] = _numpy(CenterInk()(images))
    out["affine_warp"] = _numpy(affine_warp(images[:4], inputs["matrices"], inputs["offsets"]))
    layer = RandomAffine(seed=3)
    distorted = _numpy(layer(images, training=True))
    out["affine_changes"] = not np.allclose(distorted, images)
    out["affine_in_range"] = bool(distorted.min() >= -1e-6 and distorted.max() <= 1 + 1e-6)
    out["affine_inference_is_identity"] = np.array_equal(_numpy(layer(images)), images)
    off = RandomAffine(probability=0.0, seed=3)
    out["affine_off_is_identity"] = np.allclose(_numpy(off(images, training=True)), images)
    again = RandomAffine.from_config(layer.get_config())
    out["affine_round_trip"] = again.get_config() == layer.get_config()
    out["has_values_eager"] = has_values(keras.ops.convert_to_tensor(images), images)
    out["has_values_symbolic"] = has_values(keras.KerasTensor((None, 28, 28, 1)))
    out["has_values_traced"] = _has_values_when_traced()
    return out


if __name__ == "__main__":
    run_checks(lambda: measure(episodes()))
