"""Resumable `fit` for meta-training runs that take hours: Keras callbacks only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import tensorflow as tf


def completed_epochs(backup_dir: str | os.PathLike) -> int:
    """Epochs a `keras.callbacks.BackupAndRestore` backup in `backup_dir` has finished."""
    meta = Path(backup_dir) / "training_metadata.json"
    if not meta.is_file():
        return 0
    return int(json.loads(meta.read_text()).get("epoch", 0))


def step_decay(initial: float, every: int, factor: float = 0.5):
    """Learning rate `initial * factor ** (step // every)` (Snell et al.: halve every 2,000)."""
    return keras.optimizers.schedules.ExponentialDecay(
        initial, decay_steps=every, decay_rate=factor, staircase=True
    )


def fit_resumable(
    model: keras.Model,
    make_dataset,
    total_steps: int,
    steps_per_epoch: int,
    backup_dir: str | os.PathLike | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> keras.callbacks.History:
    """Runs `model.fit` for `total_steps`, resumable from `backup_dir`.

    Rerunning the same call after an interruption continues from the last
    finished epoch (weights, optimizer state and learning-rate schedule from
    `BackupAndRestore`), and the data continue where they stopped:
    `make_dataset(start)` must return the training data from step `start` on
    (e.g. episodes with index >= start). A NaN loss stops training
    (`TerminateOnNaN`) with an error.

    Args:
        model: keras.Model. Compiled and built.
        make_dataset: callable. `start -> tf.data.Dataset`, endless.
        total_steps: int. Training steps (episodes) in all.
        steps_per_epoch: int. Steps between backups and progress lines.
        backup_dir: str. Where `BackupAndRestore` keeps its state; `None`
            trains without backups.
        callbacks: list. More Keras callbacks.
        verbose: passed to `fit`.
    """
    if total_steps < 1 or steps_per_epoch < 1:
        raise ValueError(
            "total_steps and steps_per_epoch must be positive. Received: "
            f"total_steps={total_steps}, steps_per_epoch={steps_per_epoch}"
        )
    if not model.built:
        raise ValueError("Build the model before fitting it (see its build()).")
    epochs = -(-total_steps // steps_per_epoch)
    callbacks = list(callbacks or [])
    start_epoch = 0
    if backup_dir is not None:
        start_epoch = completed_epochs(backup_dir)
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False))
    nan_stop = keras.callbacks.TerminateOnNaN()
    callbacks.append(nan_stop)
    history = model.fit(
        make_dataset(start_epoch * steps_per_epoch),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
    )
    losses = history.history.get("loss", [])
    if model.stop_training and losses and not tf.math.is_finite(losses[-1]):
        raise FloatingPointError(
            f"Training stopped: the loss became {losses[-1]} in epoch "
            f"{start_epoch + len(losses)}. Lower the learning rate or check the data."
        )
    return history
