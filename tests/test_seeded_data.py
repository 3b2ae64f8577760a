"""The numpy pipeline (`EpisodeDataset`, `PairDataset`) gives exactly the `tf.data` data."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from metazoo.episodes import EpisodeDataset, episodes_from_array, omniglot_episodes
from metazoo.pairs import PairDataset, omniglot_pairs, pairs_from_array

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Random uint8 `[30 classes, 8 drawings, 5, 4, 1]`: every drawing tells where it came from."""
    return np.random.default_rng(0).integers(0, 256, (30, 8, 5, 4, 1), np.uint8)


@pytest.fixture(scope="module")
def alphabets() -> np.ndarray:
    """An alphabet id per class: 6 alphabets of 5 classes, shuffled."""
    ids = np.repeat(np.arange(6), 5)
    np.random.default_rng(1).shuffle(ids)
    return ids


def _assert_same_items(numpy_data, tf_data, count):
    for index, expected in enumerate(tf_data.take(count)):
        got, expected = keras.tree.flatten(numpy_data[index]), keras.tree.flatten(expected)
        assert len(got) == len(expected)
        for ours, theirs in zip(got, expected, strict=True):
            theirs = theirs.numpy()
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, index
            np.testing.assert_array_equal(ours, theirs, err_msg=f"item {index}")


EPISODE_CASES = [
    {"seed": 0},
    {"seed": 3, "start": 7},
    {"seed": -2, "batch_size": 3},
    {"seed": 2**40, "start": 11, "batch_size": 2},
    {"seed": 5, "same_alphabet_fraction": 0.5},
    {"seed": 9, "same_alphabet_fraction": 1.0, "batch_size": 2, "start": 4},
]


@pytest.mark.parametrize("case", EPISODE_CASES)
def test_numpy_episodes_are_the_tf_data_episodes(images, alphabets, case):
    if case.get("same_alphabet_fraction"):
        case = {**case, "alphabets": alphabets}
    for ways, shots, queries in ((5, 2, 3), (3, 1, 7)):
        args = (images, ways, shots, queries)
        numpy_data = episodes_from_array(*args, pipeline="numpy", **case)
        assert isinstance(numpy_data, EpisodeDataset)
        _assert_same_items(numpy_data, episodes_from_array(*args, pipeline="tf.data", **case), 6)


PAIR_CASES = [
    {"seed": 0},
    {"seed": 3, "start": 7, "batch_size": 6},
    {"seed": 5, "same_alphabet_fraction": 0.5},
    {"seed": 9, "same_alphabet_fraction": 1.0, "batch_size": 10, "start": 4},
]


@pytest.mark.parametrize("case", PAIR_CASES)
def test_numpy_pairs_are_the_tf_data_pairs(images, alphabets, case):
    if case.get("same_alphabet_fraction"):
        case = {**case, "alphabets": alphabets}
    numpy_data = pairs_from_array(images, pipeline="numpy", **case)
    assert isinstance(numpy_data, PairDataset)
    _assert_same_items(numpy_data, pairs_from_array(images, pipeline="tf.data", **case), 5)


@pytest.mark.data
def test_omniglot_test_episodes_are_the_same_in_both_pipelines(data_dir):
    args = ("test", 5, 1, 15)
    numpy_data = omniglot_episodes(*args, data_dir=data_dir, seed=0, pipeline="numpy")
    _assert_same_items(numpy_data, omniglot_episodes(*args, data_dir=data_dir, seed=0), 10)
    # The same for the episodes a MAML preset trains on: a batch axis, resumed.
    options = {"data_dir": data_dir, "seed": 1, "batch_size": 4, "start": 40_000}
    batched = omniglot_episodes("trainval", 5, 1, 1, pipeline="numpy", **options)
    _assert_same_items(batched, omniglot_episodes("trainval", 5, 1, 1, **options), 2)


@pytest.mark.data
def test_omniglot_same_alphabet_episodes_and_pairs_are_the_same(data_dir):
    numpy_data, tf_data = (
        omniglot_episodes(
            "background",
            20,
            1,
            1,
            protocol="lake",
            same_alphabet_fraction=0.5,
            data_dir=data_dir,
            pipeline=pipeline,
        )  # fmt: skip
        for pipeline in ("numpy", "tf.data")
    )
    _assert_same_items(numpy_data, tf_data, 4)
    numpy_pairs, tf_pairs = (
        omniglot_pairs(
            "background",
            32,
            same_alphabet_fraction=0.5,
            seed=3,
            data_dir=data_dir,
            pipeline=pipeline,
        )  # fmt: skip
        for pipeline in ("numpy", "tf.data")
    )
    _assert_same_items(numpy_pairs, tf_pairs, 4)


