"""Scoring episodic few-shot classifiers on Omniglot protocols (CLI, benchmarks, presets)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import keras

from metazoo.episodes import omniglot_episodes
from metazoo.evaluation import EpisodeScore, PairScore, evaluate_episodes, evaluate_pairs
from metazoo.pairs import omniglot_pairs
from metazoo.training import fit_resumable

# Snell et al. (2017), Table 1: Omniglot 28x28, Vinyals split.
PAPER_PROTONET_OMNIGLOT = {
    (5, 1): 0.988,
    (5, 5): 0.997,
    (20, 1): 0.960,
    (20, 5): 0.989,
}
STANDARD_SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
DEFAULT_SPLIT = {"vinyals": "test", "lake": "evaluation"}
VERIFICATION = "verification"
# Pairs per forward pass: fixed, so that a seed names the same pairs in every run.
VERIFICATION_BATCH = 500
# A trained pair model's verification records: plain different pairs, and
# different pairs always from one alphabet (the harder, Lake-like case).
VERIFICATION_FRACTIONS = (0.0, 1.0)


def fit_on_episodes(
    model: keras.Model,
    episodes: int,
    epoch_episodes: int,
    backup_dir: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    **episode_options,
) -> tuple[keras.callbacks.History, dict]:
    """Trains `model` on seeded Omniglot episodes, one per step, resumably.

    `episode_options` go to `omniglot_episodes` (split, ways, shots,
    queries, protocol, image size, seed, ...); a resumed run continues with
    the episodes where it stopped (see `fit_resumable`).

    Returns:
        The `History` and the run's data settings for its metadata
        (protocol, split, image size, ways, shots, queries, episodes).
    """

    def make_dataset(start: int):
        return omniglot_episodes(**episode_options, start=start)

    data = {k: v for k, v in episode_options.items() if k != "data_dir"}
    history = fit_resumable(
        model, make_dataset, episodes, epoch_episodes, backup_dir, verbose=verbose, data=data
    )
    settings = {
        name: episode_options[name]
        for name in ("protocol", "split", "image_size", "ways", "shots", "queries")
    }
    return history, {**settings, "episodes": episodes}


def score_settings(
    model: keras.Model,
    preset_name: str,
    settings: Iterable[tuple[int, int]],
    protocol: str,
    episodes: int,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    paper: dict | None = None,
    extra: dict | None = None,
) -> list[dict]:
    """Scores a freshly trained model for its metadata: one record per (ways, shots).

    15 queries per class, seed 0, the protocol's evaluation split; each
    record carries the `metazoo eval` command that measures it again, the
    paper's figure where `paper` has one, and the items of `extra`.
    """
    records = []
    for ways, shots in settings:
        record, score = score_protocol(
            model,
            protocol=protocol,
            ways=ways,
            shots=shots,
            queries=15,
            episodes=episodes,
            seed=0,
            image_size=image_size,
            data_dir=data_dir,
        )
        if paper and (ways, shots) in paper:
            record["paper"] = paper[(ways, shots)]
        record.update(extra or {})
        record["command"] = (
            f"metazoo eval {preset_name} --ways {ways} --shots {shots} --queries 15 "
            f"--episodes {episodes} --seed 0"
        )
        print(f"{ways}-way {shots}-shot ({record['split']} split): {score}")
        records.append(record)
    return records


def score_protocol(
    model: keras.Model,
    protocol: str = "vinyals",
    split: str | None = None,
    ways: int = 5,
    shots: int = 1,
    queries: int = 15,
    episodes: int = 1000,
    seed: int = 0,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    verbose: int = 1,
) -> tuple[dict, EpisodeScore]:
    """Scores `model` on seeded Omniglot episodes; returns the JSON record and the score.

    The record holds the whole protocol (protocol, split, ways, shots,
    queries, episodes, seed, image size) beside `accuracy` and `ci95`, both
    as fractions.
    """
    split = split or DEFAULT_SPLIT.get(protocol, "test")
    fixed_ways = getattr(model, "ways", None)  # learners with an N-way head (Meta-LSTM)
    if fixed_ways is not None and fixed_ways != ways:
        raise ValueError(
            f"This model classifies exactly {fixed_ways} ways (its learner's head). "
            f"Received: ways={ways}"
        )
    data = omniglot_episodes(
        split,
        ways,
        shots,
        queries,
        protocol=protocol,
        image_size=image_size,
        seed=seed,
        data_dir=data_dir,
    )
    score = evaluate_episodes(model, data, episodes, verbose=verbose)
    record = {
        "protocol": protocol,
        "split": split,
        "image_size": image_size,
        "ways": ways,
        "shots": shots,
        "queries": queries,
        "episodes": episodes,
        "seed": seed,
        "accuracy": round(score.accuracy, 5),
        "ci95": round(score.ci95, 5),
    }
    return record, score


def score_verification(
    model: keras.Model,
    protocol: str = "lake",
    split: str | None = None,
    pairs: int = 10_000,
    same_alphabet_fraction: float = 0.0,
    seed: int = 0,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    verbose: int = 1,
) -> tuple[dict, PairScore]:
    """Scores a pair model on seeded balanced pairs; returns the JSON record and the score.

    The pairs come from the protocol's evaluation split (characters the
    model never saw), half of them two drawings of one character;
    `same_alphabet_fraction` of the different pairs are two characters of
    one alphabet. The record holds these settings beside `accuracy`, `ci95`
    and `auc`.

    Raises:
        ValueError: if `model` gives no P(same) of a pair (not a `SiameseNetwork`).
    """
    from metazoo.algorithms.siamese import SiameseNetwork

    if not isinstance(model, SiameseNetwork):
        raise ValueError(
            "Verification needs a model that gives P(same) of a pair (a SiameseNetwork). "
            f"Received: a {type(model).__name__}"
        )
    split = split or DEFAULT_SPLIT.get(protocol, "test")
    data = omniglot_pairs(
        split,
        VERIFICATION_BATCH,
        protocol=protocol,
        image_size=image_size,
        seed=seed,
        same_alphabet_fraction=same_alphabet_fraction,
        data_dir=data_dir,
    )
    score = evaluate_pairs(model, data, pairs, verbose=verbose)
    record = {
        "protocol": VERIFICATION,
        "omniglot_protocol": protocol,
        "split": split,
        "image_size": image_size,
        "pairs": pairs,
        "same_alphabet_fraction": same_alphabet_fraction,
        "seed": seed,
        "accuracy": round(score.accuracy, 5),
        "ci95": round(score.ci95, 5),
        "auc": round(score.auc, 5),
    }
    return record, score


def verification_command(preset: str, record: dict) -> str:
    """The `metazoo eval` command that measures a verification record again."""
    return (
        f"metazoo eval {preset} --verification-pairs {record['pairs']} "
        f"--same-alphabet-fraction {record['same_alphabet_fraction']} --seed {record['seed']}"
    )


def score_verification_records(
    model: keras.Model, preset: str, pairs: int, image_size: int = 28, data_dir=None
) -> list[dict]:
    """A new pair preset's verification records (`VERIFICATION_FRACTIONS`, seed 0), printed."""
    records = []
    for fraction in VERIFICATION_FRACTIONS:
        record, score = score_verification(
            model,
            pairs=pairs,
            same_alphabet_fraction=fraction,
            image_size=image_size,
            data_dir=data_dir,
            verbose=0,
        )
        record["command"] = verification_command(preset, record)
        print(f"Verification, same-alphabet fraction {fraction}: {score}")
        records.append(record)
    return records


