"""Checks every episodic model must pass (as KerasHub's TestCase): one call per model."""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf

from metazoo.presets import load, save_preset


def assert_weights_equal(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=0)


def run_episodic_model_checks(make_model, episodes: tf.data.Dataset, tmp_path) -> None:
    """Serialization, fit, evaluate, predict, .keras round trip, preset round trip.

    Args:
        make_model: callable returning a fresh, compiled model.
        episodes: endless dataset of tiny episodes.
        tmp_path: pytest's tmp_path.
    """
    model = make_model()
    # Serialization round trip: same config, same outputs.
    config = keras.saving.serialize_keras_object(model)
    json.dumps(config)
    clone = keras.saving.deserialize_keras_object(config)
    clone.set_weights(model.get_weights())
    x, y = next(iter(episodes))
    np.testing.assert_allclose(model(x), clone(x), atol=1e-5)

    # fit / evaluate / predict on episodes.
    history = model.fit(episodes, steps_per_epoch=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    logs = model.evaluate(episodes.take(2), verbose=0, return_dict=True)
    assert 0.0 <= logs["accuracy"] <= 1.0
    logits = model.predict(episodes.take(1).map(lambda x, y: (x,)), verbose=0)
    assert logits.shape[0] == y.shape[0]

    # .keras: save, load, continue fit -> identical weights and optimizer state.
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert_weights_equal(model.optimizer.variables, loaded.optimizer.variables)
    data = list(episodes.take(2))
    again = tf.data.Dataset.from_tensors(data[0]).concatenate(tf.data.Dataset.from_tensors(data[1]))
    model.fit(again, epochs=1, verbose=0)
    loaded.fit(again, epochs=1, verbose=0)
    np.testing.assert_allclose(
        np.concatenate([np.ravel(w) for w in model.get_weights()]),
        np.concatenate([np.ravel(w) for w in loaded.get_weights()]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert int(model.optimizer.iterations) == int(loaded.optimizer.iterations) > 0

    # Preset: save, load (checksum, safe mode), same outputs.
    preset = save_preset(model, tmp_path / "preset", {"description": "test"})
    restored = load(preset)
    np.testing.assert_allclose(model(x), restored(x), atol=1e-5)
