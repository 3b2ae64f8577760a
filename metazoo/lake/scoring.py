"""Scoring episodic models on Lake runs, and comparing two models on the same runs."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from metazoo.evaluation import mean_ci95
from metazoo.lake.format import WAYS, LakeRun


@dataclass(frozen=True)
class LakeScore:
    """Lake benchmark result: fraction right over all items, and per run.

    Attributes:
        accuracy: float. Fraction of all test items classified correctly.
        ci95: float. 95% half-width over runs (`1.96 std / sqrt(runs)`).
        trials: int. Test items scored (400 for the official 20 runs).
        run_errors: dict. Run name -> error rate (fraction wrong) of that run.
    """

    accuracy: float
    ci95: float
    trials: int
    run_errors: dict

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f}% right ({100 * (1 - self.accuracy):.2f}% error) "
            f"on {self.trials} items of {len(self.run_errors)} runs"
        )


def score_lake_runs(model: keras.Model, runs: list[LakeRun], batch_size: int = 5) -> LakeScore:
    """Classifies every run's test items with `model` (each run is one 20-way 1-shot episode).

    Args:
        model: keras.Model. An episodic classifier: `(support, support_labels,
            query)` -> query logits (ProtoNet, Siamese, ..., or the
            `ModifiedHausdorff` baseline).
        runs: list of `LakeRun`, with the model's input size.
        batch_size: int. Runs per forward pass.
    """
    if not runs:
        raise ValueError("No runs to score. Received: runs=[]")
    predictions = []
    for i in range(0, len(runs), batch_size):
        chunk = runs[i : i + batch_size]
        support = np.stack([r.training for r in chunk])
        query = np.stack([r.test for r in chunk])
        labels = np.tile(np.arange(WAYS, dtype=np.int32), (len(chunk), 1))
        logits = model((support, labels, query), training=False)
        predictions.append(np.argmax(keras.ops.convert_to_numpy(logits), axis=-1))
    hits = np.concatenate(predictions) == np.stack([r.answers for r in runs])
    per_run = hits.mean(axis=1)
    _, ci95 = mean_ci95(per_run)
    return LakeScore(
        accuracy=float(hits.mean()),
        ci95=ci95,
        trials=int(hits.size),
        run_errors={r.name: float(1 - a) for r, a in zip(runs, per_run, strict=True)},
    )


def compare_lake_scores(run_errors_a: dict, run_errors_b: dict) -> dict:
    """Paired accuracy difference of two models on the same runs (A minus B).

    Two models scored on the same runs can be compared far more precisely
    than their separate intervals suggest: a run that is hard for one is
    usually hard for the other. This takes the per-run accuracy difference
    and its 95% half-width over runs, so `ci95` says whether the
    difference is beyond run-to-run noise.

    Args:
        run_errors_a: dict. Run name -> error rate of model A (`LakeScore.run_errors`,
            or `run_errors` of `metazoo eval --lake-runs --json`).
        run_errors_b: dict. The same for model B, on the same runs.

    Returns:
        dict with `runs`, `accuracy_a`, `accuracy_b`, `difference`
        (accuracy A - B, a fraction) and `ci95` (95% half-width of the
        difference over runs), `runs_a_better`, `runs_b_better`.

    Raises:
        ValueError: if the two were not scored on the same run names.
    """
    if not run_errors_a or set(run_errors_a) != set(run_errors_b):
        only_a = sorted(set(run_errors_a) - set(run_errors_b))
        only_b = sorted(set(run_errors_b) - set(run_errors_a))
        raise ValueError(
            "Both models must be scored on the same runs. "
            f"Received: {len(run_errors_a)} and {len(run_errors_b)} runs; "
            f"only in A: {only_a[:5]}, only in B: {only_b[:5]}"
        )
    names = sorted(run_errors_a)
    a = 1 - np.array([run_errors_a[n] for n in names], dtype=np.float64)
    b = 1 - np.array([run_errors_b[n] for n in names], dtype=np.float64)
    difference, ci95 = mean_ci95(a - b)
    return {
        "runs": len(names),
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "difference": difference,
        "ci95": ci95,
        "runs_a_better": int((a > b).sum()),
        "runs_b_better": int((a < b).sum()),
    }


def model_image_size(model: keras.Model) -> int:
    """The square, single-channel input size of an episodic model."""
    shape = tuple(getattr(model, "image_shape", ()) or ())
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 1:
        raise ValueError(
            "The Lake benchmark needs a model of square grey-scale images (image_shape "
            f"(size, size, 1)). Received: image_shape={shape or None}"
        )
    return int(shape[0])
