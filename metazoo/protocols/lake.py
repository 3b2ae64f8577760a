"""Lake's 20-way one-shot runs (`"lake-20way"` records): official runs and built runs.

A record with `runs_file` was measured on Lake's official `all_runs.zip`
(`OfficialLakeRuns`); one with `seed` on runs built from the evaluation set
(`BuiltLakeRuns`, the same runs again from the same seed).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import keras

from metazoo.data import resolve_data_dir
from metazoo.data.omniglot_files import EVALUATION
from metazoo.lake import (
    MODIFIED_HAUSDORFF_OFFICIAL_ERROR,
    WAYS,
    build_lake_runs,
    model_image_size,
    read_lake_runs,
    score_lake_runs,
)
from metazoo.protocols.base import Protocol, register

PROTOCOL = "lake-20way"
# Accuracy on the official runs (Lake et al. 2015, Science; Koch et al. 2015, Table 2;
# the modified Hausdorff baseline of Lake's demo_classification.py).
REFERENCE_ACCURACY = {
    "People (Lake et al. 2015)": 0.955,
    "BPL (Lake et al. 2015)": 0.967,
    "Siamese net (Koch et al. 2015)": 0.920,
    "Modified Hausdorff (Lake's demo)": round(1 - MODIFIED_HAUSDORFF_OFFICIAL_ERROR, 3),
}
# Built-runs records in a metric preset's metadata: the official set's size,
# and 80 runs (1,600 trials; each evaluation alphabet four times) for a CI
# about half as wide.
PRESET_BUILT_RUNS = (20, 80)


def lake_record(model: keras.Model, path: str | os.PathLike) -> dict:
    """Scores `model` on the runs at `path`; returns the JSON record (fractions).

    Keys: `protocol` ("lake-20way"), `runs_path`, `runs`, `trials`,
    `accuracy`, `error_rate`, `ci95` (over runs), `run_errors` (run -> error
    rate), `image_size`, and `ways`/`shots`/`queries`/`episodes` (20, 1, 1,
    runs) stating it as few-shot episodes.
    """
    size = model_image_size(model)
    score = score_lake_runs(model, read_lake_runs(path, size))
    return {
        "protocol": PROTOCOL,
        "runs_path": str(path),
        "runs": len(score.run_errors),
        "trials": score.trials,
        "accuracy": round(score.accuracy, 5),
        "error_rate": round(1 - score.accuracy, 5),
        "ci95": round(score.ci95, 5),
        "run_errors": {k: round(v, 5) for k, v in score.run_errors.items()},
        "image_size": size,
        "ways": WAYS,
        "shots": 1,
        "queries": 1,
        "episodes": len(score.run_errors),
    }


@register
@dataclasses.dataclass(frozen=True)
class OfficialLakeRuns(Protocol):
    """Lake's official runs, `runs_file` in the data folder (or its `omniglot/` subfolder).

    The official `all_runs.zip` is not part of the data metazoo downloads;
    put it in the data folder to measure such a record again. Without it
    `remeasure` keeps the record as it is.
    """

    runs_file: str = "all_runs.zip"

    names = (PROTOCOL,)

    @classmethod
    def matches(cls, record: dict) -> bool:
        return super().matches(record) and "runs_file" in record

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> OfficialLakeRuns:
        return cls(runs_file=record["runs_file"])

    def find(self, data_dir: str | os.PathLike | None = None) -> Path | None:
        """Where the data folder holds `runs_file`, or None."""
        folder = resolve_data_dir(data_dir)
        names = (self.runs_file, f"omniglot/{self.runs_file}")
        found = [folder / name for name in names if folder and (folder / name).is_file()]
        return found[0] if found else None

    def score(
        self, model: keras.Model, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> dict:
        path = self.find(data_dir)
        if path is None:
            raise FileNotFoundError(
                f"{self.runs_file} is not in the data folder. Received: data_dir={data_dir!r}"
            )
        fresh = lake_record(model, path)
        del fresh["runs_path"]  # where this machine keeps the file; the record names it
        return fresh

    def command(self, preset: str) -> str:
        return f"metazoo eval {preset} --lake-runs {self.runs_file} --json"

    def remeasure(self, model: keras.Model, record: dict, preset: str, data_dir=None) -> dict:
        if self.find(data_dir) is None:
            print(f"{self.runs_file} is not in the data folder: its record is kept as it is")
            return record
        fresh = self.score(model, data_dir)
        return {**fresh, **record, **fresh}


@register
@dataclasses.dataclass(frozen=True)
class BuiltLakeRuns(Protocol):
    """`runs` Lake-format runs built from the evaluation set with `seed` (then deleted).

    20 runs (400 trials) are the official set's size; more runs (up to 99,
    e.g. the 80 of `PRESET_BUILT_RUNS`) narrow the confidence interval, and
    their first 20 are the 20-run set of the same seed.
    """

    seed: int = 0
    runs: int = 20

    names = (PROTOCOL,)

    @classmethod
    def matches(cls, record: dict) -> bool:
        return super().matches(record) and "runs_file" not in record

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> BuiltLakeRuns:
        return cls(seed=record["seed"], runs=record.get("runs", 20))

    def score(
        self, model: keras.Model, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            path = build_lake_runs(
                Path(tmp) / "runs", data_dir=data_dir, seed=self.seed, runs=self.runs
            )
            fresh = lake_record(model, path)
        del fresh["runs_path"]  # a temporary folder, gone now
        return fresh

    @property
    def folder(self) -> str:
        """Where the reproducing command builds the runs."""
        if self.runs == 20:
            return f"runs/lake_runs_seed{self.seed}"
        return f"runs/lake_runs{self.runs}_seed{self.seed}"

    def _count(self) -> str:
        return "" if self.runs == 20 else f" --runs {self.runs}"

    def command(self, preset: str) -> str:
        return (
            f"metazoo lake-runs build --output {self.folder}{self._count()} --seed {self.seed} && "
            f"metazoo eval {preset} --lake-runs {self.folder} --json"
        )

    def record(self, model: keras.Model, preset: str, data_dir=None, paper=None) -> dict:
        """A preset's record: the measurement, how the runs were made, the command."""
        record = {
            "split": "evaluation",
            "seed": self.seed,
            "runs_source": (
                f"built by `metazoo lake-runs build{self._count()} --seed {self.seed}` from "
                f"{EVALUATION.name} (one alphabet and two drawers per run; not the official "
                "all_runs.zip)"
            ),
            "command": self.command(preset),
        }
        if paper is not None:
            record.update(paper=paper, paper_note="on the official runs")
        return self.remeasure(model, {**record, "runs": self.runs}, preset, data_dir)

    def remeasure(self, model: keras.Model, record: dict, preset: str, data_dir=None) -> dict:
        fresh = self.score(model, data_dir)
        # Fresh measurements win; the record keeps its own keys (seed, command, ...);
        # the keys stay in lake_record's order.
        return {**fresh, **record, **fresh}


