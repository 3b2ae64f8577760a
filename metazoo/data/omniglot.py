"""Omniglot (Lake et al. 2015) read with numpy, and its two few-shot protocols.

`load_omniglot` reads the official `images_background.zip` and
`images_evaluation.zip` from a local folder when one is given (argument or
`$METAZOO_DATA_DIR`) and otherwise downloads them from the official
brendenlake/omniglot repository, checking their sha256. It needs neither
TensorFlow nor TensorFlow Datasets (a TFDS builder of the same images is in
`metazoo.data.omniglot_tfds`).

The first load of a size decodes the PNGs of each zip it needs and keeps
them in one `.npz` file per zip and size in `$METAZOO_PREPARED_DIR/omniglot/`
(default `~/.cache/metazoo/prepared/omniglot/`, e.g.
`images_background_28.npz`), stamped with the sha256 of the zip: another
zip (another folder, a repaired download) or a damaged `.npz` is decoded
again, and the file is replaced whole, never half-written.

Images are stored as uint8 with ink = 255 on a 0 background; `load_omniglot`
returns them that way and the episode sampler turns them into float32 in
[0, 1] with ink = 1, the convention everywhere in metazoo.

Protocols:

- `"vinyals"`: 28x28, all 1,623 characters; 1,028 train / 172 val / 423 test
  characters (Vinyals et al. 2016, class lists of Snell et al. 2017), each
  character rotated by 0/90/180/270 degrees into four classes.
- `"lake"`: the background set (964 characters, 30 alphabets) to train, the
  evaluation set (659 characters, 20 alphabets) to test; rotations only
  when asked for (`rotations=True`); 28x28, 56x56 or 105x105.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metazoo.data._files import PREPARED_DIR_ENV, RemoteFile, fetch, prepared_dir
from metazoo.data.omniglot_files import (
    BACKGROUND,
    DRAWERS,
    EVALUATION,
    LAKE_IMAGE_SIZES,
    PROTOCOLS,
    ROTATIONS,
    read_characters,
    vinyals_split,
)
from metazoo.files import atomic_file, sha256sum

# The TFDS builder lives in `omniglot_tfds` (importing it imports TFDS); these
# names still resolve here, on first use.
_TFDS_NAMES = ("MetazooOmniglot", "OmniglotConfig", "omniglot_builder", "prepared_from")
# Part of every prepared file's stamp: bump it when the arrays change meaning.
_PREPARED_FORMAT = 1
_LAKE_ZIPS = {"background": BACKGROUND, "evaluation": EVALUATION}


def alphabet_ids(class_names) -> np.ndarray:
    """The alphabet index of each class, from names like `"Alphabet/characterNN[/rotDDD]"`.

    Alphabets are numbered in order of first appearance.

    Example:
    ```python
    alphabet_ids(["Latin/character01", "Greek/character01", "Latin/character02"])
    # array([0, 1, 0], dtype=int32)
    ```
    """
    index: dict[str, int] = {}
    ids = []
    for name in class_names:
        if not isinstance(name, str) or "/" not in name:
            raise ValueError(
                f"Class names must look like 'Alphabet/characterNN'. Received: {name!r}"
            )
        ids.append(index.setdefault(name.split("/", 1)[0], len(index)))
    return np.asarray(ids, dtype=np.int32)


def alphabet_counts(
    alphabets, num_classes: int, same_alphabet_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Checks a same-alphabet request of the episode and pair samplers.

    Returns `None` when `same_alphabet_fraction` is 0, else `(alphabets,
    ids, counts)`: the alphabets as an int array `[num_classes]`, the
    distinct alphabet ids and their numbers of classes. Raises `ValueError`
    saying what is wrong.
    """
    if isinstance(same_alphabet_fraction, bool) or not (
        isinstance(same_alphabet_fraction, (int, float)) and 0 <= same_alphabet_fraction <= 1
    ):
        raise ValueError(
            "same_alphabet_fraction must be a number in [0, 1]. "
            f"Received: same_alphabet_fraction={same_alphabet_fraction!r}"
        )
    if same_alphabet_fraction == 0:
        return None
    if alphabets is None:
        raise ValueError(
            "A same_alphabet_fraction > 0 needs alphabets (the alphabet of each class, "
            "e.g. alphabet_ids(class_names)). Received: alphabets=None"
        )
    alphabets = np.asarray(alphabets)
    if alphabets.shape != (num_classes,) or not np.issubdtype(alphabets.dtype, np.integer):
        raise ValueError(
            f"alphabets must give one integer alphabet id per class ({num_classes}). "
            f"Received: shape={alphabets.shape}, dtype={alphabets.dtype}"
        )
    ids, counts = np.unique(alphabets, return_counts=True)
    return alphabets, ids, counts


