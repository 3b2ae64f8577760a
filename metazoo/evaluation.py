"""Few-shot evaluation: mean accuracy over episodes with a 95% confidence interval.

Also verification (same or different?) of image pairs, for models that give
P(same) of a pair (Siamese networks): accuracy and ROC AUC.

Both run on every Keras backend: the data are `tf.data` datasets (read as
numpy arrays where Keras does not run on TensorFlow) or a
`keras.utils.PyDataset` such as `EpisodeDataset` and `PairDataset`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import keras
import numpy as np
from keras import ops

from metazoo.backend import is_tf_dataset
from metazoo.checks import check_int


@dataclass(frozen=True)
class EpisodeScore:
    """Accuracy over `episodes` episodes: mean and 95% CI half-width (1.96 std / sqrt(E))."""

    accuracy: float
    ci95: float
    episodes: int
    per_episode: tuple[float, ...]

    def as_dict(self) -> dict:
        out = asdict(self)
        del out["per_episode"]
        return out

    def __str__(self) -> str:
        return f"{100 * self.accuracy:.2f} ± {100 * self.ci95:.2f}% ({self.episodes} episodes)"


def mean_ci95(values) -> tuple[float, float]:
    """Mean and 95% confidence half-width `1.96 * std / sqrt(n)` (std with ddof=0, as Snell)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("Cannot summarize zero episodes.")
    return float(values.mean()), float(1.96 * values.std() / math.sqrt(values.size))


def _compiled(fn):
    """`fn` as a `tf.function` on TensorFlow, beside the datasets' graph; as it is elsewhere.

    The function is traced once, on the first call, for batches of any size:
    the leading axis of every argument is left unknown. So a shorter last
    batch does not trace it again, and models that adapt to each episode
    (MAML, Meta-LSTM) trace one episode inside `keras.ops.map` instead of a
    batch of them unrolled: `tf.data` gives `take(n).batch(b)` a static batch
    size when `b` divides `n`, and 10 Meta-LSTM episodes unrolled took 94 s
    to trace and run once, against 19 s for one episode's graph
    (`benchmarks/eval_trace_cost.py`).
    """
    if keras.config.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    traced = []

    def any_batch(*args):
        if not traced:
            signature = tf.nest.map_structure(
                lambda x: tf.TensorSpec([None, *x.shape[1:]], tf.as_dtype(x.dtype)), args
            )
            traced.append(tf.function(fn, input_signature=signature))
        return traced[0](*args)

    return any_batch


def _elements(dataset):
    """Iterates a `PyDataset`, or a `tf.data.Dataset`: tensors on TensorFlow, numpy elsewhere."""
    if is_tf_dataset(dataset) and keras.config.backend() != "tensorflow":
        return dataset.as_numpy_iterator()
    return iter(dataset)


def _episode_batches(episodes, num_episodes: int, batch_size: int):
    """The first `num_episodes` episodes, stacked `batch_size` at a time."""
    if is_tf_dataset(episodes):
        yield from _elements(episodes.take(num_episodes).batch(batch_size))
        return
    first = itertools.islice(_elements(episodes), num_episodes)
    while chunk := list(itertools.islice(first, batch_size)):
        yield keras.tree.map_structure(lambda *parts: np.stack(parts), *chunk)


def evaluate_episodes(
    model: keras.Model,
    episodes,
    num_episodes: int,
    batch_size: int = 10,
    verbose: int = 1,
) -> EpisodeScore:
    """Scores a few-shot classifier on `num_episodes` episodes of `episodes`.

    Args:
        model: keras.Model. Maps an episode batch `(support, support_labels,
            query)` to query logits (every metazoo episodic classifier does).
        episodes: tf.data.Dataset or keras.utils.PyDataset. Unbatched
            episodes, e.g. from `omniglot_episodes` (an `EpisodeDataset`
            off TensorFlow).
        num_episodes: int. How many episodes to score.
        batch_size: int. Episodes per forward pass.
        verbose: int. 1 shows a Keras progress bar.

    Example:
    ```python
    score = evaluate_episodes(model, omniglot_episodes("test", 5, 1, 15), 1000)
    print(score)  # 98.xx ± 0.xx% (1000 episodes)
    ```
    """
    check_int("num_episodes", num_episodes)

    @_compiled
    def accuracies(x, y):
        logits = model(x, training=False)
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(logits, -1), "int32"), y), "float32")
        return ops.mean(hits, axis=-1)

    progress = keras.utils.Progbar(num_episodes, verbose=verbose, unit_name="episode")
    scores: list[float] = []
    for x, y in _episode_batches(episodes, num_episodes, batch_size):
        scores.extend(ops.convert_to_numpy(accuracies(x, ops.cast(y, "int32"))).tolist())
        progress.update(len(scores))
    if len(scores) < num_episodes:
        raise ValueError(
            f"The episode dataset ran out after {len(scores)} episodes. "
            f"Received: num_episodes={num_episodes}"
        )
    accuracy, ci95 = mean_ci95(scores)
    return EpisodeScore(accuracy, ci95, len(scores), tuple(scores))


