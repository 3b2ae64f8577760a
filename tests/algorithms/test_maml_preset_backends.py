"""The MAML presets on JAX and PyTorch, compared with TensorFlow on real episodes."""

import pytest

from tests.algorithms import maml_preset_backend_checks as checks
from tests.backend_runs import (
    OTHER_BACKENDS,
    assert_same_preset_logits,
    measure_on_backends,
    measured_on,
    omniglot_test_inputs,
)

# Three inner steps of plain SGD from the same weights: float32 rounding in another
# backend's convolutions and gradients moves the logits by far less than this.
LOGITS_ATOL = 1e-4


def test_the_zoo_has_maml_presets():
    assert {"maml_omniglot_5w1s", "maml_omniglot_5w5s"} <= set(checks.PRESETS)


@pytest.fixture(scope="module")
def measured(data_dir, tmp_path_factory) -> tuple[dict, dict]:
    """Two 5-way 1-shot Omniglot test episodes built here (TF), measured on every backend."""
    inputs = omniglot_test_inputs(data_dir)
    tmp = tmp_path_factory.mktemp("maml_preset_backends")
    module = "tests.algorithms.maml_preset_backend_checks"
    return inputs, measure_on_backends(module, lambda: checks.measure(inputs), tmp, inputs)


@pytest.fixture(params=OTHER_BACKENDS)
def other(request, measured) -> str:
    return measured_on(measured[1], request.param)


@pytest.mark.data
@pytest.mark.parametrize("name", checks.PRESETS)
def test_preset_gives_the_query_logits_of_tensorflow(measured, other, name):
    inputs, outs = measured
    # The preset works there too: 5-way 1-shot, far above chance (0.2).
    assert_same_preset_logits(outs, other, name, inputs["query_labels"], LOGITS_ATOL, 0.8)
