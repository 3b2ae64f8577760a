from pathlib import Path

import keras
import numpy as np
import pytest

from metazoo.algorithms.inner_loop import ConvLearner, adapt, cross_entropy, value_and_grad
from metazoo.algorithms.maml import MAML
from tests.algorithms import maml_backend_checks as checks
from tests.backend_runs import OTHER_BACKENDS, measure_on_backends, measured_on


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[dict, dict, Path]:
    """The same measurements on TensorFlow (here) and the others (subprocesses, meanwhile).

    The others run in float64 too (`JAX_ENABLE_X64`) and save their trained
    model as `<backend>.keras` in the returned folder.
    """
    inputs = checks.tiny_inputs()
    tmp = tmp_path_factory.mktemp("maml_backends")
    outs = measure_on_backends(
        "tests.algorithms.maml_backend_checks",
        lambda: checks.measure(inputs),
        tmp,
        inputs,
        env={"JAX_ENABLE_X64": "1"},
    )
    return inputs, outs, tmp


@pytest.fixture(params=["tensorflow", *OTHER_BACKENDS])
def backend(request, measured) -> str:
    """A backend whose measurements are in `measured`."""
    return measured_on(measured[1], request.param)


@pytest.fixture(params=OTHER_BACKENDS)
def other(request, measured) -> str:
    """A backend other than TensorFlow whose measurements are in `measured`."""
    return measured_on(measured[1], request.param)


def _directional(out: dict, inputs: dict, name: str, d: int, key: str = "grad") -> float:
    count = sum(1 for k in out if k.startswith(f"{name}_{key}"))
    return sum(
        float(np.sum(out[f"{name}_{key}{i}"] * inputs[f"{name}_d{d}_{i}"])) for i in range(count)
    )


@pytest.mark.parametrize("config", ["exact", "anil"])
def test_meta_gradient_of_fit_matches_finite_differences(measured, backend, config):
    # The gradient the default train_step applies is the exact second-order one,
    # through functional batch norm (float64, softplus).
    inputs, outs, _ = measured
    out = outs[backend]
    for d in range(checks.FD_DIRECTIONS):
        fd = float(out[f"{config}_fd{d}"])
        assert _directional(out, inputs, config, d) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_first_order_drops_second_order_term(measured, backend):
    inputs, outs, _ = measured
    out = outs[backend]
    count = sum(1 for k in out if k.startswith("first_order_grad"))
    for i in range(count):
        np.testing.assert_allclose(
            out[f"first_order_grad{i}"], out[f"first_order_fograd{i}"], rtol=1e-9, atol=1e-12
        )
    # The exact meta-gradient is not the first-order one.
    exact = np.concatenate([out[f"exact_grad{i}"].ravel() for i in range(count)])
    first = np.concatenate([out[f"exact_fograd{i}"].ravel() for i in range(count)])
    assert np.linalg.norm(exact - first) > 1e-2 * np.linalg.norm(exact)
    # ...and first order's own finite differences do not match its gradient.
    fd = float(out["first_order_fd0"])
    assert abs(_directional(out, inputs, "first_order", 0) - fd) > 1e-4 * abs(fd)


def test_adapted_weights_and_logits_match_tensorflow(measured, other):
    _, outs, _ = measured
    tf_out, out = outs["tensorflow"], outs[other]
    np.testing.assert_allclose(out["logits"], tf_out["logits"], rtol=1e-4, atol=1e-4)
    adapted = [k for k in tf_out if k.startswith("adapted")]
    assert len(adapted) == 2 * 14
    for key in adapted:
        np.testing.assert_allclose(out[key], tf_out[key], rtol=1e-4, atol=1e-4, err_msg=key)


