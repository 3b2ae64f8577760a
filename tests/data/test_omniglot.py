import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from metazoo.data import _files, omniglot, omniglot_files
from metazoo.data.omniglot import load_omniglot, vinyals_split
from metazoo.data.omniglot_files import read_characters
from tests.data.tiny_omniglot import write_tiny_zip


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


def test_tiny_protocols_select_and_order_the_characters(tiny_omniglot):
    train = load_omniglot("vinyals", "train", data_dir=tiny_omniglot)
    assert train.class_names[::4] == (
        "Angelic/character03/rot000",
        "Gurmukhi/character41/rot000",
        "Latin/character01/rot000",
        "Latin/character02/rot000",
    )
    assert load_omniglot("vinyals", "val", data_dir=tiny_omniglot).num_classes == 4
    test = load_omniglot("vinyals", "test", data_dir=tiny_omniglot)
    assert test.class_names[::4] == ("Gurmukhi/character42/rot000", "Tengwar/character01/rot000")
    assert load_omniglot("vinyals", "trainval", data_dir=tiny_omniglot).num_classes == 4 * 5
    evaluation = load_omniglot("lake", "evaluation", 105, tiny_omniglot)
    assert evaluation.class_names == (
        "Angelic/character03",
        "Gurmukhi/character42",
        "Tengwar/character01",
    )
    assert evaluation.images.shape == (3, 20, 105, 105, 1) and evaluation.images.dtype == np.uint8
    assert set(np.unique(evaluation.images)) == {0, 255}  # 1-bit drawings, ink = 255
    assert not evaluation.images.flags.writeable
    # Drawings in drawer order: drawer d of a character is the PNG named ..._{d:02d}.png.
    with zipfile.ZipFile(tiny_omniglot / "images_evaluation.zip") as archive:
        png = archive.read("images_evaluation/Gurmukhi/character42/0102_07.png")
    np.testing.assert_array_equal(
        evaluation.images[1, 6], omniglot_files.ink_image(png, 105)
    )  # fmt: skip


def _prepared(tmp_path, stem="images_evaluation", size=28):
    return tmp_path / "prepared" / "omniglot" / f"{stem}_{size}.npz"


def test_prepared_file_is_reused_while_the_zip_is_the_same(tiny_omniglot, tmp_path, monkeypatch):
    first = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    prepared = _prepared(tmp_path)
    assert prepared.is_file() and not _prepared(tmp_path, "images_background").exists()
    stamp = prepared.stat().st_mtime_ns
    omniglot._load_cached.cache_clear()

    def no_decoding(*args):
        raise AssertionError("decoded the zip again")

    monkeypatch.setattr(omniglot, "read_characters", no_decoding)
    again = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    np.testing.assert_array_equal(again.images, first.images)
    assert again.class_names == first.class_names
    # The same zip in another folder uses the same file too.
    other = tmp_path / "other"
    other.mkdir()
    (other / "images_evaluation.zip").symlink_to(tiny_omniglot / "images_evaluation.zip")
    (other / "images_background.zip").symlink_to(tiny_omniglot / "images_background.zip")
    assert load_omniglot("lake", "evaluation", 28, other).class_names == first.class_names
    assert prepared.stat().st_mtime_ns == stamp
    assert [p.name for p in prepared.parent.iterdir()] == [prepared.name]  # no temporary files


def test_another_zip_is_decoded_again(tiny_omniglot, tmp_path):
    first = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    omniglot._load_cached.cache_clear()
    write_tiny_zip(tiny_omniglot / "images_evaluation.zip", "images_evaluation", seed=7)
    repaired = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    assert repaired.class_names == first.class_names
    assert not np.array_equal(repaired.images, first.images)
    images, _ = read_characters(tiny_omniglot / "images_evaluation.zip", 28)
    np.testing.assert_array_equal(repaired.images, images)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not an npz"),
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        lambda path: path.write_bytes(b""),
        lambda path: np.savez(path, stamp=np.array("{}"), images=np.zeros(3), names=np.zeros(3)),
    ],
    ids=["garbage", "truncated", "empty", "stale"],
)
def test_damaged_prepared_file_is_rebuilt(tiny_omniglot, tmp_path, damage):
    first = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    omniglot._load_cached.cache_clear()
    prepared = _prepared(tmp_path)
    damage(prepared)
    again = load_omniglot("lake", "evaluation", 28, tiny_omniglot)
    np.testing.assert_array_equal(again.images, first.images)
    with np.load(prepared) as rebuilt:  # and the file is whole again
        np.testing.assert_array_equal(rebuilt["images"], first.images)


