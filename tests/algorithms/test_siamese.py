import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.algorithms.augmentation import CenterInk, RandomAffine, affine_warp
from metazoo.algorithms.protonet import MISSING_CLASS_LOGIT
from metazoo.algorithms.siamese import SiameseNetwork, class_scores
from metazoo.cli import main
from metazoo.episodes import episodes_from_array
from metazoo.evaluation import evaluate_episodes
from metazoo.networks import Conv4
from metazoo.pairs import pairs_from_array
from metazoo.presets import load, save_preset
from tests.lake_runs import write_runs
from tests.model_checks import assert_weights_equal, run_episodic_model_checks


def tiny_siamese(augmentation="koch"):
    keras.utils.set_random_seed(0)
    return SiameseNetwork(Conv4(filters=4), augmentation=augmentation)


def flatten_siamese(weights, bias):
    """Towers = raw pixels of 2x2 images, head set by hand: golden values."""
    tower = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten()])
    model = SiameseNetwork(tower, augmentation=None)
    model.head.set_weights([np.asarray(weights, np.float32)[:, None], np.float32([bias])])
    return model


def test_pair_probability_golden_value_and_symmetry():
    model = flatten_siamese([-1.0, -2.0, 0.5, 0.0], 1.0)
    a = np.float32([[[[1], [0]], [[0], [1]]]])
    b = np.float32([[[[0], [0]], [[1], [0.5]]]])
    # |a - b| = (1, 0, 1, 0.5): logit = -1 + 0 + 0.5 + 0 + 1 = 0.5
    np.testing.assert_allclose(model((a, b)), [[1 / (1 + np.exp(-0.5))]], rtol=1e-6)
    np.testing.assert_allclose(model((b, a)), model((a, b)))


def test_episode_logits_golden_values():
    model = flatten_siamese([-1.0, 0.0, 0.0, 0.0], 0.0)
    pixel = np.float32([0.0, 1.0, 0.9])  # one support image per value of pixel 0
    support = np.zeros((3, 2, 2, 1), np.float32)
    support[:, 0, 0, 0] = pixel
    query = np.zeros((1, 2, 2, 1), np.float32)
    query[0, 0, 0, 0] = 0.5
    labels = np.int32([0, 0, 1])  # class 0 has two shots, class 2 none
    logits = model((support, labels, query)).numpy()
    log_p = np.log(1 / (1 + np.exp(np.abs(pixel - 0.5))))  # log sigmoid(-|d|)
    np.testing.assert_allclose(logits[0, :2], [log_p[:2].max(), log_p[2]], rtol=1e-5)
    assert logits[0, 2] == MISSING_CLASS_LOGIT
    mean = class_scores(log_p[None, None], labels[None], "mean").numpy()[0, 0]
    np.testing.assert_allclose(mean[:2], [log_p[:2].mean(), log_p[2]], rtol=1e-5)


def test_affine_warp_golden_shift_and_rotation():
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    shifted = affine_warp(image, np.eye(2)[None], [[1.0, 0.0]])  # output(x) = input(x + 1)
    np.testing.assert_array_equal(shifted[0, :, :, 0], [[1, 2, 0], [4, 5, 0], [7, 8, 0]])
    quarter = np.float32([[[0, -1], [1, 0]]])  # (x, y) -> (-y, x)
    rotated = affine_warp(image, quarter, [[0.0, 0.0]]).numpy()[0, :, :, 0]
    np.testing.assert_allclose(rotated, np.rot90(image[0, :, :, 0], k=1), atol=1e-5)


def test_augmentation_only_in_training(tiny_images):
    layer = RandomAffine(probability=1.0, seed=1)
    images = tiny_images[:, 0].astype(np.float32) / 255
    np.testing.assert_array_equal(layer(images), images)
    distorted = layer(images, training=True).numpy()
    assert distorted.shape == images.shape and not np.allclose(distorted, images)
    assert 0.0 <= distorted.min() and distorted.max() <= 1.0
    np.testing.assert_array_equal(RandomAffine(probability=0.0)(images, training=True), images)
    model = tiny_siamese()
    pair = (images[:4], images[4:8])
    np.testing.assert_array_equal(model(pair), model(pair))


def test_any_keras_layer_can_augment(tiny_images):
    rotate = keras.layers.RandomRotation(0.1, fill_mode="constant", seed=0)
    model = SiameseNetwork(Conv4(filters=2), augmentation=rotate)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(clone.augmentation, keras.layers.RandomRotation)
    images = tiny_images[:4, 0].astype(np.float32) / 255
    assert model((images, images), training=True).shape == (4, 1)


def test_centering_applies_to_pairs_and_episodes_and_is_saved(tiny_images):
    tower = Conv4(filters=2)
    model = SiameseNetwork(tower, augmentation=None, preprocessing="center")
    plain = SiameseNetwork(tower, augmentation=None)
    images = tiny_images[:6, 0].astype(np.float32) / 255
    centred = CenterInk()(images).numpy()
    np.testing.assert_allclose(
        model((images[:3], images[3:])), plain((centred[:3], centred[3:])), atol=1e-6
    )
    labels = np.int32([0, 1, 2])
    np.testing.assert_allclose(
        model((images[:3], labels, images[3:])), plain((centred[:3], labels, centred[3:])), 1e-5
    )
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(clone.preprocessing, CenterInk) and plain.preprocessing is None


