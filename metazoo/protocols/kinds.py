"""Preset kinds (`metadata["kind"]`): how `metazoo eval` and `remeasure` treat a preset."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metazoo import presets
from metazoo.algorithms.l2l import LearnedOptimizer
from metazoo.protocols import l2l
from metazoo.protocols.base import protocol_from_record
from metazoo.protocols.episodes import adapting_with, evaluate_episodes_preset
from metazoo.protocols.lake import add_preset_built_runs, lake_record
from metazoo.protocols.verification import evaluate_verification_preset

DEFAULT_KIND = "few_shot_classifier"


@dataclasses.dataclass(frozen=True)
class PresetKind:
    """How one kind of preset is loaded and scored.

    Attributes:
        load: function of the preset folder, giving what the protocols score.
        evaluate: function `(model, metadata, args) -> dict`: the JSON result
            of `metazoo eval` (`args`: its parsed options).
    """

    load: Callable[[Path], Any]
    evaluate: Callable[[Any, dict, argparse.Namespace], dict]


def evaluate_few_shot(model, metadata: dict, args: argparse.Namespace) -> dict:
    """`metazoo eval` of a few-shot classifier: pairs, Lake runs, or (default) episodes."""
    if args.verification_pairs is not None:
        return evaluate_verification_preset(model, metadata, args)
    if args.lake_runs:
        with adapting_with(model, getattr(args, "inner_steps", None)) as steps:
            record = lake_record(model, args.lake_runs)
        return record if steps is None else {**record, "inner_steps": steps}
    return evaluate_episodes_preset(model, metadata, args)


PRESET_KINDS = {
    "few_shot_classifier": PresetKind(load=presets.load, evaluate=evaluate_few_shot),
    "learned_optimizer": PresetKind(
        load=LearnedOptimizer.from_preset, evaluate=l2l.evaluate_preset
    ),
}


def preset_kind(metadata: dict) -> PresetKind:
    """The `PresetKind` of a preset's metadata (a few-shot classifier when unstated).

    Raises:
        ValueError: for a kind that no protocol scores.
    """
    kind = metadata.get("kind", DEFAULT_KIND)
    if kind not in PRESET_KINDS:
        raise ValueError(
            f"A preset's kind must be one of {sorted(PRESET_KINDS)}. Received: kind={kind!r}"
        )
    return PRESET_KINDS[kind]


def remeasure(path: str | os.PathLike, metadata: dict, data_dir=None) -> list[dict]:
    """Measures each evaluation record of a preset again, under the protocol it states.

    A preset with Lake built-runs records also gets those of
    `PRESET_BUILT_RUNS` it lacks (seed 0), so presets trained before a size
    was added carry the same records as new ones.
    """
    model, preset = preset_kind(metadata).load(path), Path(path).name
    records = [
        protocol_from_record(record, metadata).remeasure(model, record, preset, data_dir)
        for record in metadata.get("evaluation", [])
    ]
    return add_preset_built_runs(model, records, preset, data_dir)
