"""The registry: every record of the committed presets names its protocol and command."""

import pytest

from metazoo import presets
from metazoo.protocols import (
    BuiltLakeRuns,
    OfficialLakeRuns,
    OmniglotEpisodes,
    protocol_from_record,
)

RECORDS = [
    (name, record, metadata)
    for name in sorted(presets.list_presets())
    for metadata in [presets.load_metadata(name)]
    for record in metadata.get("evaluation", [])
]


@pytest.mark.parametrize(("name", "record", "metadata"), RECORDS)
def test_each_committed_record_states_the_command_it_was_measured_with(name, record, metadata):
    protocol = protocol_from_record(record, metadata)
    assert protocol.command(name) == record["command"]
    assert type(protocol).from_record(record, metadata) == protocol


def test_lake_records_are_official_or_built_runs():
    official = {"protocol": "lake-20way", "runs_file": "all_runs.zip", "runs": 20}
    built = {"protocol": "lake-20way", "seed": 2, "runs": 80}
    assert protocol_from_record(official) == OfficialLakeRuns("all_runs.zip")
    assert protocol_from_record(built) == BuiltLakeRuns(seed=2, runs=80)
    assert BuiltLakeRuns(seed=2, runs=80).command("p") == (
        "metazoo lake-runs build --output runs/lake_runs80_seed2 --runs 80 --seed 2 && "
        "metazoo eval p --lake-runs runs/lake_runs80_seed2 --json"
    )


def test_an_official_runs_record_is_kept_without_the_file(tmp_path, capsys):
    record = {"protocol": "lake-20way", "runs_file": "all_runs.zip", "accuracy": 0.9}
    protocol = protocol_from_record(record)
    assert protocol.remeasure(None, record, "p", data_dir=tmp_path) is record
    assert "all_runs.zip is not in the data folder" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="all_runs.zip is not in the data folder"):
        protocol.score(None, data_dir=tmp_path)


def test_episode_records_keep_the_paper_figure_and_default_split():
    record = {"protocol": "vinyals", "split": "test", "ways": 5, "shots": 1, "queries": 15,
              "episodes": 10, "seed": 0, "paper": 0.988}  # fmt: skip
    protocol = protocol_from_record(record)
    assert protocol == OmniglotEpisodes(episodes=10, split="test", paper=0.988)
    assert protocol.command("p") == (
        "metazoo eval p --ways 5 --shots 1 --queries 15 --episodes 10 --seed 0"
    )


def test_unknown_protocols_are_refused():
    with pytest.raises(ValueError, match="one known protocol.*Received: protocol='omniglot-50way'"):
        protocol_from_record({"protocol": "omniglot-50way"})
