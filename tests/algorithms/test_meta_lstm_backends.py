"""The MetaLSTM preset and `fit` on JAX and PyTorch, compared with TensorFlow on real episodes."""

import numpy as np
import pytest

from tests.algorithms import meta_lstm_backend_checks as checks
from tests.backend_runs import (
    OTHER_BACKENDS,
    assert_same_preset_logits,
    measure_on_backends,
    measured_on,
    omniglot_test_inputs,
)

# 12 inner steps of a learned optimizer on 5 support images: float32 rounding
# in another backend's convolutions moves the logits (up to ~8) by up to ~6e-4.
LOGITS_ATOL = 1e-3


@pytest.fixture(scope="module")
def measured(data_dir, tmp_path_factory) -> tuple[dict, dict]:
    """Two 5-way 1-shot Omniglot test episodes built here (TF), measured on every backend."""
    inputs = omniglot_test_inputs(data_dir)
    tmp = tmp_path_factory.mktemp("meta_lstm_backends")
    module = "tests.algorithms.meta_lstm_backend_checks"
    return inputs, measure_on_backends(module, lambda: checks.measure(inputs), tmp, inputs)


@pytest.fixture(params=OTHER_BACKENDS)
def other(request, measured) -> str:
    return measured_on(measured[1], request.param)


@pytest.mark.parametrize("name", checks.PRESETS)
def test_preset_gives_the_query_logits_of_tensorflow(measured, other, name):
    inputs, outs = measured
    # The preset works there too: 5-way 1-shot, far above chance (0.2).
    assert_same_preset_logits(outs, other, name, inputs["query_labels"], LOGITS_ATOL, 0.6)


@pytest.mark.parametrize("backend", ["tensorflow", *OTHER_BACKENDS])
def test_tiny_fit_trains_the_cell_and_the_initialization(measured, backend):
    outs = measured[1]
    if backend not in outs:
        pytest.skip(f"{backend} is not installed")
    out = outs[backend]
    assert np.all(np.isfinite(out["fit_loss"])) and len(out["fit_loss"]) == 2
    moved = set(out["fit_moved"].tolist())
    for name in ("forget_kernel", "input_kernel", "forget_bias", "input_bias", "lstm_kernel"):
        assert f"meta_learner/{name}" in moved, (name, moved)
    assert "head/kernel" in moved and "block0_conv/kernel" in moved, moved
