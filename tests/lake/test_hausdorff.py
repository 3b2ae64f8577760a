import json
import sys

import numpy as np
import pytest

from metazoo.cli import main
from metazoo.lake import (
    MODIFIED_HAUSDORFF_OFFICIAL_ERROR,
    ModifiedHausdorff,
    ink_points,
    modified_hausdorff_distance,
    read_lake_runs,
    score_lake_runs,
)
from metazoo.lake.hausdorff import _dense_modified_hausdorff_matrix, _modified_hausdorff_matrix
from tests.lake_runs import moved_rectangle_png, pixel_nearest_neighbour, write_runs


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


@pytest.fixture(params=["scipy", "numpy"])
def nearest_points(request, monkeypatch):
    """Both ways of finding nearest points: SciPy's k-d trees, and numpy alone without SciPy."""
    if request.param == "scipy":
        pytest.importorskip("scipy.spatial")
    else:
        monkeypatch.setitem(sys.modules, "scipy.spatial", None)  # import fails
    return request.param


def test_modified_hausdorff_matches_a_direct_computation(nearest_points):
    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(n, 2)) * 10 for n in (1, 7, 30, 4)]

    def direct(a, b):
        d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
        return max(d.min(1).mean(), d.min(0).mean())

    for a in sets:
        for b in sets:
            assert modified_hausdorff_distance(a, b) == pytest.approx(direct(a, b), abs=1e-6)


def test_both_ways_give_the_same_distance_matrix():
    pytest.importorskip("scipy.spatial")
    rng = np.random.default_rng(1)
    queries = [rng.integers(0, 105, size=(n, 2)).astype(float) for n in (1, 300, 700)]
    supports = [rng.integers(0, 105, size=(n, 2)).astype(float) for n in (2, 500, 1, 650)]
    np.testing.assert_allclose(
        _modified_hausdorff_matrix(queries, supports),
        _dense_modified_hausdorff_matrix(queries, supports),
        rtol=0,
        atol=1e-9,
    )


def test_ink_points_thresholds_and_refuses_blank_images():
    image = np.zeros((5, 5, 1), np.float32)
    image[1, 2], image[3, 2], image[2, 2] = 1.0, 0.5, 0.4
    np.testing.assert_allclose(ink_points(image), [[-1, 0], [1, 0]])
    with pytest.raises(ValueError, match="has no ink"):
        ink_points(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"one \[H, W\] or \[H, W, 1\] image.*\(2, 5, 5\)"):
        ink_points(np.zeros((2, 5, 5)))


def test_modified_hausdorff_baseline_ignores_where_the_drawing_sits(tmp_path):
    runs_dir = write_runs(tmp_path / "moved", draw=moved_rectangle_png)
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
    runs_dir = write_runs(tmp_path / "moved", draw=moved_rectangle_png)
    assert main(["lake-runs", "baseline", str(runs_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["baseline"] == "modified_hausdorff" and result["protocol"] == "lake-20way"
    assert result["accuracy"] == 1.0 and result["trials"] == 40 and result["image_size"] == 105
    assert result["official_error_rate"] == MODIFIED_HAUSDORFF_OFFICIAL_ERROR == 0.388
    (runs_dir / "run02" / "class_labels.txt").unlink()
    assert main(["lake-runs", "baseline", str(runs_dir)]) == 2
    assert "run02 has no class_labels.txt" in capsys.readouterr().err