def evaluate_verification(path, metadata: dict, args) -> dict:
    """`metazoo eval --verification-pairs`: a pair preset on pairs of its protocol."""
    from metazoo.presets import load

    training = metadata.get("training", {})
    record, _ = score_verification(
        load(path),
        protocol=training.get("protocol", "vinyals"),
        split=args.split,
        pairs=args.verification_pairs,
        same_alphabet_fraction=args.same_alphabet_fraction or 0.0,
        seed=args.seed,
        image_size=training.get("image_size", 28),
        data_dir=args.data_dir,
        verbose=0 if args.json else 1,
    )
    return record


def evaluate_preset(path, metadata: dict, args) -> dict:
    """`metazoo eval` for a few-shot classifier preset: seeded episodes of its protocol."""
    from metazoo.presets import load

    training = metadata.get("training", {})
    protocol = training.get("protocol", "vinyals")
    model = load(path)
    record, _ = score_protocol(
        model,
        protocol=protocol,
        split=args.split,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        episodes=args.episodes,
        seed=args.seed,
        image_size=training.get("image_size", 28),
        data_dir=args.data_dir,
        verbose=0 if args.json else 1,
    )
    if protocol == "vinyals" and (args.ways, args.shots) in PAPER_PROTONET_OMNIGLOT:
        if training.get("algorithm") == "protonet":
            record["paper"] = PAPER_PROTONET_OMNIGLOT[(args.ways, args.shots)]
    return record


