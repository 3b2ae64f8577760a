"""Writing Lake one-shot runs (the format of `all_runs.zip`) from `images_evaluation.zip`.

Lake et al.'s official runs are folders `run01` ... `run20`, each with
`training/class01.png` ... `class20.png`, `test/item01.png` ...
`item20.png` and `class_labels.txt` (lines `runNN/test/itemMM.png
runNN/training/classKK.png`). `build_lake_runs` writes runs in exactly this
format; `metazoo.lake` reads and scores them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from metazoo.checks import check_int
from metazoo.data._files import fetch
from metazoo.data.omniglot import _PATH_RE, EVALUATION, _open_zip
from metazoo.files import atomic_dir, check_output_dir

WAYS = 20
# Run folders are named with two digits, as in all_runs.zip.
MAX_RUNS = 99
LABELS_FILE = "class_labels.txt"
MANIFEST_FILE = "metazoo_runs.json"


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
    archive, names = _open_zip(Path(fetch(EVALUATION, data_dir)))
    with archive:
        return _build(archive, names, output, runs, seed)


def _build(archive, names: list[str], output: Path, runs: int, seed: int) -> Path:
    drawings: dict[str, dict[str, dict[int, str]]] = {}
    for name in names:
        alphabet, character, _, drawer = _PATH_RE.search(name).groups()
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
