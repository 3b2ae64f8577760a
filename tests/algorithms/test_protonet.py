import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.algorithms.augmentation import CenterInk, RandomAffine
from metazoo.algorithms.protonet import (
    MISSING_CLASS_LOGIT,
    PrototypicalNetwork,
    prototype_logits,
)
from metazoo.episodes import episodes_from_array
from metazoo.networks import Conv4
from tests.model_checks import run_episodic_model_checks


def tiny_protonet():
    keras.utils.set_random_seed(0)
    model = PrototypicalNetwork(Conv4(filters=4))
    model.compile()
    return model


def test_prototype_logits_golden_values():
    # Two classes; prototypes (1, 0) and (0, 3); one query at (1, 1).
    support = tf.constant([[[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]])
    labels = tf.constant([[0, 0, 1]])
    query = tf.constant([[[1.0, 1.0]]])
    logits = prototype_logits(support, labels, query).numpy()
    np.testing.assert_allclose(logits[0, 0, :2], [-1.0, -5.0])
    assert logits[0, 0, 2] == MISSING_CLASS_LOGIT  # class id 2 has no support


def test_logits_do_not_depend_on_support_order():
    model = tiny_protonet()
    rng = np.random.default_rng(0)
    support = rng.random((6, 28, 28, 1), np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2], np.int32)
    query = rng.random((4, 28, 28, 1), np.float32)
    perm = rng.permutation(6)
    a = model((support, labels, query))
    b = model((support[perm], labels[perm], query))
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert a.shape == (4, 6)


def test_common_model_checks(tiny_images, tmp_path):
    run_episodic_model_checks(
        tiny_protonet, episodes_from_array(tiny_images, 4, 2, 2, seed=0), tmp_path
    )


def test_learns_tiny_task(tiny_images):
    model = tiny_protonet()
    episodes = episodes_from_array(tiny_images, 4, 1, 3, seed=1)
    before = model.evaluate(episodes.take(10), verbose=0, return_dict=True)["loss"]
    model.fit(episodes, steps_per_epoch=30, epochs=1, verbose=0)
    after = model.evaluate(episodes.take(10), verbose=0, return_dict=True)
    assert after["loss"] < before and after["accuracy"] > 0.8  # chance is 0.25


def test_augmentation_distorts_training_images_only_and_is_saved(tiny_images, tmp_path):
    keras.utils.set_random_seed(0)
    backbone = Conv4(filters=4)
    model = PrototypicalNetwork(backbone, augmentation=RandomAffine(probability=1.0, seed=2))
    plain = PrototypicalNetwork(backbone)
    images = tiny_images[:6, 0].astype(np.float32) / 255
    episode = (images[:4], np.int32([0, 0, 1, 1]), images[4:])
    # Inference is undistorted: the same logits as without augmentation.
    np.testing.assert_array_equal(model(episode), plain(episode))
    # In training every image is distorted before the backbone.
    distorted = model.embed(images, training=True)
    assert not np.allclose(distorted, backbone(images, training=True), atol=1e-3)
    np.testing.assert_allclose(model.embed(images), backbone(images), atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.augmentation, RandomAffine)
    assert loaded.augmentation.probability == 1.0 and plain.augmentation is None
    with pytest.raises(ValueError, match="augmentation must be 'koch', a keras Layer or None"):
        PrototypicalNetwork(backbone, augmentation="flip")


def test_center_ink_golden_shifts():
    images = np.zeros((3, 6, 6, 1), np.float32)
    # Centroid 2.5 px up and left of the centre: moved by 2 (round half to even).
    images[0, 0, 0, 0] = 1.0
    # Centroid at row 1.5, column 4: moved 1 down and 2 left (1.5 rounds to 2).
    images[1, 1:3, 4, 0] = 0.5
    centred = CenterInk()(images).numpy()
    want = np.zeros_like(images)
    want[0, 2, 2, 0] = 1.0
    want[1, 2:4, 2, 0] = 0.5
    np.testing.assert_array_equal(centred, want)  # whole pixels: moved, not blurred
    np.testing.assert_array_equal(CenterInk()(want), want)  # already centred
    assert centred[2].sum() == 0  # no ink: left as it is


def test_preprocessing_applies_in_training_and_inference_and_is_saved(tiny_images, tmp_path):
    keras.utils.set_random_seed(0)
    backbone = Conv4(filters=4)
    model = PrototypicalNetwork(backbone, preprocessing="center")
    plain = PrototypicalNetwork(backbone)
    images = tiny_images[:6, 0].astype(np.float32) / 255
    centred = CenterInk()(images).numpy()
    labels = np.int32([0, 0, 1, 1])
    np.testing.assert_allclose(
        model((images[:4], labels, images[4:])),
        plain((centred[:4], labels, centred[4:])),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.embed(images, training=True), backbone(centred, training=True), atol=1e-5
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.preprocessing, CenterInk) and loaded.augmentation is None
    assert plain.preprocessing is None
    with pytest.raises(ValueError, match="preprocessing must be 'center', a keras Layer or None"):
        PrototypicalNetwork(backbone, preprocessing="centre")


def test_train_step_compiles_with_xla(tiny_images):
    model = PrototypicalNetwork(Conv4(filters=4), augmentation="koch", preprocessing="center")
    model.compile(jit_compile=True)
    history = model.fit(
        episodes_from_array(tiny_images, 3, 1, 2),
        steps_per_epoch=2,
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][-1])


def test_fit_under_mirrored_strategy_with_two_cpus(tiny_images):
    # The test process configures two logical CPUs before TF starts (conftest).
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs two logical CPUs (set before TensorFlow initialised)")
    # No collective ops: two strategies' collectives in one process can clash.
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in cpus[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        model = PrototypicalNetwork(Conv4(filters=4))
        model.compile()
    episodes = episodes_from_array(tiny_images, 3, 1, 2, batch_size=2)
    history = model.fit(episodes, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert model.distribute_strategy is strategy


def test_rejects_non_model_backbone():
    with pytest.raises(ValueError, match="backbone must be a keras.Model"):
        PrototypicalNetwork("conv4")


def _episode(tiny_images, seed=0):
    (support, labels, query), _ = next(iter(episodes_from_array(tiny_images, 5, 1, 3, seed=seed)))
    return support.numpy(), labels.numpy(), query.numpy()


@pytest.mark.parametrize("bad_label", [7, -1, 5])
def test_support_labels_outside_the_classes_are_refused(tiny_images, bad_label):
    """A label without a logit column used to drop its example silently."""
    model = PrototypicalNetwork(Conv4(filters=2))
    support, labels, query = _episode(tiny_images)
    labels[2] = bad_label
    with pytest.raises(ValueError, match=r"support_labels must be the class ids 0..ways-1"):
        model((support, labels, query))
    batched = (
        support[None].repeat(2, 0),
        np.stack([np.arange(5), labels]),
        query[None].repeat(2, 0),
    )
    with pytest.raises(ValueError, match=r"\(episode 1\)"):
        model(batched)


def test_images_outside_the_convention_are_refused(tiny_images):
    model = PrototypicalNetwork(Conv4(filters=2))
    support, labels, query = _episode(tiny_images)
    model((support, labels, query))  # the convention: float in [0, 1], ink = 1 on 0
    with pytest.raises(ValueError, match=r"support_images must be in \[0, 1\].*divide by 255"):
        model(((support * 255).astype("uint8"), labels, query))
    with pytest.raises(ValueError, match=r"query_images look inverted.*pass 1 - images"):
        model((support, labels, 1.0 - query))
    with pytest.raises(ValueError, match=r"values in \[-0.5, "):
        model((support - 0.5, labels, query))
