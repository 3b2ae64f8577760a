"""Evaluation protocols: how a model is scored into the records presets carry.

One type per protocol, each a frozen dataclass of its settings with
`score(model, data_dir=None, verbose=0) -> dict` (the JSON record),
`command(preset) -> str` (the command that measures it again) and
`from_record(record)`:

- `episodes.OmniglotEpisodes`: seeded Omniglot episodes (`"vinyals"`, `"lake"`);
- `verification.VerificationPairs`: same/different pairs (`"verification"`);
- `lake.OfficialLakeRuns`, `lake.BuiltLakeRuns`: Lake's 20-way one-shot
  runs (`"lake-20way"`), the official file or runs built from a seed;
- `l2l.L2LRollout`: a learned optimizer against tuned baselines.

`protocol_from_record` picks the type of any record, so `remeasure`
measures a whole preset again; `kinds.PRESET_KINDS` says how `metazoo eval`
scores each kind of preset.

Example:
```python
metadata = metazoo.presets.load_metadata("protonet_omniglot")
protocol = protocol_from_record(metadata["evaluation"][0])
protocol.command("protonet_omniglot")  # metazoo eval protonet_omniglot --ways 5 ...
```
"""

from metazoo.protocols.base import Protocol, protocol_from_record, register
from metazoo.protocols.episodes import (
    PAPER_PROTONET_OMNIGLOT,
    STANDARD_SETTINGS,
    OmniglotEpisodes,
    score_settings,
)
from metazoo.protocols.kinds import PRESET_KINDS, PresetKind, preset_kind, remeasure
from metazoo.protocols.l2l import L2LRollout, evaluation_records
from metazoo.protocols.lake import (
    PRESET_BUILT_RUNS,
    REFERENCE_ACCURACY,
    BuiltLakeRuns,
    OfficialLakeRuns,
    built_runs_record,
    lake_record,
    preset_built_runs_records,
    remeasure_built_runs,
    score_built_runs,
)
from metazoo.protocols.verification import VerificationPairs, score_verification_records

__all__ = [
    "PAPER_PROTONET_OMNIGLOT",
    "PRESET_BUILT_RUNS",
    "PRESET_KINDS",
    "REFERENCE_ACCURACY",
    "STANDARD_SETTINGS",
    "BuiltLakeRuns",
    "L2LRollout",
    "OfficialLakeRuns",
    "OmniglotEpisodes",
    "PresetKind",
    "Protocol",
    "VerificationPairs",
    "built_runs_record",
    "evaluation_records",
    "lake_record",
    "preset_built_runs_records",
    "preset_kind",
    "protocol_from_record",
    "register",
    "remeasure",
    "remeasure_built_runs",
    "score_built_runs",
    "score_settings",
    "score_verification_records",
]