@dataclass(frozen=True)
class PairScore:
    """Verification of `pairs` pairs: accuracy at P(same) = 0.5 (95% CI), and ROC AUC."""

    accuracy: float
    ci95: float
    auc: float
    pairs: int

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f} ± {100 * self.ci95:.2f}% "
            f"(ROC AUC {self.auc:.4f}, {self.pairs} pairs)"
        )


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (1 = positive).

    The probability that a random positive scores above a random negative,
    ties counting one half (the Mann-Whitney statistic, from average ranks).

    Raises:
        ValueError: if the labels are not all 0 or 1, or lack either class.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must have the same length. Received: {scores.size} scores, "
            f"{labels.size} labels"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1. Received: {np.unique(labels).tolist()}")
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"ROC AUC needs positives and negatives. Received: {n_pos} positive, {n_neg} negative"
        )
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # 1-based rank of each distinct score, averaged over its ties.
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def evaluate_pairs(
    model: keras.Model,
    pairs,
    num_pairs: int,
    verbose: int = 1,
) -> PairScore:
    """Scores a verification model on the first `num_pairs` pairs of `pairs`.

    A pair counts as right when P(same) > 0.5 for two drawings of one class,
    or <= 0.5 otherwise (Keras `BinaryAccuracy`); the 95% CI is
    `1.96 * sqrt(p (1 - p) / n)` over pairs. The ROC AUC ranks every pair by
    P(same), so it does not depend on that threshold.

    Args:
        model: keras.Model. Maps `(images_a, images_b)` to P(same) `[n, 1]`
            (a `SiameseNetwork`).
        pairs: tf.data.Dataset or keras.utils.PyDataset. Batches
            `((images_a, images_b), same)`, e.g.
            `omniglot_pairs("evaluation", ...)`.
        num_pairs: int. How many pairs to score.
        verbose: int. 1 shows a Keras progress bar.

    Example:
    ```python
    pairs = omniglot_pairs("evaluation", batch_size=500, same_alphabet_fraction=0.5)
    print(evaluate_pairs(model, pairs, 10_000))  # 9x.xx ± 0.xx% (ROC AUC 0.9xxx, ...)
    ```
    """
    check_int("num_pairs", num_pairs)

    @_compiled
    def probabilities(images_a, images_b):
        return ops.reshape(model((images_a, images_b), training=False), (-1,))

    progress = keras.utils.Progbar(num_pairs, verbose=verbose, unit_name="pair")
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    seen = 0
    for (images_a, images_b), same in _elements(pairs):
        batch = ops.convert_to_numpy(probabilities(images_a, images_b))
        if batch.shape[0] != len(same):
            raise ValueError(
                "The model must give one P(same) per pair. Received: "
                f"{batch.shape[0]} outputs for {len(same)} pairs"
            )
        scores.append(batch)
        labels.append(np.asarray(same).ravel())
        seen += batch.shape[0]
        progress.update(min(seen, num_pairs))
        if seen >= num_pairs:
            break
    if seen < num_pairs:
        raise ValueError(
            f"The pair dataset ran out after {seen} pairs. Received: num_pairs={num_pairs}"
        )
    scores_all = np.concatenate(scores)[:num_pairs]
    labels_all = np.concatenate(labels)[:num_pairs]
    correct = (scores_all > 0.5) == (labels_all == 1)
    accuracy, ci95 = mean_ci95(correct)
    return PairScore(accuracy, ci95, roc_auc(scores_all, labels_all), num_pairs)
