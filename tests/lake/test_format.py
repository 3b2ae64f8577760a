import json
import re
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

import metazoo.lake.format
from metazoo.cli import main
from metazoo.lake import build_lake_runs, read_lake_runs
from tests.lake_runs import PERMUTATION, square_png, write_runs


@pytest.fixture
def runs_dir(tmp_path):
    return write_runs(tmp_path / "all_runs")


def test_reads_runs_in_metazoo_ink_convention(runs_dir):
    runs = read_lake_runs(runs_dir, image_size=28)
    assert [r.name for r in runs] == ["run01", "run02"]
    run = runs[0]
    assert run.training.shape == run.test.shape == (20, 28, 28, 1)
    assert run.training.dtype == np.float32
    assert 0.0 <= run.training.min() and run.training.max() <= 1.0
    np.testing.assert_array_equal(run.answers, PERMUTATION)
    np.testing.assert_array_equal(run.test, run.training[PERMUTATION])
    # At 105x105, no resizing: black ink becomes exactly 1, the white page 0.
    full = read_lake_runs(runs_dir, image_size=105)[0].training
    assert full.shape == (20, 105, 105, 1) and set(np.unique(full)) == {0.0, 1.0}
    assert full[0, 10, 10, 0] == 1.0 and full[0, 0, 0, 0] == 0.0 and full[0].sum() == 15 * 13


def test_reads_zips_and_the_folder_above_the_runs(runs_dir, tmp_path):
    expected = read_lake_runs(runs_dir)
    with_folder = shutil.make_archive(tmp_path / "a", "zip", tmp_path, "all_runs")
    bare = shutil.make_archive(tmp_path / "b", "zip", runs_dir)
    for source in (with_folder, bare, tmp_path):
        got = read_lake_runs(source)
        assert [r.name for r in got] == ["run01", "run02"]
        np.testing.assert_array_equal(got[1].test, expected[1].test)
        np.testing.assert_array_equal(got[1].answers, expected[1].answers)


def _remove(path):
    path.unlink()


def _write_labels(lines):
    def edit(run):
        (run / "class_labels.txt").write_text("\n".join(lines(run)) + "\n")

    return edit


def _labels(run):
    return (run / "class_labels.txt").read_text().splitlines()


@pytest.mark.parametrize(
    "edit, error, message",
    [
        (
            lambda run: _remove(run / "training" / "class05.png"),
            FileNotFoundError,
            "lacks ['training/class05.png']",
        ),
        (
            lambda run: square_png(run / "training" / "class21.png", 0),
            ValueError,
            "exactly 20 files training/classNN.png. Received: 21",
        ),
        (
            lambda run: _remove(run / "test" / "item20.png"),
            FileNotFoundError,
            "lacks ['test/item20.png']",
        ),
        (
            lambda run: _remove(run / "class_labels.txt"),
            FileNotFoundError,
            "run02 has no class_labels.txt",
        ),
        (_write_labels(lambda run: _labels(run)[:19]), ValueError, "must have 20 lines"),
        (
            _write_labels(lambda run: _labels(run)[:19] + _labels(run)[:1]),
            ValueError,
            "lists run02/test/item01.png twice",
        ),
        (_write_labels(lambda run: ["x y z"] + _labels(run)[1:]), ValueError, "line 1 must read"),
        (
            lambda run: Image.new("L", (105, 105), 0).save(run / "test" / "item03.png"),
            ValueError,
            "item03.png is mostly dark",
        ),
        (
            lambda run: (run / "test" / "item04.png").write_bytes(b"not a png"),
            ValueError,
            "item04.png is not a readable image",
        ),
        (
            lambda run: run.rename(run.parent / "run03"),
            ValueError,
            "must be numbered run01..run02. Received: ['run01', 'run03']",
        ),
    ],
)
def test_bad_runs_give_clear_errors(runs_dir, edit, error, message):
    edit(runs_dir / "run02")
    with pytest.raises(error, match=re.escape(message)):
        read_lake_runs(runs_dir)


