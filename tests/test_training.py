"""Resumable training: a backup resumes its own run, and refuses another's."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.training import RUN_FILE, completed_epochs, fit_resumable


def tiny_model(learning_rate=0.1, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def regression_data(start):
    x = tf.random.stateless_normal([32, 3], seed=[1, 2])
    return tf.data.Dataset.from_tensors((x, tf.reduce_sum(x, -1, keepdims=True))).repeat()


def fit(model, backup, steps=4, data=None):
    return fit_resumable(model, regression_data, steps, 2, backup, verbose=0, data=data)


def test_resumes_its_own_run_and_can_be_lengthened(tmp_path):
    backup = tmp_path / "backup"
    fit(tiny_model(), backup, data={"seed": 0})
    assert completed_epochs(backup) == 2 and (backup / RUN_FILE).is_file()
    # The same settings in a new process (a new model, names numbered anew) resume, for longer.
    model = tiny_model()
    fit(model, backup, steps=6, data={"seed": 0})
    assert completed_epochs(backup) == 3
    straight = tiny_model()
    fit(straight, tmp_path / "straight", steps=6, data={"seed": 0})
    for a, b in zip(model.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize(
    "other, data, message",
    [
        ({"learning_rate": 0.2}, {"seed": 0}, "the optimizer"),
        ({"seed": 1}, {"seed": 0}, "the initial weights"),
        ({}, {"seed": 1}, "the training data settings"),
    ],
)
def test_another_runs_backup_is_a_clear_error(tmp_path, other, data, message):
    backup = tmp_path / "backup"
    fit(tiny_model(), backup, data={"seed": 0})
    before = {p.name: p.read_bytes() for p in backup.iterdir()}
    with pytest.raises(ValueError, match=f"belongs to another run: {message}"):
        fit(tiny_model(**other), backup, data=data)
    # Nothing was restored or written.
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == before


def test_a_run_that_never_finished_an_epoch_does_not_block_the_folder(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / RUN_FILE).write_text(json.dumps({"model": "another"}))
    fit(tiny_model(), backup)
    assert completed_epochs(backup) == 2
    assert json.loads((backup / RUN_FILE).read_text())["model"] != "another"
