"""L2L on JAX and PyTorch as on TensorFlow: presets, meta-gradients, `fit`, seeded draws."""

import numpy as np
import pytest

from tests.algorithms import l2l_backend_checks as checks
from tests.backend_runs import OTHER_BACKENDS, measure_on_backends, measured_on

# float32 all the way; the backends sum in other orders (measured: up to 2.4e-7).
ATOL = 1e-5


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """`checks.measure()` on TensorFlow (here) and the other backends (subprocesses, meanwhile)."""
    tmp = tmp_path_factory.mktemp("l2l_backends")
    return measure_on_backends("tests.algorithms.l2l_backend_checks", checks.measure, tmp)


@pytest.fixture(params=OTHER_BACKENDS)
def other(request, measured) -> str:
    backend = measured_on(measured, request.param)
    assert str(measured[backend]["backend"]) == backend
    return backend


@pytest.fixture(params=("tensorflow", *OTHER_BACKENDS))
def backend(request, measured) -> str:
    return measured_on(measured, request.param)


def _assert_close(measured, other, prefix):
    keys = [k for k in measured["tensorflow"] if k.startswith(prefix)]
    assert keys, prefix
    for key in keys:
        expected, got = measured["tensorflow"][key], measured[other][key]
        np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("preset", checks.PRESETS)
def test_committed_preset_steps_as_on_tensorflow(measured, other, preset):
    # Two steps on two variables: the variables, then each LSTM state.
    _assert_close(measured, other, f"{preset}_")
    tf_out = measured["tensorflow"]
    assert np.any(tf_out[f"{preset}_0"] != 1.0) and np.any(tf_out[f"{preset}_2"] != 0.0)


def test_meta_gradient_matches_tensorflow(measured, other):
    # A fresh optimizee, then one continued from the carry (threaded through JAX's stateless step).
    _assert_close(measured, other, "meta_loss")
    _assert_close(measured, other, "meta_grad")
    _assert_close(measured, other, "carry_params")
    for step in (0, 1):
        grads = [v for k, v in measured[other].items() if k.startswith(f"meta_grad{step}_")]
        assert all(np.any(g != 0) for g in grads)


def test_learned_optimizer_fits_a_keras_model_as_on_tensorflow(measured, other):
    _assert_close(measured, other, "fit_")
    assert measured[other]["fit_states_nonzero"].all()
    assert measured[other]["fit_loss"][-1] < measured[other]["fit_loss"][0]


def test_meta_training_fit_runs_and_carries_the_optimizee(measured, backend):
    out = measured[backend]
    assert out["train_loss"].shape == (1,) and np.isfinite(out["train_loss"]).all()
    assert bool(out["train_carry_nonzero"])


def test_preset_rollout_lowers_the_loss_on_every_backend(measured, backend):
    curve, finals = measured[backend]["rollout_curve"], measured[backend]["rollout_finals"]
    assert curve.shape == (10, 2) and finals.shape == (2,)
    assert np.all(finals < 0.5 * curve[0])


def test_rollout_and_meta_training_see_the_tasks_they_see_on_tensorflow(measured, other):
    # The same optimizees and minibatches: TensorFlow's draws (normals within a float32
    # step or two), so the curves agree to float32 rounding, not just within a CI.
    tf_out, out = measured["tensorflow"], measured[other]
    for key in ("rollout_curve", "rollout_finals", "train_loss"):
        np.testing.assert_allclose(out[key], tf_out[key], rtol=1e-4, err_msg=key)


def test_seeded_draws_are_tensorflows_on_every_backend(measured, other):
    tf_out, out = measured["tensorflow"], measured[other]
    np.testing.assert_array_equal(out["draw_fold_in"], tf_out["draw_fold_in"])
    np.testing.assert_array_equal(out["draw_randint"], tf_out["draw_randint"])
    # TensorFlow rounds glibc's logf/sincosf: about 1.5% of normals are a step or two away.
    np.testing.assert_array_max_ulp(out["draw_normal"], tf_out["draw_normal"], maxulp=2)
    assert np.mean(out["draw_normal"] == tf_out["draw_normal"]) > 0.95


def test_seeded_draws_repeat_for_a_seed_and_differ_across_seeds(measured, backend):
    for name in ("normal", "randint"):
        first, again, folded = measured[backend][f"draw_{name}"]
        np.testing.assert_array_equal(first, again)
        assert np.any(first != folded)
    assert measured[backend]["draw_randint"].min() >= 0
    assert measured[backend]["draw_randint"].max() < 60_000
