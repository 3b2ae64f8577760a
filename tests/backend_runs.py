"""One measurement on every Keras backend, for the tests that compare JAX and PyTorch with TF.

A checks module (`tests/backend_checks.py`, `tests/algorithms/*_backend_checks.py`)
measures on whatever backend Keras runs on; run as
`python -m <module> OUT.npz [IN.npz]` it writes its measurements to `OUT.npz`
(from the inputs in `IN.npz`, where it takes any). `measure_on_backends`
starts it on each other installed backend, measures on TensorFlow here
meanwhile, and returns every backend's numbers.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Compared with TensorFlow in subprocesses; each only where it is installed.
OTHER_BACKENDS = ("jax", "torch")


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def measure_on_backends(
    module: str,
    here: Callable[[], dict],
    tmp: Path,
    inputs: dict | None = None,
    env: dict | None = None,
) -> dict[str, dict]:
    """`{"tensorflow": here(), backend: module's measurements, ...}`, the others in parallel.

    Args:
        module: str. The checks module, e.g. `"tests.backend_checks"`.
        here: callable. Measures on TensorFlow, in this process.
        tmp: Path. A folder of this test run: `IN.npz` and each `<backend>.npz` go there.
        inputs: dict of arrays, or None. Saved as `IN.npz` and passed to the module.
        env: dict. Extra environment variables of the subprocesses.
    """
    extra = []
    if inputs is not None:
        np.savez(tmp / "in.npz", **inputs)
        extra = [tmp / "in.npz"]
    started = {
        backend: subprocess.Popen(
            [sys.executable, "-m", module, tmp / f"{backend}.npz", *extra],
            cwd=ROOT,
            env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for backend in OTHER_BACKENDS
        if installed(backend)
    }
    outs = {"tensorflow": here()}
    for backend, process in started.items():
        _, stderr = process.communicate()
        assert process.returncode == 0, f"{backend}: {stderr.decode()[-3000:]}"
        with np.load(tmp / f"{backend}.npz") as data:
            outs[backend] = dict(data)
    return outs


def run_checks(measure: Callable) -> None:
    """A checks module's `__main__`: `measure(inputs)` (or `measure()`) saved to `argv[1]`."""
    out = Path(sys.argv[1])
    if len(sys.argv) > 2:
        with np.load(sys.argv[2]) as data:
            result = measure(dict(data))
    else:
        result = measure()
    np.savez(out, **result)


def measured_on(outs: dict, backend: str) -> str:
    """`backend` if `outs` has its measurements; skips the test where it is not installed."""
    if backend not in outs:
        pytest.skip(f"{backend} is not installed")
    return backend


def omniglot_test_inputs(data_dir: Path) -> dict:
    """Two 5-way 1-shot Omniglot test episodes (3 queries per class) built on TensorFlow.

    The inputs of the checks modules that compare presets' query logits
    across backends (Meta-LSTM, MAML).
    """
    from metazoo.episodes import omniglot_episodes

    data = omniglot_episodes("test", 5, 1, 3, seed=1, batch_size=2, data_dir=data_dir / "omniglot")
    (support, labels, query), query_labels = next(iter(data))
    return {"support": support.numpy(), "support_labels": labels.numpy(),
            "query": query.numpy(), "query_labels": query_labels.numpy()}  # fmt: skip


def assert_same_preset_logits(
    outs: dict, other: str, name: str, labels, atol: float, min_accuracy: float
) -> None:
    """`other`'s query logits of preset `name` (call and `predict`) are TensorFlow's.

    Within `atol`, with the same predicted classes, and right on more than
    `min_accuracy` of the queries (`labels`): the preset works there too.
    """
    for key in (name, f"{name}_predict"):
        expected, got = outs["tensorflow"][key], outs[other][key]
        assert got.shape == expected.shape == (2, 15, 5)
        np.testing.assert_allclose(got, expected, rtol=0, atol=atol, err_msg=key)
    np.testing.assert_array_equal(outs[other][name].argmax(-1), outs["tensorflow"][name].argmax(-1))
    assert np.mean(outs[other][name].argmax(-1) == labels) > min_accuracy