def test_missing_or_empty_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder or zip"):
        read_lake_runs(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="holds no Lake runs"):
        read_lake_runs(tmp_path)
    (tmp_path / "junk.zip").write_bytes(b"no zip")
    with pytest.raises(ValueError, match="nor a readable zip"):
        read_lake_runs(tmp_path / "junk.zip")


@pytest.mark.data
def test_built_runs_follow_the_format_and_the_seed(data_dir, tmp_path):
    path = build_lake_runs(tmp_path / "runs", data_dir=data_dir, seed=0)
    runs = read_lake_runs(path)
    assert len(runs) == 20 and sum(r.answers.size for r in runs) == 400
    info = json.loads((path / "metazoo_runs.json").read_text())
    assert len({r["alphabet"] for r in info["runs"]}) == 20
    assert all(r["training_drawer"] != r["test_drawer"] for r in info["runs"])
    # Test item m is the test drawer's drawing of its answer's character, byte for byte.
    first = info["runs"][0]
    with zipfile.ZipFile(data_dir / "omniglot" / "images_evaluation.zip") as archive:
        folder = f"images_evaluation/{first['alphabet']}/character{first['characters'][0]:02d}/"
        name = next(
            n
            for n in archive.namelist()
            if n.startswith(folder) and n.endswith(f"_{first['test_drawer']:02d}.png")
        )
        original = archive.read(name)
    item = 1 + list(runs[0].answers).index(0)
    assert (path / "run01" / "test" / f"item{item:02d}.png").read_bytes() == original
    again = build_lake_runs(tmp_path / "again", data_dir=data_dir, seed=0)
    other = build_lake_runs(tmp_path / "other", data_dir=data_dir, seed=1, runs=1)
    for f in ("run01/class_labels.txt", "run07/training/class03.png", "run20/test/item11.png"):
        assert (path / f).read_bytes() == (again / f).read_bytes()
    assert (other / "run01/class_labels.txt").read_bytes() != (
        path / "run01/class_labels.txt"
    ).read_bytes()
    with pytest.raises(FileExistsError, match="exists"):
        build_lake_runs(path, data_dir=data_dir)
    with pytest.raises(ValueError, match=r"runs must be an integer in 1..99 .*runs=100"):
        build_lake_runs(tmp_path / "x", data_dir=data_dir, runs=100)
    assert not (tmp_path / "x").exists()


@pytest.mark.data
def test_more_than_20_runs_cycle_the_alphabets_and_keep_the_first_20(data_dir, tmp_path):
    twenty = build_lake_runs(tmp_path / "twenty", data_dir=data_dir, seed=3)
    more = build_lake_runs(tmp_path / "more", data_dir=data_dir, seed=3, runs=45)
    assert [r.name for r in read_lake_runs(more)][-1] == "run45"
    info = json.loads((more / "metazoo_runs.json").read_text())["runs"]
    assert info[:20] == json.loads((twenty / "metazoo_runs.json").read_text())["runs"]
    for f in ("run01/class_labels.txt", "run20/training/class20.png"):
        assert (twenty / f).read_bytes() == (more / f).read_bytes()
    # Each pass takes every alphabet once, in its own order.
    passes = [[r["alphabet"] for r in info[i : i + 20]] for i in (0, 20)]
    assert sorted(passes[0]) == sorted(passes[1]) and len(set(passes[0])) == 20
    assert passes[0] != passes[1]
    assert len({r["alphabet"] for r in info[40:]}) == 5


@pytest.mark.data
def test_build_writes_nothing_when_it_fails(data_dir, tmp_path, monkeypatch):
    calls = []
    write = metazoo.lake.format._write_run

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        write(*args)

    monkeypatch.setattr(metazoo.lake.format, "_write_run", failing)
    with pytest.raises(OSError, match="disk full"):
        build_lake_runs(tmp_path / "runs", data_dir=data_dir)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.data
def test_cli_builds_runs(data_dir, tmp_path, capsys):
    out = tmp_path / "lake"
    args = ["lake-runs", "build", "--output", str(out), "--runs", "2", "--data-dir", str(data_dir)]
    assert main(args) == 0
    assert [r.name for r in read_lake_runs(out)] == ["run01", "run02"]
    assert main(args) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