def test_unwritable_prepared_folder_warns_and_loads(tiny_omniglot, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("METAZOO_PREPARED_DIR", str(blocker))
    with pytest.warns(UserWarning, match="METAZOO_PREPARED_DIR to a writable folder"):
        data = load_omniglot("lake", "background", 28, tiny_omniglot)
    assert data.num_classes == 4


def test_loading_imports_neither_tensorflow_nor_tfds(tiny_omniglot, tmp_path):
    script = f"""
import sys
sys.modules["tensorflow"] = None
sys.modules["tensorflow_datasets"] = None
import metazoo.data
from metazoo.data import load_omniglot, omniglot_files
omniglot_files.EXPECTED_IMAGES = {{}}
assert load_omniglot("vinyals", "test", data_dir={str(tiny_omniglot)!r}).num_classes == 8
assert load_omniglot("lake", "background", 56, {str(tiny_omniglot)!r}).num_classes == 4
try:
    metazoo.data.MetazooOmniglot
except ImportError:
    print("builder needs tfds")
"""
    env = {**os.environ, "METAZOO_PREPARED_DIR": str(tmp_path / "prepared")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "builder needs tfds"


def test_corrupt_zip_gives_clear_error(tmp_path):
    (tmp_path / "images_background.zip").write_bytes(b"not a zip at all")
    (tmp_path / "images_evaluation.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="images_background.zip' is not a readable zip file"):
        load_omniglot("lake", "background", data_dir=tmp_path)
    with pytest.raises(ValueError, match="images_evaluation.zip' is not a readable zip file"):
        load_omniglot("lake", "evaluation", data_dir=tmp_path)
    with pytest.raises(ValueError, match="images_background.zip' is not a readable zip file"):
        load_omniglot("vinyals", "test", data_dir=tmp_path)


def test_incomplete_zip_gives_clear_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "images_background.zip", "w") as z:
        z.writestr("images_background/Latin/character01/0001_01.png", b"")
    with pytest.raises(ValueError, match="holds 1 Omniglot drawings, expected 19280"):
        load_omniglot("lake", "background", data_dir=tmp_path)


def test_missing_drawer_gives_clear_error(tiny_omniglot):
    path = tiny_omniglot / "images_evaluation.zip"
    with zipfile.ZipFile(path) as archive:
        kept = [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("0101_05.png")]
    with zipfile.ZipFile(path, "w") as archive:
        for name, png in kept:
            archive.writestr(name, png)
    with pytest.raises(ValueError, match="holds 19 drawings of Tengwar/character01, expected 20"):
        load_omniglot("lake", "evaluation", data_dir=tiny_omniglot)


def test_missing_local_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="images_evaluation.zip was not found"):
        load_omniglot("lake", "evaluation", data_dir=tmp_path)


def test_missing_data_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_omniglot("vinyals", "test", data_dir=tmp_path / "nope")


def test_missing_data_folder_is_an_error_even_when_prepared(tiny_omniglot, tmp_path):
    load_omniglot("lake", "evaluation", data_dir=tiny_omniglot)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_omniglot("lake", "evaluation", data_dir=tmp_path / "nope")


def test_offline_without_data_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv(_files.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("METAZOO_CACHE_DIR", str(tmp_path / "cache"))
    unreachable = _files.RemoteFile(
        "images_background.zip", "http://127.0.0.1:9/images_background.zip", "0" * 64,
        "omniglot",
    )  # fmt: skip
    monkeypatch.setattr(omniglot, "BACKGROUND", unreachable)
    omniglot._load_cached.cache_clear()
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="METAZOO_DATA_DIR"):
        load_omniglot("lake", "background")
    assert time.monotonic() - start < 20
    assert not list((tmp_path / "cache").rglob("*.zip*"))  # no partial download left


def test_corrupt_png_names_its_zip_and_member(tmp_path, monkeypatch):
    monkeypatch.setattr(omniglot_files, "EXPECTED_IMAGES", {})
    archive = tmp_path / "images_evaluation.zip"
    member = "images_evaluation/Angelic/character01/0965_01.png"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(member, b"\x89PNG but not really")
    with pytest.raises(ValueError, match=rf"{member} in '.*images_evaluation.zip' is not a "
                       "readable PNG image"):  # fmt: skip
        read_characters(archive, 28)
