"""Outputs that lose nothing: `check_output_dir`, `atomic_dir` and `atomic_file`."""

import json

import pytest

from metazoo.files import atomic_dir, atomic_file, check_output_dir, read_json_object


def test_new_and_empty_folders_may_be_written(tmp_path):
    assert check_output_dir(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == tmp_path / "empty"


def test_a_non_empty_folder_needs_overwrite_and_its_marker(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="exists and is not empty; pass --overwrite"):
        check_output_dir(folder, marker="metadata.json")
    with pytest.raises(FileExistsError, match="has no metadata.json: it is not one metazoo wrote"):
        check_output_dir(folder, overwrite=True, marker="metadata.json")
    (folder / "metadata.json").write_text("{}")
    assert check_output_dir(folder, overwrite=True, marker="metadata.json") == folder
    assert (folder / "notes.txt").read_text() == "mine"  # checking deletes nothing


def test_a_file_is_never_an_output_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError, match="is not a folder"):
        check_output_dir(tmp_path / "f", overwrite=True)


@pytest.mark.parametrize("path", [".", "..", "../.."])
def test_the_current_directory_and_its_parents_are_refused(path, tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (work / "metadata.json").write_text("{}")
    monkeypatch.chdir(work)
    with pytest.raises(ValueError, match="the current directory|a parent of the current"):
        check_output_dir(path, overwrite=True, marker="metadata.json")


def test_registries_and_home_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(ValueError, match="the home folder"):
        check_output_dir(tmp_path / "home", overwrite=True)
    with pytest.raises(ValueError, match="a preset registry"):
        check_output_dir(tmp_path / "reg", overwrite=True, protect=[tmp_path / "reg"])


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="crash"), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert target.stat().st_mode & 0o755 == 0o755


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "cache.bin"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and target.read_text() == "old"
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin"]  # no temporary left


def test_read_json_object_names_the_file(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"config.json' is not valid JSON"):
        read_json_object(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"config.json' must hold a JSON object. Received: a list"):
        read_json_object(bad)
