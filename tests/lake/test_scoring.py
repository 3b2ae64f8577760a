import json

import numpy as np
import pytest

from metazoo.cli import main
from metazoo.lake import compare_lake_scores, read_lake_runs, score_lake_runs
from metazoo.presets import save_preset
from metazoo.protocols.lake import lake_record
from tests.lake_runs import pixel_nearest_neighbour, write_runs


@pytest.fixture
def runs_dir(tmp_path):
    return write_runs(tmp_path / "all_runs")


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


def test_cli_eval_lake_runs_json(runs_dir, tmp_path, capsys):
    preset = save_preset(
        pixel_nearest_neighbour(), tmp_path / "pixels", {"description": "test"}, export=False
    )
    assert main(["eval", str(preset), "--lake-runs", str(runs_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["preset"] == str(preset) and result["protocol"] == "lake-20way"
    assert result["trials"] == 40 and result["accuracy"] == 1.0
    assert result["run_errors"] == {"run01": 0.0, "run02": 0.0}
    (runs_dir / "run01" / "test" / "item02.png").unlink()
    assert main(["eval", str(preset), "--lake-runs", str(runs_dir), "--json"]) == 2
    assert "lacks ['test/item02.png']" in capsys.readouterr().err