def test_episode_dataset_items_batches_and_length(images):
    endless = EpisodeDataset(images, 3, 1, 2, seed=4)
    assert endless.num_batches is None and endless[10_000] is not None
    finite = EpisodeDataset(images, 3, 1, 2, seed=4, start=2, num_batches=3, batch_size=2)
    assert finite.num_batches == 3 and len(list(finite)) == 3
    (support, labels, query), query_labels = finite[1]
    assert support.shape == (2, 3, 5, 4, 1) and query_labels.shape == (2, 6)
    # Item 1 of a batch of 2 from start 2: episodes 4 and 5 of the seed.
    np.testing.assert_array_equal(support[1], endless[5][0][0])
    np.testing.assert_array_equal(finite[0][0][0][0], endless[2][0][0])
    with pytest.raises(IndexError, match="Received: index=3"):
        finite[3]
    with pytest.raises(IndexError, match="Received: index=-1"):
        endless[-1]
    with pytest.raises(ValueError, match="num_batches must be a positive integer"):
        EpisodeDataset(images, 3, 1, 2, num_batches=0)
    with pytest.raises(ValueError, match="start must be an integer >= 0"):
        EpisodeDataset(images, 3, 1, 2, start=-1)


def test_pipeline_default_follows_the_keras_backend_and_is_checked(images):
    assert keras.config.backend() == "tensorflow"  # the suite's backend
    assert not isinstance(episodes_from_array(images, 3, 1, 1), EpisodeDataset)
    assert not isinstance(pairs_from_array(images, 4), PairDataset)
    with pytest.raises(ValueError, match="pipeline must be one of"):
        episodes_from_array(images, 3, 1, 1, pipeline="torch")
    with pytest.raises(ValueError, match="ways must be <= the 30 classes"):
        episodes_from_array(images, 31, 1, 1, pipeline="numpy")
    with pytest.raises(ValueError, match="batch_size must be even"):
        pairs_from_array(images, 5, pipeline="numpy")


def test_evaluate_episodes_scores_the_same_episodes_from_either_pipeline(images):
    from metazoo.algorithms import PrototypicalNetwork
    from metazoo.evaluation import evaluate_episodes
    from metazoo.networks import Conv4

    keras.utils.set_random_seed(0)
    model = PrototypicalNetwork(Conv4((5, 4, 1), filters=2, blocks=1))
    scores = [
        evaluate_episodes(
            model,
            episodes_from_array(images, 5, 1, 3, seed=4, pipeline=pipeline),
            7,
            batch_size=3,
            verbose=0,
        ).per_episode  # fmt: skip
        for pipeline in ("numpy", "tf.data")
    ]
    assert len(scores[0]) == 7 and len(set(scores[0])) > 1  # not all episodes alike
    np.testing.assert_allclose(scores[0], scores[1], rtol=0, atol=1e-6)


# Off TensorFlow: the samplers import without it, and a ProtoNet trains on JAX.
WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # importing it now fails
import numpy as np
from metazoo.episodes import EpisodeDataset, episodes_from_array
from metazoo.evaluation import evaluate_episodes
from metazoo.pairs import PairDataset, pairs_from_array
images = np.random.default_rng(0).integers(0, 256, (8, 4, 28, 28, 1), np.uint8)
episodes = episodes_from_array(images, 3, 1, 2, seed=1, batch_size=2)
pairs = pairs_from_array(images, 4, seed=2)
assert isinstance(episodes, EpisodeDataset) and isinstance(pairs, PairDataset)
assert episodes[0][0][0].shape == (2, 3, 28, 28, 1) and pairs[0][1].tolist() == [1, 0, 1, 0]
print("ok")
"""

PROTONET_ON_JAX = """
import keras
import numpy as np
from metazoo.algorithms import PrototypicalNetwork
from metazoo.networks import Conv4
from metazoo.episodes import EpisodeDataset, episodes_from_array
from metazoo.evaluation import evaluate_episodes
assert keras.config.backend() == "jax"
images = np.random.default_rng(0).integers(0, 256, (8, 4, 28, 28, 1), np.uint8)
keras.utils.set_random_seed(0)
model = PrototypicalNetwork(Conv4(filters=4))
model.compile()
train = episodes_from_array(images, 3, 1, 2, seed=1)  # the default off TensorFlow
assert isinstance(train, EpisodeDataset)
history = model.fit(train, steps_per_epoch=2, epochs=1, verbose=0)
assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"]).all()
test = EpisodeDataset(images, 3, 1, 2, seed=2, num_batches=2, batch_size=2)
loss, accuracy = model.evaluate(test, verbose=0)
assert np.isfinite(loss) and 0 <= accuracy <= 1
score = evaluate_episodes(model, EpisodeDataset(images, 3, 1, 2, seed=2), 4, 2, verbose=0)
assert len(score.per_episode) == 4 and abs(score.accuracy - accuracy) < 1e-6, (score, accuracy)
print("ok")
"""


@pytest.fixture(scope="module")
def off_tensorflow() -> dict:
    """The two scripts above, run at once in subprocesses on the JAX backend: their outputs."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for name, script in (("imports", WITHOUT_TENSORFLOW), ("protonet", PROTONET_ON_JAX))
    }
    return {name: (run.communicate(), run.returncode) for name, run in runs.items()}


def test_samplers_import_and_draw_without_tensorflow(off_tensorflow):
    (out, err), code = off_tensorflow["imports"]
    assert code == 0 and out.strip() == "ok", err[-3000:]


def test_protonet_fits_and_evaluates_on_numpy_episodes_on_jax(off_tensorflow):
    pytest.importorskip("jax")
    (out, err), code = off_tensorflow["protonet"]
    assert code == 0 and out.strip() == "ok", err[-3000:]
