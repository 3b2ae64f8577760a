import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.evaluation import evaluate_episodes, evaluate_pairs, mean_ci95, roc_auc


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


class BatchSizesSeen(FirstColumn):
    """FirstColumn that records the static episode-batch size of each trace."""

    def __init__(self):
        super().__init__()
        self.traced_batch_sizes = []

    def call(self, inputs, training=False):
        self.traced_batch_sizes.append(inputs[2].shape[0])
        return super().call(inputs, training)


def test_evaluate_episodes_traces_once_for_any_batch_size():
    """One trace, with the episode axis unknown: a shorter last batch (10, 10, 5) reuses it,
    and models that adapt per episode map over episodes instead of unrolling a batch."""
    model = BatchSizesSeen()
    episodes = _episodes(3).repeat()  # take(25).batch(5) would have a static batch size
    for batch_size in (10, 5):
        model.traced_batch_sizes.clear()
        score = evaluate_episodes(model, episodes, 25, batch_size=batch_size, verbose=0)
        assert score.episodes == 25 and score.per_episode[:4] == (1.0, 1.0, 1.0, 0.0)
        if keras.config.backend() == "tensorflow":
            assert model.traced_batch_sizes == [None], (batch_size, model.traced_batch_sizes)


def test_evaluate_episodes_too_few():
    with pytest.raises(ValueError, match="ran out after 10 episodes"):
        evaluate_episodes(FirstColumn(), _episodes(3), 11, verbose=0)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_evaluate_episodes_bad_count(bad):
    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        evaluate_episodes(FirstColumn(), _episodes(3), bad, verbose=0)


@pytest.mark.parametrize(
    "scores, labels, auc",
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # 3 of the 4 (pos, neg) pairs in order
        ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
        ([0.5, 0.5, 0.5], [1, 0, 0], 0.5),  # ties count one half
        ([0.3, 0.7, 0.7, 0.2], [0, 1, 0, 1], 0.375),  # (1 + 0.5 + 0 + 0) / 4
    ],
)
def test_roc_auc_golden(scores, labels, auc):
    assert roc_auc(scores, labels) == pytest.approx(auc)


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        ([0.1, 0.2], [1, 1], "Received: 2 positive, 0 negative"),
        ([0.1, 0.2], [1, 2], "labels must be 0 or 1. Received: \\[1, 2\\]"),
        ([0.1, 0.2, 0.3], [1, 0], "Received: 3 scores, 2 labels"),
    ],
)
def test_roc_auc_bad_input(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(scores, labels)


def _pair_model(inputs, training=False):
    """P(same) = the first pixel of image a."""
    return tf.reshape(inputs[0][:, 0, 0, 0], [-1, 1])


def _pairs(p_same, same, batch=4):
    images = tf.reshape(tf.constant(p_same, tf.float32), [-1, 1, 1, 1])
    pairs = ((images, tf.zeros_like(images)), tf.constant(same, tf.float32))
    return tf.data.Dataset.from_tensor_slices(pairs).batch(batch)


def test_evaluate_pairs_golden():
    p_same = [0.9, 0.2, 0.6, 0.7, 0.4, 0.1, 0.8, 0.3, 0.55, 0.45]
    same = [1, 0, 1, 0, 1, 0, 1, 0, 0, 0]
    # Right at 0.5: 1, 1, 1, 0 (0.7 is a different pair), 0 (0.4 is a same pair), 1, 1, 1, 0, 1.
    right = [1, 1, 1, 0, 0, 1, 1, 1, 0, 1]
    score = evaluate_pairs(_pair_model, _pairs(p_same, same), 10, verbose=0)
    assert score.pairs == 10
    assert score.accuracy == pytest.approx(0.7)
    assert score.ci95 == pytest.approx(1.96 * np.std(right) / np.sqrt(10))
    # Positives 0.9, 0.6, 0.4, 0.8 outrank 6, 5, 3, 6 of the 6 negatives.
    assert score.auc == pytest.approx(20 / 24)
    # Only the first 6 pairs, though the batches hold 8.
    first = evaluate_pairs(_pair_model, _pairs(p_same, same), 6, verbose=0)
    assert first.pairs == 6 and first.accuracy == pytest.approx(4 / 6)
    assert first.auc == pytest.approx(roc_auc(p_same[:6], same[:6]))
    assert "70.00 ±" in str(score) and "10 pairs" in str(score)


def test_evaluate_pairs_errors():
    pairs = _pairs([0.9, 0.1], [1, 0])
    with pytest.raises(ValueError, match="ran out after 2 pairs. Received: num_pairs=3"):
        evaluate_pairs(_pair_model, pairs, 3, verbose=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_pairs must be a positive integer"):
            evaluate_pairs(_pair_model, pairs, bad, verbose=0)

    def one_output(inputs, training=False):
        return tf.zeros([1, 1])

    with pytest.raises(ValueError, match="one P\\(same\\) per pair. Received: 1 outputs for 2"):
        evaluate_pairs(one_output, pairs, 2, verbose=0)
