"""Omniglot (Lake et al. 2015) as a TFDS builder, and its two few-shot protocols.

The builder reads the official `images_background.zip` and
`images_evaluation.zip` from a local folder when one is given (argument or
`$METAZOO_DATA_DIR`) and otherwise downloads them from the official
brendenlake/omniglot repository, checking their sha256.

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
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from metazoo.data._files import fetch
from metazoo.data.omniglot_files import (
    BACKGROUND,
    DRAWING_PATH_RE,
    EVALUATION,
    LAKE_IMAGE_SIZES,
    PROTOCOLS,
    ROTATIONS,
    SOURCES_FILE,
    ink_image,
    open_drawings_zip,
    vinyals_split,
)
from metazoo.files import read_json_object, sha256sum, write_json_atomically


class OmniglotConfig(tfds.core.BuilderConfig):
    """A protocol and image size of the metazoo Omniglot builder."""

    def __init__(self, *, protocol: str, image_size: int, **kwargs):
        super().__init__(**kwargs)
        self.protocol = protocol
        self.image_size = image_size


class MetazooOmniglot(tfds.core.GeneratorBasedBuilder):
    """Omniglot with the Vinyals/Snell and Lake few-shot splits.

    Args:
        source_dir: str. Folder holding the official zips (or an `omniglot/`
            subfolder that does). Defaults to `$METAZOO_DATA_DIR`; when
            neither is set the zips are downloaded.
        **kwargs: passed to `tfds.core.GeneratorBasedBuilder` (`config`,
            `data_dir` where the prepared records go, ...).

    Example:
    ```python
    builder = MetazooOmniglot(config="vinyals", source_dir="../shared/data")
    builder.download_and_prepare()
    ds = builder.as_dataset(split="test")
    ```
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Vinyals (28x28) and Lake (28x28, 56x56, 105x105) configs."}
    BUILDER_CONFIGS = [
        OmniglotConfig(
            name="vinyals",
            protocol="vinyals",
            image_size=28,
            description="Vinyals/Snell split, 28x28, unrotated drawings.",
        ),
        OmniglotConfig(
            name="lake_28",
            protocol="lake",
            image_size=28,
            description="Lake background/evaluation split, 28x28.",
        ),
        OmniglotConfig(
            name="lake_56",
            protocol="lake",
            image_size=56,
            description="Lake background/evaluation split, 56x56.",
        ),
        OmniglotConfig(
            name="lake_105",
            protocol="lake",
            image_size=105,
            description="Lake background/evaluation split, 105x105.",
        ),
    ]

    def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs):
        self._source_dir = source_dir
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 1)),
                    "alphabet": tfds.features.Text(),
                    "character": tfds.features.Text(),
                    "character_id": np.int32,
                    "drawer": np.int32,
                }
            ),
            homepage="https://github.com/brendenlake/omniglot",
            citation=(
                "@article{lake2015human, title={Human-level concept learning "
                "through probabilistic program induction}, author={Lake, Brenden M "
                "and Salakhutdinov, Ruslan and Tenenbaum, Joshua B}, "
                "journal={Science}, volume={350}, number={6266}, year={2015}}"
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # metazoo fetches with its own fail-fast downloader.
        zips = [fetch(remote, self._source_dir) for remote in (BACKGROUND, EVALUATION)]
        if self.builder_config.protocol == "lake":
            return {
                "background": self._generate_examples(zips[:1], None),
                "evaluation": self._generate_examples(zips[1:], None),
            }
        return {split: self._generate_examples(zips, split) for split in ("train", "val", "test")}

    def _generate_examples(self, zips, vinyals_subset):
        size = self.builder_config.image_size
        for path in zips:
            archive, names = open_drawings_zip(Path(path))
            with archive:
                for name in names:
                    alphabet, character, char_id, drawer = DRAWING_PATH_RE.search(name).groups()
                    if vinyals_subset and (
                        vinyals_split(alphabet, int(character)) != vinyals_subset
                    ):
                        continue
                    try:
                        png = archive.read(name)
                    except (zipfile.BadZipFile, OSError) as err:
                        raise ValueError(
                            f"Could not read {name} from {str(path)!r} ({err}): "
                            "the archive is corrupt."
                        ) from err
                    yield (
                        name,
                        {
                            "image": ink_image(png, size, f"{name} in {str(path)!r}"),
                            "alphabet": alphabet,
                            "character": f"{alphabet}/character{character}",
                            "character_id": int(char_id) - 1,
                            "drawer": int(drawer),
                        },
                    )


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


def omniglot_builder(
    protocol: str = "vinyals",
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
) -> MetazooOmniglot:
    """Returns the prepared TFDS builder for a protocol (preparing it once if needed).

    The prepared records remember the sha256 of the zips they were built
    from (`metazoo_sources.json` beside them). The zips are located anew on
    every call (`data_dir`, else `$METAZOO_DATA_DIR`, else the download
    cache), so a missing data folder is an error even when records exist, and
    records built from other files (another folder, a changed or repaired
    zip) are rebuilt from these ones.

    Args:
        protocol: str. `"vinyals"` or `"lake"`.
        image_size: int. 28, or 56 or 105 for the Lake protocol.
        data_dir: str. Folder with the official zips; defaults to
            `$METAZOO_DATA_DIR`, else the zips are downloaded.
    """
    _check_protocol(protocol, PROTOCOLS[protocol][0] if protocol in PROTOCOLS else "", image_size)
    paths = [Path(fetch(remote, data_dir)) for remote in (BACKGROUND, EVALUATION)]
    sources = {path.name: sha256sum(path) for path in paths}
    config = "vinyals" if protocol == "vinyals" else f"lake_{image_size}"
    builder = MetazooOmniglot(config=config, source_dir=data_dir)
    if prepared_from(builder, sources):
        return builder
    for path in paths:
        # Before TFDS touches the prepared records: a bad zip must not cost the good ones.
        open_drawings_zip(path)[0].close()
    mode = tfds.download.GenerateMode
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            # Records from other (or unrecorded) sources are regenerated, not reused.
            download_mode=mode.REUSE_CACHE_IF_EXISTS
            if builder.is_prepared()
            else mode.REUSE_DATASET_IF_EXISTS
        )
    )
    write_json_atomically(Path(builder.data_dir) / SOURCES_FILE, sources)
    return builder


