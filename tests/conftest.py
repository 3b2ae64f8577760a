"""Shared fixtures: tiny synthetic episodes for unit tests, the real data when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import metazoo  # noqa: F401  (first: it keeps TensorFlow's start-up log lines quiet)


def pytest_configure(config):
    # Two logical CPUs, so tf.distribute tests can mirror across devices.
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (`$METAZOO_DATA_DIR`); tests that need it skip without it."""
    value = os.environ.get("METAZOO_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("METAZOO_DATA_DIR is not set to the data folder")
    return Path(value)


@pytest.fixture(scope="session")
def tiny_images() -> np.ndarray:
    """uint8 `[12 classes, 6 drawings, 28, 28, 1]`: each class a distinct blob, noisy."""
    rng = np.random.default_rng(0)
    images = np.zeros((12, 6, 28, 28, 1), np.float32)
    for c in range(12):
        row, col = divmod(c, 4)
        images[c, :, 2 + 8 * row : 8 + 8 * row, 2 + 6 * col : 8 + 6 * col] = 1.0
    images += rng.normal(0, 0.2, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)
