"""MAML and Reptile under `tf.distribute.MirroredStrategy` and with XLA: the same meta-step."""

import keras
import numpy as np
import pytest

from metazoo.algorithms import MAML, Reptile

# Exact second-order MAML with learned step sizes (Meta-SGD) covers the most; Reptile adds a loss.
VARIANTS = {
    "maml": (MAML, dict(learn_inner_lr=True)),
    "reptile": (Reptile, {}),
}
TINY = dict(ways=3, filters=3, image_shape=(8, 8, 1), inner_steps=1, inner_lr=0.3)
# XLA compiles second-order MAML, or any model's evaluation (`keras.ops.map` over
# episodes), in 20-30 s on a loaded 2-core machine: those checks are `slow`.
SLOW = pytest.mark.slow


def meta_batch(episodes: int = 2):
    rng = np.random.default_rng(1)
    support = rng.uniform(size=(episodes, 6, 8, 8, 1)).astype("float32")
    labels = np.tile(np.repeat(np.arange(3), 2), (episodes, 1)).astype("int32")
    query = rng.uniform(size=(episodes, 6, 8, 8, 1)).astype("float32")
    return (support, labels, query), labels


def make(variant: str, jit_compile=False, seen: list | None = None):
    cls, options = VARIANTS[variant]

    class Recorded(cls):
        # The episodes each call (each replica, when traced under a strategy) gets.
        def call(self, inputs, training=False):
            if seen is not None:
                seen.append(inputs[0].shape[0])
            return super().call(inputs, training=training)

    keras.utils.set_random_seed(0)
    model = Recorded(**TINY, **options)
    model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=jit_compile)
    return model


def one_step(model, dataset=None) -> tuple[float, list]:
    x, y = meta_batch()
    if dataset is None:
        loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    else:
        loss = model.fit(dataset, epochs=1, verbose=0).history["loss"][-1]
    return float(loss), model.get_weights()


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="tf.distribute")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_meta_step_under_mirrored_strategy_is_the_single_device_one(variant):
    import tensorflow as tf

    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs two logical CPUs (set before TensorFlow initialised)")
    # No collective ops: two strategies' collectives in one process can clash.
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in cpus[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    reference = make(variant)
    start = reference.get_weights()
    loss, weights = one_step(reference)
    seen = []
    with strategy.scope():
        mirrored = make(variant, seen=seen)
    # A static meta-batch, as `omniglot_episodes(batch_size=...)` gives.
    data = tf.data.Dataset.from_tensor_slices(meta_batch()).batch(2, drop_remainder=True)
    mirrored_loss, mirrored_weights = one_step(mirrored, data)
    assert mirrored.distribute_strategy is strategy
    assert 1 in seen and 2 not in seen  # each replica adapted half the meta-batch
    # Each replica's mean over its episodes, averaged: the mean over the meta-batch.
    assert mirrored_loss == pytest.approx(loss, rel=1e-5)
    moved = 0.0
    for a, b, w in zip(mirrored_weights, weights, start, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        moved = max(moved, float(np.abs(b - w).max()))
    assert moved > 1e-2


@pytest.mark.skipif(keras.config.backend() == "torch", reason="jit_compile is torch.compile there")
@pytest.mark.parametrize("variant", [pytest.param("maml", marks=SLOW), "reptile"])
def test_xla_meta_step_matches_graph_mode(variant):
    graph, xla = make(variant, jit_compile=False), make(variant, jit_compile=True)
    assert xla.jit_compile is True
    start = graph.get_weights()
    loss, weights = one_step(graph)
    xla_loss, xla_weights = one_step(xla)
    assert xla_loss == pytest.approx(loss, rel=1e-5)
    moved = 0.0
    for a, b, w in zip(xla_weights, weights, start, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5)
        moved = max(moved, float(np.abs(b - w).max()))
    assert moved > 1e-2


@SLOW
@pytest.mark.skipif(keras.config.backend() == "torch", reason="jit_compile is torch.compile there")
def test_xla_evaluation_matches_graph_mode():
    # `predict` adapts with an episode axis of unknown size (`keras.ops.map` on TF).
    graph, xla = make("maml", jit_compile=False), make("maml", jit_compile=True)
    x, _ = meta_batch()
    np.testing.assert_allclose(
        xla.predict(x, verbose=0), graph.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )
