"""Resumable `fit` for meta-training runs that take hours: Keras callbacks only."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import keras
import numpy as np

RUN_FILE = "run.json"
_RUN_PARTS = {
    "model": "the model (architecture, settings)",
    "optimizer": "the optimizer (learning rate, schedule, clipping)",
    "steps_per_epoch": "the steps per epoch",
    "data": "the training data settings",
    "initial_weights_sha256": "the initial weights (another seed or init preset)",
}


def completed_epochs(backup_dir: str | os.PathLike) -> int:
    """Epochs a `keras.callbacks.BackupAndRestore` backup in `backup_dir` has finished."""
    meta = Path(backup_dir) / "training_metadata.json"
    if not meta.is_file():
        return 0
    return int(json.loads(meta.read_text()).get("epoch", 0))


def _without_names(value):
    # Keras numbers automatic names ("adam_1"); they say nothing about the run.
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def run_identity(model: keras.Model, steps_per_epoch: int, data: dict | None = None) -> dict:
    """What a backup must share with a run to resume it: everything but the run's length.

    The model's and optimizer's configs (automatic names left out), the
    steps per epoch, the data settings and a hash of the weights the run
    starts from (they differ with the seed or an init preset).
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    architecture = keras.saving.serialize_keras_object(model)
    architecture.pop("compile_config", None)  # the optimizer has its own entry
    identity = {
        "model": architecture,
        "optimizer": keras.optimizers.serialize(model.optimizer),
        "steps_per_epoch": steps_per_epoch,
        "data": data or {},
        "initial_weights_sha256": digest.hexdigest(),
    }
    return json.loads(json.dumps(_without_names(identity)))


def check_backup_run(backup_dir: str | os.PathLike, identity: dict) -> None:
    """Records `identity` in a new backup; raises `ValueError` if the backup is another run's.

    Without this, `BackupAndRestore` would silently restore another run's
    weights (say, the same `--output` trained before with other settings).
    A longer or shorter run of the same settings resumes.
    """
    path = Path(backup_dir) / RUN_FILE
    if completed_epochs(backup_dir) == 0:
        # Nothing to restore yet: this run's identity, written whole or not at all.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(identity, indent=1))
        os.replace(tmp, path)
    elif path.is_file():
        recorded = json.loads(path.read_text())
        differ = [_RUN_PARTS[k] for k in identity if recorded.get(k) != identity[k]]
        if differ:
            raise ValueError(
                f"The backup in {str(backup_dir)!r} belongs to another run: "
                f"{'; '.join(differ)} differ from this run's. Resume it with the "
                "settings it was started with, or give this run another backup "
                "folder (--backup-dir, or another --output), or delete that folder."
            )
    # (A backup made before run.json existed resumes unchecked.)


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
    data: dict | None = None,
) -> keras.callbacks.History:
    """Runs `model.fit` for `total_steps`, resumable from `backup_dir`.

    Rerunning the same call after an interruption continues from the last
    finished epoch (weights, optimizer state and learning-rate schedule from
    `BackupAndRestore`), and the data continue where they stopped:
    `make_dataset(start)` must return the training data from step `start` on
    (e.g. episodes with index >= start). A NaN loss stops training
    (`TerminateOnNaN`) with an error. The backup records the run it belongs
    to (`run_identity`); resuming it with other settings raises `ValueError`
    instead of silently continuing the other run.

    Args:
        model: keras.Model. Compiled and built.
        make_dataset: callable. `start ->` endless training data (`tf.data` or
            a `keras.utils.PyDataset`).
        total_steps: int. Training steps (episodes) in all.
        steps_per_epoch: int. Steps between backups and progress lines.
        backup_dir: str. Where `BackupAndRestore` keeps its state; `None`
            trains without backups.
        callbacks: list. More Keras callbacks.
        verbose: passed to `fit`.
        data: dict. The training data's settings (seed, split, ...), part of
            the run's identity; paths that may move belong elsewhere.
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
        check_backup_run(backup_dir, run_identity(model, steps_per_epoch, data))
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False))
    nan_stop = keras.callbacks.TerminateOnNaN()
    callbacks.append(nan_stop)
    history = model.fit(
        make_dataset(start_epoch * steps_per_epoch),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # endless seeded data: Keras could not shuffle it, only warn
    )
    losses = history.history.get("loss", [])
    if model.stop_training and losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"Training stopped: the loss became {losses[-1]} in epoch "
            f"{start_epoch + len(losses)}. Lower the learning rate or check the data."
        )
    return history
