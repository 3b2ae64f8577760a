"""MNIST (LeCun, Cortes & Burges) from the official IDX files."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from metazoo.data._files import RemoteFile, fetch

_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_FILES = {
    "train": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            _URL + "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "mnist",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            _URL + "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "mnist",
        ),
    ),
    "test": (
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            _URL + "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "mnist",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            _URL + "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "mnist",
        ),
    ),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (gzipped or not) into a numpy array.

    Raises:
        ValueError: the file is not a valid unsigned-byte IDX file.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"Could not read IDX file {str(path)!r}: {err}") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(
            f"{str(path)!r} is not an unsigned-byte IDX file. Received header bytes: {data[:4]!r}"
        )
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(
            f"{str(path)!r} is truncated: header says {dims}, found {body.size} bytes."
        )
    return body.reshape(dims)


def load_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Loads MNIST images (float32 in [0, 1], shape `[n, 28, 28]`) and int32 labels.

    Args:
        split: str. `"train"` (60,000 images) or `"test"` (10,000).
        data_dir: str. Folder with the official IDX files (or an `mnist/`
            subfolder that does); defaults to `$METAZOO_DATA_DIR`, else the
            files are downloaded.

    Example:
    ```python
    images, labels = load_mnist("test")
    images.shape  # (10000, 28, 28)
    ```
    """
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}. Received: split={split!r}")
    image_file, label_file = (fetch(f, data_dir) for f in _FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels.")
    return images.astype(np.float32) / 255.0, labels.astype(np.int32)