def test_meta_gradients_match_tensorflow(measured, other):
    # float64: fit's meta-gradients, and value_and_grad's partial derivatives
    # (ANIL's body weights are inputs to its adapted head, yet count as given).
    _, outs, _ = measured
    tf_out, out = outs["tensorflow"], outs[other]
    keys = [k for k in tf_out if "grad" in k]
    assert len(keys) == 98  # grad and fograd of each config, and exact's 14 step sizes
    for key in keys:
        # TensorFlow casts the Python step size 0.3 through float32: ~1e-8 apart.
        np.testing.assert_allclose(out[key], tf_out[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_reptile_step_matches_tensorflow(measured, other):
    inputs, outs, _ = measured
    tf_out, out = outs["tensorflow"], outs[other]
    start = checks._weights(inputs, "first_order")
    assert not np.allclose(tf_out["reptile0"], start[0], atol=1e-3)  # The step moved it.
    for i in range(len(start)):
        key = f"reptile{i}"
        np.testing.assert_allclose(out[key], tf_out[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_model_trained_elsewhere_loads_on_tensorflow(measured, other):
    inputs, outs, tmp = measured
    model = keras.saving.load_model(tmp / f"{other}.keras")
    assert int(model.optimizer.iterations) == 1
    x = (inputs["support"].astype("float32"), inputs["support_labels"])
    x += (inputs["query"].astype("float32"),)
    np.testing.assert_allclose(
        model.predict_on_batch(x), outs[other]["trained_logits"], rtol=1e-4, atol=1e-4
    )


def test_adapt_golden_values_on_a_linear_head():
    # Logistic regression, one step: w' = w - lr * X^T (softmax(Xw) - Y) / n.
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 1])

    def forward(params, images):
        return keras.ops.matmul(images, params[0])

    w = np.zeros((2, 2))
    (fast,) = adapt(forward, [w], x, labels, steps=1, lr=0.5)
    expected = -0.5 * x.T @ (np.full((2, 2), 0.5) - np.eye(2)) / 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast), expected, atol=1e-12)
    loss, (grad,) = value_and_grad(lambda p: cross_entropy(forward(p, x), labels), [w])
    assert float(loss) == pytest.approx(np.log(2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad), -expected / 0.5, atol=1e-12)


def test_learner_shapes_and_batch_statistics():
    learner = ConvLearner(ways=5, filters=8)
    params = [
        keras.initializers.get(s.initializer)(s.shape, "float32") for s in learner.parameter_specs()
    ]
    images = np.random.default_rng(0).uniform(size=(6, 28, 28, 1)).astype("float32")
    logits = keras.ops.convert_to_numpy(learner.forward(params, images))
    assert logits.shape == (6, 5)
    # Batch statistics in every mode: an image's logits depend on its batch.
    alone = keras.ops.convert_to_numpy(learner.forward(params, images[:3], training=False))
    assert not np.allclose(alone, logits[:3])


def _episodes(batch: int = 2):
    rng = np.random.default_rng(1)
    support = rng.uniform(size=(batch, 6, 8, 8, 1)).astype("float32")
    labels = np.tile(np.repeat(np.arange(3), 2), (batch, 1)).astype("int32")
    query = rng.uniform(size=(batch, 6, 8, 8, 1)).astype("float32")
    return (support, labels, query), labels


def test_save_load_continue_fit_keeps_optimizer_state(tmp_path):
    keras.utils.set_random_seed(0)
    model = MAML(**checks.TINY, inner_steps=1, eval_inner_steps=2, learn_inner_lr=True)
    model.compile()
    x, y = _episodes()
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "maml.keras")
    loaded = keras.saving.load_model(tmp_path / "maml.keras")
    assert int(loaded.optimizer.iterations) == 2
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    model.fit(x, y, epochs=1, verbose=0)
    loaded.fit(x, y, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations) == 3
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # One episode without the episode axis; evaluation takes eval_inner_steps.
    single = model((x[0][0], x[1][0], x[2][0]))
    np.testing.assert_allclose(single, model(x)[0], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"inner_steps": 0}, "inner_steps must be a positive integer. Received: inner_steps=0"),
        ({"eval_inner_steps": 1.5}, "Received: eval_inner_steps=1.5"),
        ({"inner_lr": 0.0}, "inner_lr must be a positive number. Received: inner_lr=0.0"),
        ({"inner_lr": "0.4"}, "Received: inner_lr='0.4'"),
        ({"first_order": "yes"}, "first_order must be True or False. Received: first_order='yes'"),
        ({"learn_inner_lr": 1}, "Received: learn_inner_lr=1"),
        ({"adapt": "body"}, "adapt must be one of ('all', 'head'). Received: adapt='body'"),
        ({"activation": "swish!"}, "Received: activation='swish!'"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MAML(**checks.TINY, **kwargs)


def test_support_label_beyond_the_head_raises():
    model = MAML(**checks.TINY)
    (support, labels, query), _ = _episodes(1)
    with pytest.raises(ValueError, match="support_labels"):
        model((support[0], np.array([0, 0, 1, 1, 2, 3]), query[0]))
