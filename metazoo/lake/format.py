"""The Lake one-shot run format (`all_runs.zip`): reading and writing runs.

Lake et al.'s official runs (`all_runs.zip` of brendenlake/omniglot,
`python/one-shot-classification/`) are folders `run01` ... `run20`, each
holding `training/class01.png` ... `class20.png` (one drawing each of 20
characters of one evaluation alphabet), `test/item01.png` ... `item20.png`
(another drawer's drawing of each), and `class_labels.txt`, 20 lines
`runNN/test/itemMM.png runNN/training/classKK.png` naming the right answer.
Images are 105x105, black ink on white.

`read_lake_runs` reads such a folder or zip whoever made it;
`build_lake_runs` writes runs in exactly this format from
`images_evaluation.zip`, for development and for users without the
official file.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from metazoo.checks import check_int
from metazoo.data import fetch

# The training data's own decoding, so run images match training images pixel for pixel.
from metazoo.data.omniglot_files import DRAWING_PATH_RE, EVALUATION, ink_image, open_drawings_zip
from metazoo.files import atomic_dir, check_output_dir

WAYS = 20
# Run folders are named with two digits, as in all_runs.zip.
MAX_RUNS = 99
LABELS_FILE = "class_labels.txt"
MANIFEST_FILE = "metazoo_runs.json"
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
        ink = ink_image(data, image_size)
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
    check_int("image_size", image_size)
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


def _write_run(folder: Path, run: str, training: list[bytes], test: list[bytes], answers) -> None:
    (folder / run / "training").mkdir(parents=True)
    (folder / run / "test").mkdir()
    for k, png in enumerate(training, 1):
        (folder / run / "training" / f"class{k:02d}.png").write_bytes(png)
    for m, png in enumerate(test, 1):
        (folder / run / "test" / f"item{m:02d}.png").write_bytes(png)
    lines = [
        f"{run}/test/item{m:02d}.png {run}/training/class{k + 1:02d}.png"
        for m, k in enumerate(answers, 1)
    ]
    (folder / run / LABELS_FILE).write_text("\n".join(lines) + "\n")


def build_lake_runs(
    output: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    runs: int = 20,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Writes Lake-format runs built from `images_evaluation.zip`, all or nothing.

    Run `r` takes one evaluation alphabet (a different one per run), 20 of
    its characters and two different drawers: drawer A's drawings become
    `training/class01..20.png`, drawer B's the test items in shuffled order.
    PNGs are copied byte for byte (105x105, black on white). A
    `metazoo_runs.json` beside the runs records the alphabets and drawers
    (readers ignore it).

    More than 20 runs (for a tighter estimate than the official 400 trials)
    go through the 20 alphabets again, in a new order each pass, with fresh
    characters and drawers; the first 20 runs are those that `runs=20`
    gives with the same seed.

    Args:
        output: str. The folder to create.
        data_dir: str. Folder with `images_evaluation.zip` (default
            `$METAZOO_DATA_DIR`, else downloaded).
        runs: int. How many runs, 1 to 99 (two-digit run names as in
            `all_runs.zip`); 20 like the official set.
        seed: int. Same seed, same runs.
        overwrite: bool. Replace an existing `output` that holds runs this
            function wrote (never another folder: see
            `metazoo.files.check_output_dir`).

    Example:
    ```python
    build_lake_runs("runs/lake_runs_seed0", seed=0)
    read_lake_runs("runs/lake_runs_seed0")
    ```
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= MAX_RUNS:
        raise ValueError(
            f"runs must be an integer in 1..{MAX_RUNS} (run folders run01..run{MAX_RUNS}). "
            f"Received: runs={runs!r}"
        )
    check_int("seed", seed, minimum=0)
    output = check_output_dir(output, overwrite, marker=MANIFEST_FILE, what="runs folder")
    archive, names = open_drawings_zip(Path(fetch(EVALUATION, data_dir)))
    with archive:
        return _build(archive, names, output, runs, seed)


def _build(archive, names: list[str], output: Path, runs: int, seed: int) -> Path:
    drawings: dict[str, dict[str, dict[int, str]]] = {}
    for name in names:
        alphabet, character, _, drawer = DRAWING_PATH_RE.search(name).groups()
        drawings.setdefault(alphabet, {}).setdefault(character, {})[int(drawer)] = name
    eligible = sorted(a for a, chars in drawings.items() if len(chars) >= WAYS)
    if not eligible:
        raise ValueError(f"No evaluation alphabet has {WAYS} characters in the archive.")
    rng = np.random.default_rng(seed)
    passes: list[int] = []

    def next_alphabet() -> str:
        # A new order of the alphabets each pass, drawn only when a pass is
        # used up, so that the first runs do not depend on `runs`.
        if not passes:
            passes.extend(rng.permutation(len(eligible)).tolist())
        return eligible[passes.pop(0)]

    provenance = []
    with atomic_dir(output) as tmp:
        for r in range(1, runs + 1):
            alphabet = next_alphabet()
            chars = sorted(drawings[alphabet])
            chosen = [chars[i] for i in sorted(rng.choice(len(chars), WAYS, replace=False))]
            drawer_a, drawer_b = (
                int(d) for d in rng.choice(sorted(drawings[alphabet][chosen[0]]), 2, replace=False)
            )
            order = rng.permutation(WAYS)
            training = [archive.read(drawings[alphabet][c][drawer_a]) for c in chosen]
            test = [archive.read(drawings[alphabet][chosen[k]][drawer_b]) for k in order]
            _write_run(tmp, f"run{r:02d}", training, test, order)
            provenance.append(
                {
                    "run": f"run{r:02d}",
                    "alphabet": alphabet,
                    "characters": [int(c) for c in chosen],
                    "training_drawer": drawer_a,
                    "test_drawer": drawer_b,
                }
            )
        (tmp / MANIFEST_FILE).write_text(
            json.dumps(
                {
                    "source": EVALUATION.name,
                    "seed": seed,
                    "built_by": "metazoo.lake.build_lake_runs",
                    "runs": provenance,
                },
                indent=2,
            )
            + "\n"
        )
    return output
