"""Lake et al.'s 20-way within-alphabet one-shot classification benchmark.

The official runs (`all_runs.zip` of brendenlake/omniglot,
`python/one-shot-classification/`) are folders `run01` ... `run20`, each
holding `training/class01.png` ... `class20.png` (one drawing each of 20
characters of one evaluation alphabet), `test/item01.png` ... `item20.png`
(another drawer's drawing of each), and `class_labels.txt`, 20 lines
`runNN/test/itemMM.png runNN/training/classKK.png` naming the right answer.
Images are 105x105, black ink on white. The score is the fraction of the
400 test items classified correctly; Lake et al. also report the error
rate of each run.

`read_lake_runs` reads such a folder or zip whoever made it;
`build_lake_runs` writes runs in exactly this format from
`images_evaluation.zip`, for development and for users without the
official file. `ModifiedHausdorff` is Lake et al.'s own non-learned
baseline, whose error on the official runs is known (38.8%): it checks a
copy of those runs and measures how hard built runs are.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import keras
import numpy as np

from metazoo.data.lake_runs import LABELS_FILE, WAYS, build_lake_runs

# The training data's own decoding, so run images match training images pixel for pixel.
from metazoo.data.omniglot import EVALUATION, _ink_image
from metazoo.evaluation import mean_ci95

__all__ = [
    "MODIFIED_HAUSDORFF_OFFICIAL_ERROR",
    "REFERENCE_ACCURACY",
    "LakeRun",
    "LakeScore",
    "ModifiedHausdorff",
    "build_lake_runs",
    "built_runs_record",
    "compare_lake_scores",
    "ink_points",
    "lake_record",
    "model_image_size",
    "modified_hausdorff_distance",
    "preset_built_runs_records",
    "read_lake_runs",
    "remeasure_built_runs",
    "score_lake_runs",
]

PROTOCOL = "lake-20way"
# Error rate of Lake's own baseline, nearest neighbour under the modified Hausdorff
# distance, on the official runs: the figure `demo_classification.py` of
# brendenlake/omniglot (python/one-shot-classification/) says it prints. `ModifiedHausdorff`
# is the same classifier, so scoring it on a copy of the official runs checks that they
# were read correctly.
MODIFIED_HAUSDORFF_OFFICIAL_ERROR = 0.388
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
_RUN_RE = re.compile(r"^run(\d\d)$")
_TRAIN_RE = re.compile(r"^training/class(\d\d)\.png$")
_TEST_RE = re.compile(r"^test/item(\d\d)\.png$")


@dataclass(frozen=True)
class LakeRun:
    """One run: 20 training images (one per class), 20 test images, the answers.

    Attributes:
        name: str. The run folder's name, e.g. `"run01"`.
        training: float32 `[20, H, W, 1]` in [0, 1], ink = 1; `classKK` is row `KK - 1`.
        test: float32 `[20, H, W, 1]`; `itemMM` is row `MM - 1`.
        answers: int32 `[20]`: the training row of each test item's class.
    """

    name: str
    training: np.ndarray
    test: np.ndarray
    answers: np.ndarray


@dataclass(frozen=True)
class LakeScore:
    """Lake benchmark result: fraction right over all items, and per run.

    Attributes:
        accuracy: float. Fraction of all test items classified correctly.
        ci95: float. 95% half-width over runs (`1.96 std / sqrt(runs)`).
        trials: int. Test items scored (400 for the official 20 runs).
        run_errors: dict. Run name -> error rate (fraction wrong) of that run.
    """

    accuracy: float
    ci95: float
    trials: int
    run_errors: dict

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f}% right ({100 * (1 - self.accuracy):.2f}% error) "
            f"on {self.trials} items of {len(self.run_errors)} runs"
        )


def _in_run(relative: str) -> bool:
    head = relative.split("/", 1)[0]
    return "/" in relative and _RUN_RE.match(head) is not None


def _source_files(path: Path) -> tuple[set[str], dict[str, bytes]]:
    """Run names and the files under `runNN/` of a runs folder or zip, by relative path.

    The runs may sit in a folder or zip directly or one folder down (`all_runs/runNN`).
    """
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                entries = [n for n in archive.namelist() if "__MACOSX" not in n]
                names = [n for n in entries if not n.endswith("/")]
                roots = {
                    str(PurePosixPath(n).parent.parent)
                    for n in names
                    if PurePosixPath(n).name == LABELS_FILE
                }
                if len(roots) > 1:
                    raise ValueError(
                        f"{str(path)!r} holds runs under several folders: {sorted(roots)}."
                    )
                prefix = "" if roots in (set(), {"."}) else roots.pop() + "/"
                runs = {
                    n[len(prefix) :].split("/", 1)[0]
                    for n in entries
                    if n.startswith(prefix) and _in_run(n[len(prefix) :])
                }
                return runs, {
                    n[len(prefix) :]: archive.read(n)
                    for n in names
                    if n.startswith(prefix) and _in_run(n[len(prefix) :])
                }
        except (zipfile.BadZipFile, OSError) as err:
            raise ValueError(
                f"{str(path)!r} is neither a folder of runs nor a readable zip ({err})."
            ) from err
    if not path.is_dir():
        raise FileNotFoundError(f"No Lake runs at {str(path)!r}: no such folder or zip file.")

    def run_folders(folder: Path) -> list[Path]:
        return [p for p in folder.iterdir() if p.is_dir() and _RUN_RE.match(p.name)]

    folders = run_folders(path)
    if not folders:
        # Also accept the folder above an extracted `all_runs/`.
        inner = [p for p in path.iterdir() if p.is_dir() and run_folders(p)]
        if len(inner) == 1:
            path, folders = inner[0], run_folders(inner[0])
    return {f.name for f in folders}, {
        f.relative_to(path).as_posix(): f.read_bytes()
        for folder in folders
        for f in folder.rglob("*")
        if f.is_file()
    }


def _decode(data: bytes, image_size: int, where: str) -> np.ndarray:
    try:
        ink = _ink_image(data, image_size)
    except Exception as err:  # PIL raises several types for bad files.
        raise ValueError(f"{where} is not a readable image ({err}).") from err
    if ink.mean() > 127.5:
        raise ValueError(f"{where} is mostly dark: Lake runs are black ink on a white background.")
    return ink.astype(np.float32) / 255.0


def _check_numbered(where: str, found: list[str], folder: str, stem: str) -> list[str]:
    expected = [f"{folder}/{stem}{i:02d}.png" for i in range(1, WAYS + 1)]
    missing = sorted(set(expected) - set(found))
    if missing:
        raise FileNotFoundError(
            f"{where} lacks {missing}: a run needs {folder}/{stem}01.png .. {stem}{WAYS}.png."
        )
    if len(found) != WAYS:
        raise ValueError(
            f"{where} must hold exactly {WAYS} files {folder}/{stem}NN.png. "
            f"Received: {len(found)}, including {sorted(set(found) - set(expected))}"
        )
    return expected


def _read_run(run: str, files: dict[str, bytes], image_size: int, where: str) -> LakeRun:
    where = f"{where}/{run}"
    inside = {k[len(run) + 1 :]: v for k, v in files.items() if k.startswith(run + "/")}
    if LABELS_FILE not in inside:
        raise FileNotFoundError(f"{where} has no {LABELS_FILE}.")
    training = _check_numbered(
        where, [k for k in inside if _TRAIN_RE.match(k)], "training", "class"
    )
    test = _check_numbered(where, [k for k in inside if _TEST_RE.match(k)], "test", "item")
    text = inside[LABELS_FILE].decode("utf-8", errors="replace")
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) != WAYS:
        raise ValueError(
            f"{where}/{LABELS_FILE} must have {WAYS} lines '{run}/test/itemMM.png "
            f"{run}/training/classKK.png'. Received: {len(lines)} lines"
        )
    answers: dict[str, int] = {}
    for number, parts in enumerate(lines, 1):
        # Official lines are relative to the folder above the runs; accept run-relative too.
        rel = [p[len(run) + 1 :] if p.startswith(run + "/") else p for p in parts]
        if len(parts) != 2 or not _TEST_RE.match(rel[0]) or not _TRAIN_RE.match(rel[1]):
            raise ValueError(
                f"{where}/{LABELS_FILE} line {number} must read '{run}/test/itemMM.png "
                f"{run}/training/classKK.png'. Received: {' '.join(parts)!r}"
            )
        for name in rel:
            if name not in inside:
                raise FileNotFoundError(
                    f"{where}/{LABELS_FILE} line {number} names {name}, which the run lacks."
                )
        if rel[0] in answers:
            raise ValueError(f"{where}/{LABELS_FILE} lists {parts[0]} twice.")
        answers[rel[0]] = training.index(rel[1])
    return LakeRun(
        name=run,
        training=np.stack([_decode(inside[k], image_size, f"{where}/{k}") for k in training]),
        test=np.stack([_decode(inside[k], image_size, f"{where}/{k}") for k in test]),
        answers=np.asarray([answers[k] for k in test], np.int32),
    )


def read_lake_runs(path: str | os.PathLike, image_size: int = 28) -> list[LakeRun]:
    """Reads Lake one-shot runs from a folder or zip (the official `all_runs.zip` or built ones).

    Args:
        path: str. A folder holding `run01`, `run02`, ... (or the folder
            above it), or a zip of such folders.
        image_size: int. Images are resized (Lanczos, as the training data)
            to `image_size` x `image_size`.

    Returns:
        The runs, sorted by name.

    Raises:
        FileNotFoundError: no such folder/zip, or a run lacks its labels file.
        ValueError: no runs, runs not numbered `run01..runNN`, a run without
            exactly 20 training and 20 test images, a labels file without
            exactly 20 well-formed lines each naming a test item once, or an
            unreadable / white-on-black image.

    Example:
    ```python
    runs = read_lake_runs("all_runs.zip", image_size=28)
    len(runs), runs[0].training.shape  # 20, (20, 28, 28, 1)
    ```
    """
    path = Path(path).expanduser()
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(
            f"image_size must be a positive integer. Received: image_size={image_size!r}"
        )
    runs, files = _source_files(path)
    names = sorted(runs)
    if not names:
        raise ValueError(
            f"{str(path)!r} holds no Lake runs (folders run01, run02, ... with {LABELS_FILE})."
        )
    expected = [f"run{i:02d}" for i in range(1, len(names) + 1)]
    if names != expected:
        raise ValueError(
            f"Runs in {str(path)!r} must be numbered run01..run{len(names):02d}. Received: {names}"
        )
    return [_read_run(name, files, image_size, str(path)) for name in names]


def score_lake_runs(model: keras.Model, runs: list[LakeRun], batch_size: int = 5) -> LakeScore:
    """Classifies every run's test items with `model` (each run is one 20-way 1-shot episode).

    Args:
        model: keras.Model. An episodic classifier: `(support, support_labels,
            query)` -> query logits (ProtoNet, Siamese, ..., or the
            `ModifiedHausdorff` baseline).
        runs: list of `LakeRun`, with the model's input size.
        batch_size: int. Runs per forward pass.
    """
    if not runs:
        raise ValueError("No runs to score. Received: runs=[]")
    predictions = []
    for i in range(0, len(runs), batch_size):
        chunk = runs[i : i + batch_size]
        support = np.stack([r.training for r in chunk])
        query = np.stack([r.test for r in chunk])
        labels = np.tile(np.arange(WAYS, dtype=np.int32), (len(chunk), 1))
        logits = model((support, labels, query), training=False)
        predictions.append(np.argmax(keras.ops.convert_to_numpy(logits), axis=-1))
    hits = np.concatenate(predictions) == np.stack([r.answers for r in runs])
    per_run = hits.mean(axis=1)
    _, ci95 = mean_ci95(per_run)
    return LakeScore(
        accuracy=float(hits.mean()),
        ci95=ci95,
        trials=int(hits.size),
        run_errors={r.name: float(1 - a) for r, a in zip(runs, per_run, strict=True)},
    )


def compare_lake_scores(run_errors_a: dict, run_errors_b: dict) -> dict:
    """Paired accuracy difference of two models on the same runs (A minus B).

    Two models scored on the same runs can be compared far more precisely
    than their separate intervals suggest: a run that is hard for one is
    usually hard for the other. This takes the per-run accuracy difference
    and its 95% half-width over runs, so `ci95` says whether the
    difference is beyond run-to-run noise.

    Args:
        run_errors_a: dict. Run name -> error rate of model A (`LakeScore.run_errors`,
            or `run_errors` of `metazoo eval --lake-runs --json`).
        run_errors_b: dict. The same for model B, on the same runs.

    Returns:
        dict with `runs`, `accuracy_a`, `accuracy_b`, `difference`
        (accuracy A - B, a fraction) and `ci95` (95% half-width of the
        difference over runs), `runs_a_better`, `runs_b_better`.

    Raises:
        ValueError: if the two were not scored on the same run names.
    """
    if not run_errors_a or set(run_errors_a) != set(run_errors_b):
        only_a = sorted(set(run_errors_a) - set(run_errors_b))
        only_b = sorted(set(run_errors_b) - set(run_errors_a))
        raise ValueError(
            "Both models must be scored on the same runs. "
            f"Received: {len(run_errors_a)} and {len(run_errors_b)} runs; "
            f"only in A: {only_a[:5]}, only in B: {only_b[:5]}"
        )
    names = sorted(run_errors_a)
    a = 1 - np.array([run_errors_a[n] for n in names], dtype=np.float64)
    b = 1 - np.array([run_errors_b[n] for n in names], dtype=np.float64)
    difference, ci95 = mean_ci95(a - b)
    return {
        "runs": len(names),
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "difference": difference,
        "ci95": ci95,
        "runs_a_better": int((a > b).sum()),
        "runs_b_better": int((a < b).sum()),
    }


def ink_points(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The inked pixels of one image as `(row, column)` points, centred on their mean.

    Lake et al.'s baseline reads each 105x105 drawing this way (ink = black
    pixels); in metazoo's convention ink is 1, so a pixel is ink when it is
    at least `threshold`.

    Args:
        image: array `[H, W]` or `[H, W, 1]` in [0, 1], ink = 1.
        threshold: float. Smallest value counted as ink.

    Returns:
        float64 `[n, 2]`, the n ink pixels minus their mean.

    Raises:
        ValueError: the image is not one grey-scale image, or has no ink.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(
            f"ink_points takes one [H, W] or [H, W, 1] image. Received: shape={image.shape}"
        )
    points = np.argwhere(image >= threshold).astype(np.float64)
    if not len(points):
        raise ValueError(
            f"The image has no ink (no pixel >= {threshold}); the modified Hausdorff "
            "distance needs at least one inked pixel."
        )
    return points - points.mean(axis=0)


def modified_hausdorff_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Dubuisson & Jain's (1994) modified Hausdorff distance of two point sets.

    The larger of the two directed mean distances: the mean, over the points
    of `a`, of the distance to the nearest point of `b`, and the same from
    `b` to `a`. Symmetric, and zero only for equal sets.

    Args:
        a: `[n, d]` points (e.g. `ink_points(image)`).
        b: `[m, d]` points.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for points in (a, b):
        if points.ndim != 2 or not len(points):
            raise ValueError(
                f"Point sets must be non-empty [n, d] arrays. Received: shape={points.shape}"
            )
    return float(_modified_hausdorff_matrix([a], [b])[0, 0])


def _modified_hausdorff_matrix(queries: list[np.ndarray], supports: list[np.ndarray]) -> np.ndarray:
    """`[Q, S]` modified Hausdorff distances of non-empty point sets, a matrix product a query."""
    sizes = np.array([len(s) for s in supports])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    stacked = np.concatenate(supports)
    stacked_sq = np.sum(stacked**2, axis=1)
    distances = np.empty((len(queries), len(supports)))
    for i, query in enumerate(queries):
        squared = np.sum(query**2, axis=1)[:, None] + stacked_sq[None, :] - 2.0 * query @ stacked.T
        np.maximum(squared, 0.0, out=squared)  # round-off below zero
        # Query -> support: each query point's nearest point of each support set.
        query_to_support = np.sqrt(np.minimum.reduceat(squared, starts, axis=1)).mean(axis=0)
        # Support -> query: each support point's nearest query point, averaged per set.
        support_to_query = np.add.reduceat(np.sqrt(squared.min(axis=0)), starts) / sizes
        distances[i] = np.maximum(query_to_support, support_to_query)
    return distances


class ModifiedHausdorff:
    """Lake et al.'s baseline: nearest neighbour under the modified Hausdorff distance.

    No learning: each image becomes its centred ink points (`ink_points`)
    and a query goes to the class of the nearest support image under
    `modified_hausdorff_distance`. It is the classifier of
    `demo_classification.py` in brendenlake/omniglot, which reports 38.8%
    error on the official runs (`MODIFIED_HAUSDORFF_OFFICIAL_ERROR`), so
    scoring it on a copy of those runs checks that they were read correctly,
    and scoring it on built runs says how hard they are next to the official
    ones. It takes episodes like metazoo's models, at 105x105 (the runs' own
    size: resizing would blur the ink it counts), so `score_lake_runs`,
    `lake_record` and `metazoo lake-runs baseline` score it like a preset.

    Example:
    ```python
    runs = read_lake_runs("all_runs.zip", image_size=105)
    score_lake_runs(ModifiedHausdorff(), runs)  # 61.2% right on the official runs
    ```

    References:
        Dubuisson & Jain, "A modified Hausdorff distance for object
        matching", ICPR 1994; Lake, Salakhutdinov & Tenenbaum, Science 2015.
    """

    name = "modified_hausdorff"
    image_shape = (105, 105, 1)

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        """`(support_images, support_labels, query_images)` -> logits (minus the distances).

        Accepts one episode (support `[S, H, W, 1]`, labels `[S]` in
        `0..ways-1`, queries `[Q, H, W, 1]`; logits `[Q, ways]`) or a batch
        of them (one more leading axis everywhere).
        """
        del training  # nothing to train
        support, labels, query = (np.asarray(x) for x in inputs)
        if support.ndim == 4:
            return self((support[None], labels[None], query[None]))[0]
        if (
            support.ndim != 5
            or query.ndim != 5
            or labels.shape != support.shape[:2]
            or len(query) != len(support)
        ):
            raise ValueError(
                "ModifiedHausdorff takes (support [S, H, W, 1], labels [S], query [Q, H, W, 1]), "
                "or a batch of them. Received shapes: "
                f"{support.shape}, {labels.shape}, {query.shape}"
            )
        labels = labels.astype(np.int64)
        ways = int(labels.max()) + 1
        if labels.min() < 0 or any(set(np.unique(row)) != set(range(ways)) for row in labels):
            raise ValueError(
                f"Support labels must be 0..ways-1, each at least once. Received: {labels.tolist()}"
            )
        logits = np.empty((len(support), query.shape[1], ways), np.float32)
        for e, (images, episode_labels, queries) in enumerate(
            zip(support, labels, query, strict=True)
        ):
            distances = _modified_hausdorff_matrix(
                [ink_points(x) for x in queries], [ink_points(x) for x in images]
            )
            # A class's distance is that of its nearest support image (1-shot: its only one).
            for c in range(ways):
                logits[e, :, c] = -distances[:, episode_labels == c].min(axis=1)
        return logits


def model_image_size(model: keras.Model) -> int:
    """The square, single-channel input size of an episodic model."""
    shape = tuple(getattr(model, "image_shape", ()) or ())
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 1:
        raise ValueError(
            "The Lake benchmark needs a model of square grey-scale images (image_shape "
            f"(size, size, 1)). Received: image_shape={shape or None}"
        )
    return int(shape[0])


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


def built_runs_record(
    model: keras.Model,
    preset: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    paper: float | None = None,
    runs: int = 20,
) -> dict:
    """The Lake record of a preset's metadata, on `runs` runs built with `seed` (then deleted).

    20 runs (400 trials) are the official set's size; more runs (up to 99,
    e.g. the 80 of `PRESET_BUILT_RUNS`) narrow the confidence interval, and
    their first 20 are the 20-run set of the same seed. The record says how
    the runs were made and the commands that reproduce it.
    """
    folder = f"runs/lake_runs_seed{seed}" if runs == 20 else f"runs/lake_runs{runs}_seed{seed}"
    count = "" if runs == 20 else f" --runs {runs}"
    record = {
        "split": "evaluation",
        "seed": seed,
        "runs_source": (
            f"built by `metazoo lake-runs build{count} --seed {seed}` from {EVALUATION.name} "
            "(one alphabet and two drawers per run; not the official all_runs.zip)"
        ),
        "command": (
            f"metazoo lake-runs build --output {folder}{count} --seed {seed} && "
            f"metazoo eval {preset} --lake-runs {folder} --json"
        ),
    }
    if paper is not None:
        record.update(paper=paper, paper_note="on the official runs")
    return remeasure_built_runs(model, {**record, "runs": runs}, data_dir)


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


def remeasure_built_runs(
    model: keras.Model, record: dict, data_dir: str | os.PathLike | None = None
) -> dict:
    """Scores a `built_runs_record` again: the same runs, rebuilt from its `seed`."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = build_lake_runs(
            Path(tmp) / "runs",
            data_dir=data_dir,
            seed=record["seed"],
            runs=record.get("runs", 20),
        )
        fresh = lake_record(model, runs)
    del fresh["runs_path"]  # a temporary folder, gone now
    # Fresh measurements win; the record keeps its own keys (seed, command, ...);
    # the keys stay in lake_record's order.
    return {**fresh, **record, **fresh}
