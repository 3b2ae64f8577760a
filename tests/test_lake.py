import json
import re
import shutil
import zipfile

import keras
import numpy as np
import pytest
from PIL import Image

import metazoo.data.lake_runs
from metazoo.algorithms.protonet import PrototypicalNetwork
from metazoo.cli import main
from metazoo.lake import (
    MODIFIED_HAUSDORFF_OFFICIAL_ERROR,
    ModifiedHausdorff,
    build_lake_runs,
    built_runs_record,
    compare_lake_scores,
    ink_points,
    lake_record,
    modified_hausdorff_distance,
    read_lake_runs,
    remeasure_built_runs,
    score_lake_runs,
)
from metazoo.presets import save_preset

PERMUTATION = [(7 * m + 3) % 20 for m in range(20)]  # the class of test item m + 1


def _png(path, k, test=False, size=105):
    """Black-on-white drawing of class k: a square at its own place on a 4x5 grid."""
    pixels = np.full((size, size), 255, np.uint8)
    row, col = divmod(k, 5)
    pixels[5 + 25 * row : 20 + 25 * row, 5 + 20 * col : 18 + 20 * col] = 0
    Image.fromarray(pixels).convert("1").save(path)


def _moved_rectangle_png(path, k, test=False):
    """Class k: a rectangle of its own size; test drawings sit elsewhere on the page."""
    pixels = np.full((105, 105), 255, np.uint8)
    height, width = 8 + 3 * (k // 5), 8 + 4 * (k % 5)
    top, left = (10 + 3 * k, 40 + 2 * k) if test else (30, 30)
    pixels[top : top + height, left : left + width] = 0
    Image.fromarray(pixels).convert("1").save(path)


def write_runs(root, runs=2, draw=_png):
    """Lake-format runs where each test item is `draw(..., test=True)` of its class.

    With the default drawing, a test item is an exact copy of its class's image.
    """
    for r in range(1, runs + 1):
        run = root / f"run{r:02d}"
        (run / "training").mkdir(parents=True)
        (run / "test").mkdir()
        for k in range(20):
            draw(run / "training" / f"class{k + 1:02d}.png", k)
        lines = []
        for m, k in enumerate(PERMUTATION, 1):
            draw(run / "test" / f"item{m:02d}.png", k, test=True)
            lines.append(
                f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k + 1:02d}.png"
            )
        (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def pixel_nearest_neighbour():
    """A ProtoNet on raw pixels: one-shot nearest neighbour, exact on copied images."""
    backbone = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    return PrototypicalNetwork(backbone)


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


def test_scores_golden_values(runs_dir):
    model = pixel_nearest_neighbour()
    perfect = score_lake_runs(model, read_lake_runs(runs_dir))
    assert perfect.accuracy == 1.0 and perfect.trials == 40
    # Two wrong answers in run02: 38 of 40 right, run02 errs on 2 of 20 items.
    labels = runs_dir / "run02" / "class_labels.txt"
    lines = labels.read_text().splitlines()
    lines[0], lines[1] = (
        lines[0].replace("class04", "class05"),
        lines[1].replace("class11", "class12"),
    )
    labels.write_text("\n".join(lines))
    record = lake_record(model, runs_dir)
    assert record["accuracy"] == 0.95 and record["error_rate"] == 0.05
    assert record["run_errors"] == {"run01": 0.0, "run02": 0.1}
    assert record["protocol"] == "lake-20way" and record["trials"] == 40 and record["runs"] == 2


def test_paired_comparison_golden_values_and_mismatched_runs():
    a = {"run01": 0.1, "run02": 0.2, "run03": 0.0}
    b = {"run01": 0.2, "run02": 0.2, "run03": 0.3}
    result = compare_lake_scores(a, b)
    # Per-run accuracy differences 0.1, 0.0, 0.3: mean 0.1333, std 0.1247.
    assert result["runs"] == 3 and result["runs_a_better"] == 2 and result["runs_b_better"] == 0
    assert result["difference"] == pytest.approx(0.4 / 3)
    assert result["ci95"] == pytest.approx(1.96 * np.std([0.1, 0.0, 0.3]) / np.sqrt(3))
    assert result["accuracy_a"] == pytest.approx(0.9) and result["accuracy_b"] == pytest.approx(
        0.7666667
    )
    with pytest.raises(ValueError, match=r"same runs.*only in B: \['run04'\]"):
        compare_lake_scores(a, {**b, "run04": 0.0})


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
            lambda run: _png(run / "training" / "class21.png", 0),
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


def test_cli_eval_lake_runs_json(runs_dir, tmp_path, capsys):
    preset = save_preset(
        pixel_nearest_neighbour(), tmp_path / "pixels", {"description": "test"}, export=False
    )
    assert main(["eval", str(preset), "--lake-runs", str(runs_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["preset"] == str(preset) and result["protocol"] == "lake-20way"
    assert result["trials"] == 40 and result["accuracy"] == 1.0
    assert result["run_errors"] == {"run01": 0.0, "run02": 0.0}
    _remove(runs_dir / "run01" / "test" / "item02.png")
    assert main(["eval", str(preset), "--lake-runs", str(runs_dir), "--json"]) == 2
    assert "lacks ['test/item02.png']" in capsys.readouterr().err


def test_modified_hausdorff_distance_golden_values():
    # Centred: a = (0,-1), (0,0), (0,1); b = (0,-1), (0,1). a -> b: 0, 1, 0 (mean 1/3); b -> a: 0.
    a = ink_points(np.array([[1.0, 1.0, 1.0]]))
    b = ink_points(np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(a, [[0, -1], [0, 0], [0, 1]])
    assert modified_hausdorff_distance(a, b) == pytest.approx(1 / 3)
    assert modified_hausdorff_distance(b, a) == pytest.approx(1 / 3)
    assert modified_hausdorff_distance(a, a) == pytest.approx(0, abs=1e-6)
    # One point against two, 6 apart: every nearest distance is 3.
    assert modified_hausdorff_distance([[0.0, 0.0]], [[0.0, -3.0], [0.0, 3.0]]) == pytest.approx(3)


def test_modified_hausdorff_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(n, 2)) * 10 for n in (1, 7, 30, 4)]

    def direct(a, b):
        d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
        return max(d.min(1).mean(), d.min(0).mean())

    for a in sets:
        for b in sets:
            assert modified_hausdorff_distance(a, b) == pytest.approx(direct(a, b), abs=1e-6)


def test_ink_points_thresholds_and_refuses_blank_images():
    image = np.zeros((5, 5, 1), np.float32)
    image[1, 2], image[3, 2], image[2, 2] = 1.0, 0.5, 0.4
    np.testing.assert_allclose(ink_points(image), [[-1, 0], [1, 0]])
    with pytest.raises(ValueError, match="has no ink"):
        ink_points(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"one \[H, W\] or \[H, W, 1\] image.*\(2, 5, 5\)"):
        ink_points(np.zeros((2, 5, 5)))


def test_modified_hausdorff_baseline_ignores_where_the_drawing_sits(tmp_path):
    runs_dir = write_runs(tmp_path / "moved", draw=_moved_rectangle_png)
    runs = read_lake_runs(runs_dir, image_size=105)
    # Every test item is its class's rectangle moved: nearest under the centred distance.
    assert score_lake_runs(ModifiedHausdorff(), runs).accuracy == 1.0
    # Raw pixels are fooled by the move.
    assert score_lake_runs(pixel_nearest_neighbour(), read_lake_runs(runs_dir)).accuracy < 0.5
    # Two shots per class: a class scores by its nearest support image.
    run = runs[0]
    support = np.concatenate([run.training[:3], run.test[run.answers == 0]])
    logits = ModifiedHausdorff()((support, np.array([0, 1, 2, 0]), run.training[:3]))
    assert logits.shape == (3, 3)
    np.testing.assert_array_equal(np.argmax(logits, axis=-1), [0, 1, 2])
    with pytest.raises(ValueError, match=r"0..ways-1, each at least once.*\[\[0, 2, 2, 0\]\]"):
        ModifiedHausdorff()((support, np.array([0, 2, 2, 0]), run.test[:1]))
    with pytest.raises(ValueError, match="has no ink"):
        ModifiedHausdorff()((support, np.array([0, 1, 2, 0]), np.zeros((1, 105, 105, 1))))


def test_cli_scores_the_baseline(tmp_path, capsys):
    runs_dir = write_runs(tmp_path / "moved", draw=_moved_rectangle_png)
    assert main(["lake-runs", "baseline", str(runs_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["baseline"] == "modified_hausdorff" and result["protocol"] == "lake-20way"
    assert result["accuracy"] == 1.0 and result["trials"] == 40 and result["image_size"] == 105
    assert result["official_error_rate"] == MODIFIED_HAUSDORFF_OFFICIAL_ERROR == 0.388
    _remove(runs_dir / "run02" / "class_labels.txt")
    assert main(["lake-runs", "baseline", str(runs_dir)]) == 2
    assert "run02 has no class_labels.txt" in capsys.readouterr().err


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
    write = metazoo.data.lake_runs._write_run

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        write(*args)

    monkeypatch.setattr(metazoo.data.lake_runs, "_write_run", failing)
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


@pytest.mark.data
def test_preset_record_on_built_runs_is_reproducible(data_dir):
    model = pixel_nearest_neighbour()
    record = built_runs_record(model, "pixels", data_dir=data_dir, seed=0, paper=0.92)
    assert record["protocol"] == "lake-20way" and record["trials"] == 400
    assert record["split"] == "evaluation" and "runs_path" not in record
    assert record["command"] == (
        "metazoo lake-runs build --output runs/lake_runs_seed0 --seed 0 && "
        "metazoo eval pixels --lake-runs runs/lake_runs_seed0 --json"
    )
    # Raw-pixel nearest neighbour is a weak baseline, well above chance (0.05).
    assert 0.1 < record["accuracy"] < 0.9
    assert remeasure_built_runs(model, record, data_dir) == record
    wide = built_runs_record(model, "pixels", data_dir=data_dir, seed=0, runs=30)
    assert wide["runs"] == 30 and wide["trials"] == 600
    assert wide["command"] == (
        "metazoo lake-runs build --output runs/lake_runs30_seed0 --runs 30 --seed 0 && "
        "metazoo eval pixels --lake-runs runs/lake_runs30_seed0 --json"
    )
    # Its first 20 runs are the 20-run set.
    assert {k: v for k, v in wide["run_errors"].items() if k <= "run20"} == record["run_errors"]
    assert remeasure_built_runs(model, wide, data_dir) == wide


@pytest.mark.data
def test_remeasuring_a_preset_adds_the_built_run_sizes_it_lacks(data_dir, tmp_path, monkeypatch):
    import metazoo.lake
    from metazoo.recipes.few_shot import remeasure

    model = pixel_nearest_neighbour()
    old = built_runs_record(model, "pixels", data_dir=data_dir, seed=0, paper=0.92)
    episodes = {"protocol": "lake", "split": "evaluation", "ways": 5, "shots": 1,
                "queries": 1, "episodes": 2, "seed": 0}  # fmt: skip
    path = save_preset(
        model, tmp_path / "pixels", {"description": "test", "evaluation": [old]}, export=False
    )
    monkeypatch.setattr(metazoo.lake, "PRESET_BUILT_RUNS", (20, 22))
    records = remeasure(path, {"evaluation": [old, episodes]}, data_dir)
    assert [(r["protocol"], r.get("runs")) for r in records] == [
        ("lake-20way", 20),
        ("lake-20way", 22),
        ("lake", None),
    ]
    assert records[0] == old and records[1]["paper"] == 0.92 and records[1]["trials"] == 440
    assert "--runs 22 --seed 0" in records[1]["command"]
    # Nothing more to add the second time.
    assert remeasure(path, {"evaluation": records}, data_dir) == records