@dataclass(frozen=True)
class ClassImages:
    """Images indexed by class: `images[c, d]` is drawing d of class c.

    Attributes:
        images: uint8 array `[classes, drawings, height, width, 1]`, ink = 255.
        class_names: one name per class, e.g. `"Gurmukhi/character42/rot090"`.
    """

    images: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return self.images.shape[0]

    @property
    def drawings_per_class(self) -> int:
        return self.images.shape[1]

    @property
    def alphabets(self) -> np.ndarray:
        """The alphabet index of each class (`alphabet_ids(class_names)`)."""
        return alphabet_ids(self.class_names)


def _check_protocol(protocol: str, split: str, image_size: int) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"protocol must be one of {sorted(PROTOCOLS)}. Received: protocol={protocol!r}"
        )
    if split not in PROTOCOLS[protocol]:
        raise ValueError(
            f"split must be one of {list(PROTOCOLS[protocol])} for protocol "
            f"{protocol!r}. Received: split={split!r}"
        )
    sizes = (28,) if protocol == "vinyals" else LAKE_IMAGE_SIZES
    if image_size not in sizes:
        raise ValueError(
            f"image_size must be one of {list(sizes)} for protocol {protocol!r}. "
            f"Received: image_size={image_size!r}"
        )


def _read_prepared(path: Path, stamp: str, size: int):
    """The arrays of a prepared file stamped `stamp`; None if absent, stale or damaged."""
    try:
        with np.load(path, allow_pickle=False) as prepared:
            if str(prepared["stamp"]) != stamp:
                return None
            images, names = prepared["images"], prepared["names"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # absent or damaged (a full disk, a killed copy): decoded again
    if images.dtype != np.uint8 or images.shape != (len(names), DRAWERS, size, size, 1):
        return None
    return images, names.tolist()


def _write_prepared(path: Path, stamp: str, images: np.ndarray, names: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp, open(tmp, "wb") as out:
            np.savez_compressed(out, stamp=np.array(stamp), images=images, names=np.array(names))
    except OSError as err:
        warnings.warn(
            f"Could not keep the decoded Omniglot images in {str(path)!r} ({err}); the "
            f"zips will be decoded again next time. Set {PREPARED_DIR_ENV} to a writable "
            "folder.",
            stacklevel=2,
        )


def _characters(remote: RemoteFile, data_dir, size: int) -> tuple[np.ndarray, list[str]]:
    """`read_characters` of one official zip, through its prepared file."""
    path = fetch(remote, data_dir)
    stamp = json.dumps({"format": _PREPARED_FORMAT, "sha256": sha256sum(path), "size": size})
    prepared_path = prepared_dir() / "omniglot" / f"{Path(remote.name).stem}_{size}.npz"
    prepared = _read_prepared(prepared_path, stamp, size)
    if prepared is None:
        prepared = read_characters(path, size)
        _write_prepared(prepared_path, stamp, *prepared)
    return prepared


@functools.lru_cache(maxsize=8)
def _load_cached(
    protocol: str, split: str, image_size: int, data_dir, rotations: bool
) -> ClassImages:
    if protocol == "lake":
        images, names = _characters(_LAKE_ZIPS[split], data_dir, image_size)
    else:
        parts = [_characters(remote, data_dir, image_size) for remote in (BACKGROUND, EVALUATION)]
        names = [name for _, part_names in parts for name in part_names]
        subsets = ("train", "val") if split == "trainval" else (split,)
        keep = sorted(
            (i for i, name in enumerate(names) if _vinyals_subset(name) in subsets),
            key=names.__getitem__,
        )
        images = np.concatenate([part_images for part_images, _ in parts])[keep]
        names = [names[i] for i in keep]
    if rotations:
        # Rotations are new classes, ordered as Snell's lists: character-major.
        rotated = [np.rot90(images, k=r // 90, axes=(2, 3)) for r in ROTATIONS]
        images = np.stack(rotated, axis=1).reshape((-1,) + images.shape[1:])
        names = [f"{n}/rot{r:03d}" for n in names for r in ROTATIONS]
    images = np.ascontiguousarray(images)
    images.setflags(write=False)
    return ClassImages(images=images, class_names=tuple(names))


def _vinyals_subset(name: str) -> str:
    alphabet, character = name.split("/")
    return vinyals_split(alphabet, int(character.removeprefix("character")))


def load_omniglot(
    protocol: str = "vinyals",
    split: str = "train",
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    rotations: bool | None = None,
) -> ClassImages:
    """Loads one split of an Omniglot protocol as a class-indexed uint8 array.

    Args:
        protocol: str. `"vinyals"` (28x28, rotations as classes) or `"lake"`.
        split: str. `"train"`, `"val"`, `"test"` or `"trainval"` (Vinyals);
            `"background"` or `"evaluation"` (Lake).
        image_size: int. 28, or 56 or 105 for the Lake protocol.
        data_dir: str. Folder with the official zips (default
            `$METAZOO_DATA_DIR`; downloaded when neither is given).
        rotations: bool. Each character rotated by 0/90/180/270 degrees
            makes four classes (Vinyals et al.'s augmentation). Default: the
            protocol's own (Vinyals: yes, it defines its classes so; Lake:
            no). `True` with the Lake protocol enlarges a training set, e.g.
            the 964 background characters to 3,856 classes.

    The first load of a size decodes the zips' PNGs (seconds to tens of
    seconds) and keeps them in `$METAZOO_PREPARED_DIR`; later loads read
    that file while the zip is the same (same sha256).

    Returns:
        A `ClassImages` with `images` of shape `[classes, 20, size, size, 1]`.

    Raises:
        ValueError: a bad protocol, split, size or `rotations`; a corrupt or
            incomplete zip, or an unreadable drawing (the message names it).
        FileNotFoundError: the data folder does not exist or lacks a zip.
        ConnectionError: no data folder, and the download failed.

    Example:
    ```python
    test = load_omniglot("vinyals", "test")
    test.images.shape  # (1692, 20, 28, 28, 1): 423 characters x 4 rotations
    ```
    """
    _check_protocol(protocol, split, image_size)
    if rotations is None:
        rotations = protocol == "vinyals"
    elif not isinstance(rotations, bool):
        raise ValueError(f"rotations must be True, False or None. Received: {rotations!r}")
    elif protocol == "vinyals" and not rotations:
        raise ValueError(
            "The Vinyals split defines rotated characters as its classes; rotations=False "
            "only applies to the Lake protocol. Received: protocol='vinyals', rotations=False"
        )
    data_dir = str(Path(data_dir).expanduser().resolve()) if data_dir else None
    return _load_cached(protocol, split, image_size, data_dir, rotations)


def __getattr__(name: str):
    if name in _TFDS_NAMES:
        from metazoo.data import omniglot_tfds

        return getattr(omniglot_tfds, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