def built_runs_record(
    model: keras.Model,
    preset: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    paper: float | None = None,
    runs: int = 20,
) -> dict:
    """The Lake record of a preset's metadata, on `runs` runs built with `seed` (then deleted)."""
    return BuiltLakeRuns(seed=seed, runs=runs).record(model, preset, data_dir, paper)


def remeasure_built_runs(
    model: keras.Model, record: dict, data_dir: str | os.PathLike | None = None
) -> dict:
    """Scores a `built_runs_record` again: the same runs, rebuilt from its `seed`."""
    return BuiltLakeRuns.from_record(record).remeasure(model, record, "", data_dir)


def preset_built_runs_records(
    model: keras.Model,
    preset: str,
    data_dir: str | os.PathLike | None = None,
    paper: float | None = None,
) -> list[dict]:
    """The Lake records a metric preset's metadata carries: seed 0, `PRESET_BUILT_RUNS` runs."""
    return [
        built_runs_record(model, preset, data_dir, seed=0, paper=paper, runs=runs)
        for runs in PRESET_BUILT_RUNS
    ]


def score_built_runs(model, preset: str, data_dir=None, paper: float | None = None) -> list[dict]:
    """The Lake built-runs records of a new metric preset (`preset_built_runs_records`), printed."""
    records = preset_built_runs_records(model, preset, data_dir, paper=paper)
    for record in records:
        print(f"Lake 20-way one-shot ({record['runs']} built runs): {record['accuracy']:.2%}")
    return records


def add_preset_built_runs(
    model: keras.Model, records: list[dict], preset: str, data_dir=None
) -> list[dict]:
    """`records` with the `PRESET_BUILT_RUNS` seed-0 records they lack, after their last one.

    Only for presets that have built-runs records: presets trained before a
    size was added get the same records as new ones.
    """
    built = [r for r in records if BuiltLakeRuns.matches(r)]
    if not built:
        return records
    have = {(r["seed"], r["runs"]) for r in built}
    paper = built[0].get("paper")
    added = [
        built_runs_record(model, preset, data_dir, paper=paper, runs=n)
        for n in PRESET_BUILT_RUNS
        if (0, n) not in have
    ]
    last = records.index(built[-1]) + 1
    return [*records[:last], *added, *records[last:]]
