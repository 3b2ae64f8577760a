"""Omniglot as a TensorFlow Datasets builder, for those who want `tfds` records.

`load_omniglot` (in `metazoo.data.omniglot`) reads the official zips with
numpy and needs neither TensorFlow nor TFDS. This module offers the same
images as a TFDS builder, `MetazooOmniglot` (configs `vinyals`, `lake_28`,
`lake_56`, `lake_105`), prepared into TFDS's data folder (`$TFDS_DATA_DIR`,
default `~/tensorflow_datasets`); importing it imports TensorFlow Datasets.

Example:
```python
from metazoo.data.omniglot_tfds import omniglot_builder

builder = omniglot_builder("lake", 28, data_dir="../shared/data")
ds = builder.as_dataset(split="evaluation")
```
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from metazoo.data._files import fetch
from metazoo.data.omniglot import _check_protocol
from metazoo.data.omniglot_files import (
    BACKGROUND,
    DRAWING_PATH_RE,
    EVALUATION,
    PROTOCOLS,
    ink_image,
    open_drawings_zip,
    read_member,
    vinyals_split,
)
from metazoo.files import read_json_object, sha256sum, write_json_atomically

__all__ = ["MetazooOmniglot", "OmniglotConfig", "omniglot_builder", "prepared_from"]

# Beside a prepared config's records: the sha256 of the zips they were built from.
SOURCES_FILE = "metazoo_sources.json"


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
                    png = read_member(archive, name, path)
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
