"""Lake et al.'s 20-way within-alphabet one-shot classification benchmark.

- `format`: the run format of `all_runs.zip`: `read_lake_runs` reads the
  official runs or any others, `build_lake_runs` writes runs in the same
  format from `images_evaluation.zip`;
- `scoring`: `score_lake_runs` (the fraction of test items classified
  right, and the error of each run) and `compare_lake_scores` (two models,
  paired over the same runs);
- `hausdorff`: `ModifiedHausdorff`, Lake et al.'s own non-learned baseline,
  whose error on the official runs is known (38.8%): it checks a copy of
  those runs and measures how hard built runs are.

The records that presets carry (`lake_record`, `built_runs_record`, ...)
are in `metazoo.protocols.lake`.
"""

from metazoo.lake.format import (
    LABELS_FILE,
    MAX_RUNS,
    WAYS,
    LakeRun,
    build_lake_runs,
    read_lake_runs,
)
from metazoo.lake.hausdorff import (
    MODIFIED_HAUSDORFF_OFFICIAL_ERROR,
    ModifiedHausdorff,
    ink_points,
    modified_hausdorff_distance,
)
from metazoo.lake.scoring import LakeScore, compare_lake_scores, model_image_size, score_lake_runs

__all__ = [
    "LABELS_FILE",
    "MAX_RUNS",
    "MODIFIED_HAUSDORFF_OFFICIAL_ERROR",
    "WAYS",
    "LakeRun",
    "LakeScore",
    "ModifiedHausdorff",
    "build_lake_runs",
    "compare_lake_scores",
    "ink_points",
    "model_image_size",
    "modified_hausdorff_distance",
    "read_lake_runs",
    "score_lake_runs",
]