def score_built_runs(model, preset: str, data_dir=None, paper: float | None = None) -> list[dict]:
    """The Lake built-runs records of a new metric preset (`preset_built_runs_records`), printed."""
    from metazoo.lake import preset_built_runs_records

    records = preset_built_runs_records(model, preset, data_dir, paper=paper)
    for record in records:
        print(f"Lake 20-way one-shot ({record['runs']} built runs): {record['accuracy']:.2%}")
    return records


def remeasure_official_runs(model, record: dict, data_dir=None) -> dict:
    """Scores a record of Lake's official runs again, if `record["runs_file"]` is at hand.

    The official `all_runs.zip` is not part of the data metazoo downloads;
    put it in the data folder (or its `omniglot/` subfolder) to measure the
    record again. Without it the record is kept as it is.
    """
    from metazoo.data._files import resolve_data_dir
    from metazoo.lake import lake_record

    folder = resolve_data_dir(data_dir)
    names = (record["runs_file"], f"omniglot/{record['runs_file']}")
    found = [folder / name for name in names if folder and (folder / name).is_file()]
    if not found:
        print(f"{record['runs_file']} is not in the data folder: its record is kept as it is")
        return record
    fresh = lake_record(model, found[0])
    del fresh["runs_path"]  # where this machine keeps the file; the record names it
    return {**fresh, **record, **fresh}


def remeasure(path, metadata: dict, data_dir=None) -> list[dict]:
    """Measures each evaluation record of a preset again, under the protocol it states.

    A preset with Lake built-runs records also gets those of
    `metazoo.lake.PRESET_BUILT_RUNS` it lacks (seed 0), so presets trained
    before a size was added carry the same records as new ones.
    """
    from metazoo.lake import PRESET_BUILT_RUNS, built_runs_record, remeasure_built_runs
    from metazoo.presets import load

    model = load(path)
    records = []
    for record in metadata.get("evaluation", []):
        if record["protocol"] == "lake-20way" and "runs_file" in record:
            records.append(remeasure_official_runs(model, record, data_dir))
            continue
        if record["protocol"] == "lake-20way":
            records.append(remeasure_built_runs(model, record, data_dir))
            continue
        if record["protocol"] == VERIFICATION:
            fresh, _ = score_verification(
                model, protocol=record["omniglot_protocol"], split=record["split"],
                pairs=record["pairs"], same_alphabet_fraction=record["same_alphabet_fraction"],
                seed=record["seed"], image_size=record["image_size"], data_dir=data_dir,
            )  # fmt: skip
            records.append({**record, **fresh})
            continue
        fresh, _ = score_protocol(
            model, protocol=record["protocol"], split=record["split"], ways=record["ways"],
            shots=record["shots"], queries=record["queries"], episodes=record["episodes"],
            seed=record["seed"], image_size=record.get("image_size", 28), data_dir=data_dir,
        )  # fmt: skip
        records.append({**record, **fresh})
    lake = [r for r in records if r["protocol"] == "lake-20way" and "seed" in r]
    if lake:
        have = {(r["seed"], r["runs"]) for r in lake}
        last = records.index(lake[-1])
        added = [
            built_runs_record(model, Path(path).name, data_dir, paper=lake[0].get("paper"), runs=n)
            for n in PRESET_BUILT_RUNS
            if (0, n) not in have
        ]
        records[last + 1 : last + 1] = added
    return records
