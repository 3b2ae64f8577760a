"""metazoo.backend, and the embedding models and their presets on JAX (and PyTorch) as on TF."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.backend import has_values, is_tf_dataset, stateless_uniform
from tests import backend_checks as checks
from tests.backend_runs import OTHER_BACKENDS, measure_on_backends, measured_on

# Query logits are negative squared distances of up to ~100 here; float32
# convolutions that sum in another order differ by ~1e-6 of that.
LOGITS_ATOL = 1e-4


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """The same measurements on TensorFlow (here) and the other backends (subprocesses)."""
    tmp = tmp_path_factory.mktemp("backends")
    return measure_on_backends(
        "tests.backend_checks", lambda: checks.measure(checks.episodes()), tmp
    )


@pytest.fixture(params=OTHER_BACKENDS)
def other(request, measured) -> str:
    """A backend other than TensorFlow whose measurements are in `measured`."""
    return measured_on(measured, request.param)


@pytest.mark.parametrize("name", checks.EMBEDDING_PRESETS)
def test_preset_gives_the_same_query_logits_as_on_tensorflow(measured, other, name):
    for key in (name, f"{name}_single", f"{name}_pairs"):
        if key in measured["tensorflow"]:
            tf_out, out = measured["tensorflow"][key], measured[other][key]
            assert tf_out.shape == out.shape
            np.testing.assert_allclose(out, tf_out, rtol=0, atol=LOGITS_ATOL, err_msg=key)
    predicted = {backend: out[name].argmax(-1) for backend, out in measured.items()}
    np.testing.assert_array_equal(predicted[other], predicted["tensorflow"])


@pytest.mark.parametrize("name", checks.EMBEDDING_PRESETS)
def test_evaluation_loop_scores_the_same_as_on_tensorflow(measured, other, name):
    for key in (f"{name}_accuracy", f"{name}_pair_scores"):
        if key in measured["tensorflow"]:
            # The same queries right (1/15 apart); float32 means differ in the last bits.
            expected = pytest.approx(list(measured["tensorflow"][key]), abs=1e-6)
            assert list(measured[other][key]) == expected, key


def test_image_layers_agree_with_tensorflow(measured, other):
    tf_out, out = measured["tensorflow"], measured[other]
    np.testing.assert_array_equal(out["center_ink"], tf_out["center_ink"])
    np.testing.assert_allclose(out["affine_warp"], tf_out["affine_warp"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["tensorflow", *OTHER_BACKENDS])
def test_random_affine_runs_and_serializes(measured, backend):
    out = measured[measured_on(measured, backend)]
    for key in ("changes", "in_range", "inference_is_identity", "off_is_identity", "round_trip"):
        assert bool(out[f"affine_{key}"]), key


@pytest.mark.parametrize("backend", ["tensorflow", *OTHER_BACKENDS])
def test_input_checks_see_the_backends_arrays(measured, backend):
    out = measured[measured_on(measured, backend)]
    for name in checks.EMBEDDING_PRESETS:
        assert bool(out[f"{name}_refuses_0_255"]), name
    assert bool(out["has_values_eager"])
    assert not bool(out["has_values_symbolic"])
    assert not bool(out["has_values_traced"])


def test_is_tf_dataset():
    assert is_tf_dataset(tf.data.Dataset.range(3).batch(2))
    assert not is_tf_dataset(np.zeros(3))
    assert not is_tf_dataset([1, 2])


def test_stateless_uniform_draws_what_keras_draws_on_tensorflow():
    generator = keras.random.SeedGenerator(7)
    seed = generator.state.value * 1
    expected = keras.random.uniform((3, 4), -1.0, 1.0, seed=keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(stateless_uniform((3, 4), seed, -1.0, 1.0), expected)
    assert not np.array_equal(stateless_uniform((3, 4), seed + 1), stateless_uniform((3, 4), seed))


def test_has_values_on_tensorflow():
    assert has_values(np.zeros(2), [1.0], 3, tf.zeros(2))
    assert not has_values(np.zeros(2), keras.KerasTensor((None, 2)))
