import gzip
import struct

import numpy as np
import pytest

from metazoo.data.mnist import load_mnist, read_idx


def _write_idx(path, array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x-idx3-ubyte.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz"), array)


def test_truncated_idx_raises(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_not_idx_raises(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(path)


def test_bad_split():
    with pytest.raises(ValueError, match="Received: split='validation'"):
        load_mnist("validation")


def test_real_mnist(data_dir):
    images, labels = load_mnist("test", data_dir=data_dir)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() == 1.0
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]