def prepared_from(builder: MetazooOmniglot, sources: dict[str, str]) -> bool:
    """Whether `builder`'s records exist and were built from `sources` (name -> sha256)."""
    record = Path(builder.data_dir) / SOURCES_FILE
    return builder.is_prepared() and record.is_file() and read_json_object(record) == sources


@functools.lru_cache(maxsize=8)
def _load_cached(
    protocol: str, split: str, image_size: int, data_dir, rotations: bool
) -> ClassImages:
    builder = omniglot_builder(protocol, image_size, data_dir)
    splits = ("train", "val") if split == "trainval" else (split,)
    by_character: dict[str, list[tuple[int, np.ndarray]]] = {}
    for name in splits:
        for batch in tfds.as_numpy(builder.as_dataset(split=name, batch_size=4096)):
            for image, character, drawer in zip(
                batch["image"], batch["character"], batch["drawer"], strict=True
            ):
                by_character.setdefault(character.decode(), []).append((drawer, image))
    names = sorted(by_character)
    images = np.stack(
        [np.stack([im for _, im in sorted(by_character[n], key=lambda t: t[0])]) for n in names]
    )
    if rotations:
        # Rotations are new classes, ordered as Snell's lists: character-major.
        rotated = [np.rot90(images, k=r // 90, axes=(2, 3)) for r in ROTATIONS]
        images = np.stack(rotated, axis=1).reshape((-1,) + images.shape[1:])
        names = [f"{n}/rot{r:03d}" for n in names for r in ROTATIONS]
    images = np.ascontiguousarray(images)
    images.setflags(write=False)
    return ClassImages(images=images, class_names=tuple(names))


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

    Returns:
        A `ClassImages` with `images` of shape `[classes, 20, size, size, 1]`.

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
