import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from metazoo.data import _files, omniglot
from metazoo.data.omniglot import MetazooOmniglot, load_omniglot, vinyals_split


def test_vinyals_rule_examples():
    assert vinyals_split("Gurmukhi", 42) == "test"
    assert vinyals_split("Gurmukhi", 41) == "train"
    assert vinyals_split("Tengwar", 1) == "test"
    assert vinyals_split("Hebrew", 3) == "val"
    assert vinyals_split("Latin", 3) == "train"


@pytest.mark.parametrize("split, characters", [("train", 1028), ("val", 172), ("test", 423)])
def test_vinyals_split_matches_snell_lists(data_dir, split, characters):
    data = load_omniglot("vinyals", split, data_dir=data_dir)
    assert data.images.shape == (4 * characters, 20, 28, 28, 1)
    listed = data_dir / "omniglot" / "splits" / "vinyals" / f"{split}.txt"
    if not listed.is_file():
        pytest.skip(f"{listed} not present")
    assert sorted(data.class_names) == sorted(listed.read_text().split())


def test_trainval_is_train_plus_val(data_dir):
    trainval = load_omniglot("vinyals", "trainval", data_dir=data_dir)
    assert trainval.num_classes == 4 * 1200


def test_rotations_are_rotated_copies(data_dir):
    data = load_omniglot("vinyals", "test", data_dir=data_dir)
    base, rot90 = data.images[0], data.images[1]
    assert data.class_names[1].endswith("/rot090")
    np.testing.assert_array_equal(np.rot90(base, k=1, axes=(1, 2)), rot90)


def test_images_are_ink_on_zero(data_dir):
    data = load_omniglot("vinyals", "val", data_dir=data_dir)
    assert data.images.dtype == np.uint8
    # Strokes are thin: most pixels are background (0), a few are ink (high).
    assert np.mean(data.images == 0) > 0.5 and data.images.max() == 255


@pytest.mark.parametrize("size", [28, 56, 105])
def test_lake_protocol(data_dir, size):
    background = load_omniglot("lake", "background", image_size=size, data_dir=data_dir)
    assert background.images.shape == (964, 20, size, size, 1)
    assert all("/rot" not in n for n in background.class_names)
    evaluation = load_omniglot("lake", "evaluation", image_size=size, data_dir=data_dir)
    assert evaluation.num_classes == 659


def test_lake_background_with_rotations(data_dir):
    plain = load_omniglot("lake", "background", data_dir=data_dir)
    rotated = load_omniglot("lake", "background", data_dir=data_dir, rotations=True)
    assert rotated.num_classes == 4 * 964
    assert rotated.class_names[:2] == (
        plain.class_names[0] + "/rot000",
        plain.class_names[0] + "/rot090",
    )
    np.testing.assert_array_equal(rotated.images[0], plain.images[0])
    np.testing.assert_array_equal(rotated.images[6], np.rot90(plain.images[1], k=2, axes=(1, 2)))
    # Rotated copies stay in their character's alphabet (same-alphabet episodes).
    np.testing.assert_array_equal(rotated.alphabets, np.repeat(plain.alphabets, 4))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"protocol": "koch"}, "protocol must be one of"),
        ({"protocol": "vinyals", "rotations": False}, "rotations=False only applies"),
        ({"protocol": "lake", "split": "background", "rotations": 1}, "rotations must be"),
        ({"protocol": "vinyals", "split": "background"}, "split must be one of"),
        ({"protocol": "vinyals", "split": "test", "image_size": 105}, "image_size must be"),
        ({"protocol": "lake", "split": "evaluation", "image_size": 64}, "image_size must be"),
    ],
)
def test_bad_protocol_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_omniglot(**kwargs)


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
    monkeypatch.setattr(omniglot, "BACKGROUND", unreachable)
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


def test_prepared_records_follow_the_data_folder(data_dir, tmp_path):
    """A prepared cache does not hide a missing or broken data folder, nor other sources."""
    load_omniglot("lake", "evaluation", 28, data_dir)  # prepared from the real zips
    builder = omniglot.omniglot_builder("lake", 28, data_dir)
    records = sorted(Path(builder.data_dir).glob("*.tfrecord*"))
    stamps = [p.stat().st_mtime_ns for p in records]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_omniglot("lake", "evaluation", 28, tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "images_background.zip").write_bytes(
        (data_dir / "omniglot" / "images_background.zip").read_bytes()[:100_000]
    )
    (broken / "images_evaluation.zip").symlink_to(data_dir / "omniglot" / "images_evaluation.zip")
    with pytest.raises(ValueError, match="images_background.zip' is not a readable zip file"):
        load_omniglot("lake", "evaluation", 28, broken)
    # The same files in another folder: the records are used as they are, not rebuilt.
    same = tmp_path / "same"
    same.mkdir()
    for name in ("images_background.zip", "images_evaluation.zip"):
        (same / name).symlink_to(data_dir / "omniglot" / name)
    assert load_omniglot("lake", "evaluation", 28, same).images.shape == (659, 20, 28, 28, 1)
    assert [p.stat().st_mtime_ns for p in records] == stamps
    # Records built from other files are not taken for these ones.
    sources = json.loads((Path(builder.data_dir) / omniglot.SOURCES_FILE).read_text())
    assert omniglot.prepared_from(builder, sources)
    assert not omniglot.prepared_from(builder, {**sources, "images_background.zip": "0" * 64})
