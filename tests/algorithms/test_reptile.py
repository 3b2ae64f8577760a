"""Reptile: its training step is the Reptile update, on the shared inner-loop core."""

import keras
import numpy as np
import pytest

from metazoo.algorithms import Reptile
from metazoo.algorithms.inner_loop import adapt


def tiny_episode(seed=0, ways=3, shots=2, queries=2):
    rng = np.random.default_rng(seed)
    support = rng.uniform(0, 0.3, (ways * shots, 8, 8, 1)).astype("float32")
    labels = np.repeat(np.arange(ways), shots).astype("int32")
    query = rng.uniform(0, 0.3, (ways * queries, 8, 8, 1)).astype("float32")
    query_labels = np.repeat(np.arange(ways), queries).astype("int32")
    return support, labels, query, query_labels


def tiny_reptile(**kwargs):
    return Reptile(ways=3, inner_steps=2, inner_lr=0.3, filters=2, image_shape=(8, 8, 1), **kwargs)


def test_one_training_step_is_the_reptile_update():
    keras.utils.set_random_seed(0)
    model = tiny_reptile()
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    episodes = [tiny_episode(seed) for seed in (1, 2)]
    x = tuple(np.stack([e[i] for e in episodes]) for i in range(3))
    y = np.stack([e[3] for e in episodes])
    theta = [np.asarray(v) for v in model.initial_params]
    phis = [
        adapt(model.learner.forward, theta, e[0], e[1], steps=2, lr=0.3, first_order=True)
        for e in episodes
    ]
    model.train_on_batch(x, y)
    # theta <- theta + epsilon * mean(phi - theta), epsilon = 0.5.
    for i, start in enumerate(theta):
        phi = np.mean([np.asarray(p[i]) for p in phis], axis=0)
        expected = start + 0.5 * (phi - start)
        np.testing.assert_allclose(np.asarray(model.initial_params[i]), expected, atol=1e-5)
    assert not np.allclose(np.asarray(model.initial_params[0]), theta[0])


def test_evaluation_adapts_like_maml_and_config_round_trips():
    model = tiny_reptile(eval_inner_steps=3)
    support, labels, query, _ = tiny_episode()
    logits = np.asarray(model((support, labels, query)))
    theta = [np.asarray(v) for v in model.initial_params]
    fast = adapt(model.learner.forward, theta, support, labels, steps=3, lr=0.3)
    np.testing.assert_allclose(logits, np.asarray(model.learner.forward(fast, query)), atol=1e-5)
    again = Reptile.from_config(model.get_config())
    assert again.get_config() == model.get_config() and "first_order" not in model.get_config()


@pytest.mark.parametrize(
    "option", [{"first_order": False}, {"learn_inner_lr": True}, {"adapt": "head"}]
)
def test_maml_only_options_are_refused(option):
    with pytest.raises(ValueError, match="Reptile is first order"):
        tiny_reptile(**option)
