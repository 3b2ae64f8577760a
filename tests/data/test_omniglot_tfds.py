"""The TFDS builder of Omniglot: its checks, its records, and the same images as the loader."""

import functools
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import metazoo.data
from metazoo.data import _files, omniglot, omniglot_tfds
from metazoo.data.omniglot import load_omniglot
from metazoo.data.omniglot_files import ROTATIONS
from metazoo.data.omniglot_tfds import MetazooOmniglot


def test_old_import_paths_still_give_the_builder():
    assert metazoo.data.MetazooOmniglot is MetazooOmniglot
    assert metazoo.data.omniglot_builder is omniglot_tfds.omniglot_builder
    assert omniglot.MetazooOmniglot is MetazooOmniglot
    with pytest.raises(AttributeError, match="has no attribute 'MetazooOmnigl'"):
        metazoo.data.MetazooOmnigl  # noqa: B018


def tfds_class_images(builder, splits, rotations):
    """The class-indexed images and names of a prepared builder, as metazoo grouped them."""
    import tensorflow_datasets as tfds

    by_character = {}
    for split in splits:
        for batch in tfds.as_numpy(builder.as_dataset(split=split, batch_size=4096)):
            for image, character, drawer in zip(
                batch["image"], batch["character"], batch["drawer"], strict=True
            ):
                by_character.setdefault(character.decode(), {})[int(drawer)] = image
    names = sorted(by_character)
    images = np.stack(
        [np.stack([by_character[n][d] for d in sorted(by_character[n])]) for n in names]
    )
    if rotations:
        images = np.stack([np.rot90(images, k=r // 90, axes=(2, 3)) for r in ROTATIONS], axis=1)
        images = images.reshape((-1,) + images.shape[2:])
        names = [f"{n}/rot{r:03d}" for n in names for r in ROTATIONS]
    return images, tuple(names)


def assert_same_as_builder(builder, protocol, split, size, data_dir, rotations=None):
    if protocol == "vinyals":
        splits, rotated = (("train", "val") if split == "trainval" else (split,)), True
    else:
        splits, rotated = (split,), bool(rotations)
    images, names = tfds_class_images(builder, splits, rotated)
    loaded = load_omniglot(protocol, split, size, data_dir, rotations=rotations)
    assert loaded.class_names == names
    assert loaded.images.dtype == images.dtype == np.uint8
    np.testing.assert_array_equal(loaded.images, images)


def test_loader_gives_the_builders_images(tiny_omniglot, tmp_path):
    vinyals = MetazooOmniglot(config="vinyals", source_dir=tiny_omniglot, data_dir=tmp_path / "t")
    vinyals.download_and_prepare()
    for split in ("train", "val", "test", "trainval"):
        assert_same_as_builder(vinyals, "vinyals", split, 28, tiny_omniglot)
    lake = MetazooOmniglot(config="lake_56", source_dir=tiny_omniglot, data_dir=tmp_path / "t")
    lake.download_and_prepare()
    assert_same_as_builder(lake, "lake", "background", 56, tiny_omniglot)
    assert_same_as_builder(lake, "lake", "background", 56, tiny_omniglot, rotations=True)
    assert_same_as_builder(lake, "lake", "evaluation", 56, tiny_omniglot)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize(
    "config, protocol, split, size",
    [
        ("vinyals", "vinyals", "test", 28),
        ("lake_28", "lake", "evaluation", 28),
        ("lake_105", "lake", "evaluation", 105),
    ],
)
def test_loader_gives_the_builders_images_on_the_real_data(
    data_dir, tmp_path, monkeypatch, config, protocol, split, size
):
    """Minutes: prepares TFDS records of the real zips and decodes them afresh."""
    monkeypatch.setenv("METAZOO_PREPARED_DIR", str(tmp_path / "prepared"))
    omniglot._load_cached.cache_clear()
    builder = MetazooOmniglot(config=config, source_dir=data_dir, data_dir=tmp_path / "tfds")
    builder.download_and_prepare()
    assert_same_as_builder(builder, protocol, split, size, data_dir)
    omniglot._load_cached.cache_clear()


def _builder(tmp_path, source):
    return MetazooOmniglot(config="vinyals", source_dir=source, data_dir=tmp_path / "tfds")


def test_corrupt_zip_gives_clear_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "images_background.zip").write_bytes(b"not a zip at all")
    (src / "images_evaluation.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable zip file"):
        _builder(tmp_path, src).download_and_prepare()
    assert not list((tmp_path / "tfds").rglob("*.tfrecord*"))


def test_incomplete_zip_gives_clear_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("images_background.zip", "images_evaluation.zip"):
        with zipfile.ZipFile(src / name, "w") as z:
            z.writestr("images_background/Latin/character01/0001_01.png", b"")
    with pytest.raises(ValueError, match="holds 1 Omniglot drawings, expected 19280"):
        _builder(tmp_path, src).download_and_prepare()


def test_missing_local_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="images_background.zip was not found"):
        _builder(tmp_path, tmp_path).download_and_prepare()


def test_missing_data_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _builder(tmp_path, tmp_path / "nope").download_and_prepare()


def test_offline_without_data_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv(_files.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("METAZOO_CACHE_DIR", str(tmp_path / "cache"))
    unreachable = _files.RemoteFile(
        "images_background.zip", "http://127.0.0.1:9/images_background.zip", "0" * 64,
        "omniglot",
    )  # fmt: skip
    monkeypatch.setattr(omniglot_tfds, "BACKGROUND", unreachable)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="METAZOO_DATA_DIR"):
        _builder(tmp_path, None).download_and_prepare()
    assert time.monotonic() - start < 20
    assert not list((tmp_path / "cache").rglob("*.zip*"))  # no partial download left


def test_corrupt_png_names_its_zip_and_member(tmp_path):
    archive = tmp_path / "images_evaluation_part.zip"
    member = "images_evaluation/Angelic/character01/0965_01.png"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(member, b"\x89PNG but not really")
    builder = MetazooOmniglot(config="lake_28", source_dir=tmp_path, data_dir=tmp_path / "tfds")
    with pytest.raises(ValueError, match=rf"{member} in '.*images_evaluation_part.zip' is not a "
                       "readable PNG image"):  # fmt: skip
        next(builder._generate_examples([archive], None))


def test_prepared_records_follow_the_data_folder(tiny_omniglot, tmp_path, monkeypatch):
    """A prepared cache does not hide a missing or broken data folder, nor other sources."""
    # Tiny official-layout zips, records in a folder of this test (the logic is the same as
    # for the real zips, whose records take minutes to build).
    monkeypatch.setattr(
        omniglot_tfds,
        "MetazooOmniglot",
        functools.partial(MetazooOmniglot, data_dir=tmp_path / "tfds"),
    )
    builder = omniglot_tfds.omniglot_builder("lake", 28, tiny_omniglot)
    sources = json.loads((Path(builder.data_dir) / omniglot_tfds.SOURCES_FILE).read_text())
    assert sorted(sources) == ["images_background.zip", "images_evaluation.zip"]
    assert omniglot_tfds.prepared_from(builder, sources)
    records = sorted(Path(builder.data_dir).glob("*.tfrecord*"))
    assert records
    stamps = [p.stat().st_mtime_ns for p in records]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        omniglot_tfds.omniglot_builder("lake", 28, tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    whole = (tiny_omniglot / "images_background.zip").read_bytes()
    (broken / "images_background.zip").write_bytes(whole[: len(whole) // 2])
    (broken / "images_evaluation.zip").symlink_to(tiny_omniglot / "images_evaluation.zip")
    with pytest.raises(ValueError, match="images_background.zip' is not a readable zip file"):
        omniglot_tfds.omniglot_builder("lake", 28, broken)
    # The same files in another folder: the records are used as they are, not rebuilt.
    same = tmp_path / "same"
    same.mkdir()
    for name in ("images_background.zip", "images_evaluation.zip"):
        (same / name).symlink_to(tiny_omniglot / name)
    assert omniglot_tfds.prepared_from(omniglot_tfds.omniglot_builder("lake", 28, same), sources)
    assert [p.stat().st_mtime_ns for p in records] == stamps
    # Records built from other files are not taken for these ones.
    assert not omniglot_tfds.prepared_from(builder, {**sources, "images_background.zip": "0" * 64})