def test_common_model_checks_on_episodes(tiny_images, tmp_path):
    def make_model():
        model = tiny_siamese()
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model

    run_episodic_model_checks(make_model, episodes_from_array(tiny_images, 4, 2, 2), tmp_path)


def test_learns_pairs_and_one_shot_episodes(tiny_images):
    keras.utils.set_random_seed(0)
    model = SiameseNetwork(Conv4(filters=8), augmentation=None)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    pairs = pairs_from_array(tiny_images, batch_size=32, seed=1)
    before = model.evaluate(pairs.take(5), verbose=0, return_dict=True)
    model.fit(pairs, steps_per_epoch=40, epochs=1, verbose=0)
    after = model.evaluate(pairs.take(5), verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.85  # chance: 0.5
    episodes = episodes_from_array(tiny_images, 4, 1, 3, seed=2)
    assert evaluate_episodes(model, episodes, 20, verbose=0).accuracy > 0.9  # chance: 0.25


def test_preset_round_trip_fine_tune_and_saved_model(tiny_images, tmp_path):
    model = tiny_siamese()
    model.compile()
    pairs = pairs_from_array(tiny_images, batch_size=8)
    model.fit(pairs, steps_per_epoch=2, epochs=1, verbose=0)
    preset = save_preset(model, tmp_path / "siamese", {"description": "test"})
    loaded = load(preset)
    (a, b), _ = next(iter(pairs))
    np.testing.assert_allclose(loaded((a, b)), model((a, b)), atol=1e-5)
    assert isinstance(loaded.augmentation, RandomAffine)
    # Fine-tuning a loaded preset is plain `fit` on pairs (the compile() defaults).
    history = loaded.fit(pairs, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1]) and int(loaded.optimizer.iterations) == 2
    served = tf.saved_model.load(str(preset / "saved_model"))
    np.testing.assert_allclose(served.serve((a, b)), model((a, b)), atol=1e-5)


def test_keras_file_keeps_optimizer_state_for_pair_training(tiny_images, tmp_path):
    model = tiny_siamese()
    model.compile()
    model.fit(pairs_from_array(tiny_images, 8), steps_per_epoch=2, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert_weights_equal(model.optimizer.variables, loaded.optimizer.variables)
    assert isinstance(loaded.loss, keras.losses.BinaryCrossentropy)


def test_train_step_compiles_with_xla_including_augmentation(tiny_images):
    model = tiny_siamese()
    model.compile(jit_compile=True)
    history = model.fit(pairs_from_array(tiny_images, 8), steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_fit_under_mirrored_strategy_with_two_cpus(tiny_images):
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs two logical CPUs (set before TensorFlow initialised)")
    # No collective ops: two strategies' collectives in one process can clash
    # (instance keys reused with other shapes), failing whichever test runs second.
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in cpus[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        model = tiny_siamese()
        model.compile()
    history = model.fit(pairs_from_array(tiny_images, 8), steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_cli_eval_lake_runs_on_a_siamese_preset(tmp_path, capsys):
    preset = save_preset(tiny_siamese(), tmp_path / "siamese", {"description": "t"}, export=False)
    runs = write_runs(tmp_path / "runs", runs=1)
    assert main(["eval", str(preset), "--lake-runs", str(runs), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["protocol"] == "lake-20way" and result["trials"] == 20
    assert 0.0 <= result["accuracy"] <= 1.0 and set(result["run_errors"]) == {"run01"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backbone": "conv4"}, "backbone must be a keras.Model"),
        ({"augmentation": "affine"}, "augmentation must be 'koch', a keras Layer or None"),
        ({"episode_reduction": "min"}, "episode_reduction must be one of"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SiameseNetwork(**{"backbone": Conv4(filters=2), **kwargs})
    with pytest.raises(ValueError, match="probability must be in"):
        RandomAffine(probability=2)


@pytest.mark.slow
@pytest.mark.data
def test_train_recipe_writes_a_scored_preset(data_dir, tmp_path):
    output = tmp_path / "siamese_tiny"
    args = ["train", "siamese", "--steps", "4", "--epoch-steps", "2", "--batch-size", "8"]
    args += ["--filters", "4", "--eval-episodes", "2", "--output", str(output)]
    assert main(args + ["--data-dir", str(data_dir)]) == 0
    metadata = json.loads((output / "metadata.json").read_text())
    assert (
        metadata["training"]["split"] == "background" and metadata["kind"] == "few_shot_classifier"
    )
    lake, *episodes = metadata["evaluation"]
    assert lake["protocol"] == "lake-20way" and lake["trials"] == 400 and lake["paper"] == 0.92
    assert [(r["protocol"], r["ways"]) for r in episodes] == [("lake", 5), ("lake", 20)]
    assert isinstance(load(output), SiameseNetwork)


def test_pairs_outside_the_convention_are_refused():
    model = SiameseNetwork(Conv4(filters=2))
    images = np.zeros((2, 28, 28, 1), "float32")
    images[:, 10:18, 12:14] = 1.0
    assert model((images, images)).shape == (2, 1)
    with pytest.raises(ValueError, match=r"images_b must be in \[0, 1\].*divide by 255"):
        model((images, images * 255))
    with pytest.raises(ValueError, match=r"images_a look inverted"):
        model((1.0 - images, images))
