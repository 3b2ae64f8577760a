"""`keras.distribution.DataParallel` on JAX with two CPU devices trains as one device does."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    path = tmp_path_factory.mktemp("data_parallel") / "out.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.data_parallel_checks", str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(path.read_text())


def test_two_cpu_devices_are_used(measured):
    assert measured["backend"] == "jax" and measured["devices"] == 2
    for name in ("protonet", "maml"):
        # Replicated over both devices under DataParallel, on one without it.
        assert measured[name]["data_parallel"]["variable_devices"] == 2, name
        assert measured[name]["single"]["variable_devices"] == 1, name


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_data_parallel_gives_the_single_device_update(measured, name):
    single, parallel = measured[name]["single"], measured[name]["data_parallel"]
    assert single["iterations"] == parallel["iterations"] == 2
    assert parallel["loss"] == pytest.approx(single["loss"], rel=1e-5)
    for a, b in zip(parallel["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    # Both started from the same weights, and two steps moved them.
    for a, b in zip(parallel["initial"], single["initial"], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(single["weights"][0]), np.asarray(single["initial"][0]))
