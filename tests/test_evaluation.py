import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.evaluation import evaluate_episodes, mean_ci95


def test_mean_ci95_golden():
    mean, ci = mean_ci95([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5
    assert ci == pytest.approx(1.96 * 0.5 / 2.0)


def test_mean_ci95_empty():
    with pytest.raises(ValueError, match="zero episodes"):
        mean_ci95([])


class FirstColumn(keras.Model):
    """Predicts class 0 for every query."""

    def call(self, inputs, training=False):
        query = inputs[2]
        n = tf.shape(query)[:-3]
        return tf.one_hot(tf.zeros(n, tf.int32), 3)


def _episodes(correct_first):
    # Query labels: first episode all 0 (all right), the rest all 1 (all wrong).
    def make(i):
        labels = tf.fill([4], tf.where(i < correct_first, 0, 1))
        images = tf.zeros([4, 2, 2, 1])
        return (images, tf.zeros([4], tf.int32), images), labels

    return tf.data.Dataset.range(10).map(make)


def test_evaluate_episodes_scores_each_episode():
    score = evaluate_episodes(FirstColumn(), _episodes(3), 10, batch_size=4, verbose=0)
    assert score.episodes == 10
    assert score.per_episode == (1.0,) * 3 + (0.0,) * 7
    assert score.accuracy == pytest.approx(0.3)
    assert score.ci95 == pytest.approx(1.96 * np.std([1] * 3 + [0] * 7) / np.sqrt(10))


def test_evaluate_episodes_too_few():
    with pytest.raises(ValueError, match="ran out after 10 episodes"):
        evaluate_episodes(FirstColumn(), _episodes(3), 11, verbose=0)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_evaluate_episodes_bad_count(bad):
    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        evaluate_episodes(FirstColumn(), _episodes(3), bad, verbose=0)
