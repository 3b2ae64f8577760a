import pytest

from metazoo.presets import save_preset
from metazoo.protocols import built_runs_record, remeasure, remeasure_built_runs
from tests.lake_runs import pixel_nearest_neighbour


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
    import metazoo.protocols.lake

    model = pixel_nearest_neighbour()
    old = built_runs_record(model, "pixels", data_dir=data_dir, seed=0, paper=0.92)
    episodes = {"protocol": "lake", "split": "evaluation", "ways": 5, "shots": 1,
                "queries": 1, "episodes": 2, "seed": 0}  # fmt: skip
    path = save_preset(
        model, tmp_path / "pixels", {"description": "test", "evaluation": [old]}, export=False
    )
    monkeypatch.setattr(metazoo.protocols.lake, "PRESET_BUILT_RUNS", (20, 22))
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
