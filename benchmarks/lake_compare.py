"""Paired comparison of two presets on the same Lake runs (A minus B).

Both presets classify the same test items; the difference of their per-run
accuracies, with its 95% half-width over runs, says whether one is better
beyond run-to-run noise (much narrower than the two presets' own
intervals, since a hard run is hard for both). Without `--lake-runs` the
runs are built from the evaluation set (`--runs`, `--seed`; as `metazoo
lake-runs build`) into a temporary folder.

    python benchmarks/lake_compare.py PRESET_A PRESET_B [--lake-runs PATH]
        [--runs 80] [--seed 0] [--data-dir DIR]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from metazoo.lake import (  # noqa: E402
    build_lake_runs,
    compare_lake_scores,
    model_image_size,
    read_lake_runs,
    score_lake_runs,
)
from metazoo.presets import load  # noqa: E402


def compare(preset_a: str, preset_b: str, runs_path: str | os.PathLike) -> dict:
    """Scores both presets on the runs at `runs_path`; returns the paired record."""
    scores = []
    for preset in (preset_a, preset_b):
        model = load(preset, compile=False)
        runs = read_lake_runs(runs_path, model_image_size(model))
        scores.append(score_lake_runs(model, runs).run_errors)
    return compare_lake_scores(*scores)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset_a")
    parser.add_argument("preset_b")
    parser.add_argument("--lake-runs", default=None, help="run folder or zip (default: build)")
    parser.add_argument("--runs", type=int, default=80, help="runs to build (no --lake-runs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built runs")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.lake_runs is None:
            path = build_lake_runs(
                Path(tmp) / "runs", data_dir=args.data_dir, seed=args.seed, runs=args.runs
            )
            source = f"built: metazoo lake-runs build --runs {args.runs} --seed {args.seed}"
        else:
            path, source = args.lake_runs, str(args.lake_runs)
        result = compare(args.preset_a, args.preset_b, path)
    result = {
        "benchmark": "lake_compare",
        "preset_a": args.preset_a,
        "preset_b": args.preset_b,
        "lake_runs": source,
        **result,
    }
    print(
        f"{args.preset_a} {100 * result['accuracy_a']:.2f}% - {args.preset_b} "
        f"{100 * result['accuracy_b']:.2f}% = {100 * result['difference']:+.2f} "
        f"± {100 * result['ci95']:.2f} points (paired, 95%, {result['runs']} runs; "
        f"A better on {result['runs_a_better']}, B on {result['runs_b_better']})"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
