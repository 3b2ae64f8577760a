"""Few-shot evaluation: mean accuracy over episodes with a 95% confidence interval."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf


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


def evaluate_episodes(
    model: keras.Model,
    episodes: tf.data.Dataset,
    num_episodes: int,
    batch_size: int = 10,
    verbose: int = 1,
) -> EpisodeScore:
    """Scores a few-shot classifier on `num_episodes` episodes of `episodes`.

    Args:
        model: keras.Model. Maps an episode batch `(support, support_labels,
            query)` to query logits (every metazoo episodic classifier does).
        episodes: tf.data.Dataset. Unbatched episodes, e.g. from
            `omniglot_episodes`.
        num_episodes: int. How many episodes to score.
        batch_size: int. Episodes per forward pass.
        verbose: int. 1 shows a Keras progress bar.

    Example:
    ```python
    score = evaluate_episodes(model, omniglot_episodes("test", 5, 1, 15), 1000)
    print(score)  # 98.xx ± 0.xx% (1000 episodes)
    ```
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(
            f"num_episodes must be a positive integer. Received: num_episodes={num_episodes!r}"
        )

    @tf.function
    def accuracies(x, y):
        logits = model(x, training=False)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
        return tf.reduce_mean(hits, axis=-1)

    progress = keras.utils.Progbar(num_episodes, verbose=verbose, unit_name="episode")
    scores: list[float] = []
    for x, y in episodes.take(num_episodes).batch(batch_size):
        scores.extend(accuracies(x, tf.cast(y, tf.int32)).numpy().tolist())
        progress.update(len(scores))
    if len(scores) < num_episodes:
        raise ValueError(
            f"The episode dataset ran out after {len(scores)} episodes. "
            f"Received: num_episodes={num_episodes}"
        )
    accuracy, ci95 = mean_ci95(scores)
    return EpisodeScore(accuracy, ci95, len(scores), tuple(scores))
