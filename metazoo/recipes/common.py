"""What every `metazoo train` recipe shares: output options, backups, the recorded command."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import keras

from metazoo.episodes import omniglot_episodes
from metazoo.presets import load, load_metadata
from metazoo.training import fit_resumable


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every `metazoo train` recipe shares: output, backup, description."""
    parser.add_argument(
        "--output",
        required=True,
        help="preset folder to write (a new or empty folder; see --overwrite)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing preset folder at --output (never another kind of folder)",
    )
    parser.add_argument(
        "--backup-dir", default=None, help="resumable state (default: .<output>.backup beside it)"
    )
    parser.add_argument("--description", default=None)


def backup_dir(args: argparse.Namespace) -> str:
    """`--backup-dir`, or `.<output name>.backup` beside the output folder."""
    output = Path(args.output)
    return args.backup_dir or str(output.parent / f".{output.name}.backup")


def recipe_command(
    algorithm: str,
    args: argparse.Namespace,
    options: Iterable[str],
    flags: Iterable[str] = (),
) -> str:
    """The `metazoo train <algorithm>` command line that reproduces a run.

    `options` name the valued arguments (those that are `None` are left
    out), `flags` the `store_true` ones (written when set).
    """
    parts = [
        f"--{name.replace('_', '-')} {getattr(args, name)}"
        for name in options
        if getattr(args, name, None) is not None
    ]
    parts += [f"--{name.replace('_', '-')}" for name in flags if getattr(args, name, False)]
    return f"metazoo train {algorithm} {' '.join(parts)} --output {args.output}"


def history_summary(history: keras.callbacks.History) -> dict:
    """Last epoch's loss/accuracy (nothing when a finished run was only restored)."""
    summary = {}
    for name in ("loss", "accuracy"):
        if history.history.get(name):
            summary[f"final_epoch_{name}"] = history.history[name][-1]
    return summary


def check_init_architecture(init_preset, preset: dict, asked: dict) -> None:
    """Raises `ValueError` unless the run asks for the architecture `init_preset` has."""
    if preset != asked:
        raise ValueError(
            f"The architecture comes from init_preset {str(init_preset)!r}: {preset}. "
            f"Received: {asked}"
        )


def backbone_architecture(model: keras.Model, filters: int) -> dict:
    """A few-shot preset's backbone width and input size, as `load_init_preset` compares them.

    A backbone without a `filters` attribute (not a `Conv4`) is taken to have
    the asked `filters`.
    """
    return {
        "filters": getattr(model.backbone, "filters", filters),
        "image_size": model.image_shape[0],
    }


def load_init_preset(
    init_preset, cls: type, architecture: Callable[[keras.Model], dict], asked: dict
) -> keras.Model:
    """Loads the preset a run continues (`--init-preset`).

    Args:
        init_preset: preset name or folder.
        cls: the model class the recipe trains; another kind of preset is refused.
        architecture: function of the loaded model giving the dict compared
            with `asked` (the same keys).
        asked: the architecture this run's arguments ask for.

    Raises:
        ValueError: if the preset is not a `cls`, or its architecture is not `asked`.
    """
    model = load(init_preset, compile=False)
    if not isinstance(model, cls):
        raise ValueError(
            f"init_preset must be a {cls.__name__} preset. "
            f"Received: {str(init_preset)!r}, a {type(model).__name__}"
        )
    check_init_architecture(init_preset, architecture(model), asked)
    return model


def init_lineage(init_preset) -> dict:
    """Where a run started: `init_preset`'s name and its own training record.

    Kept in the metadata so that a preset continued from an earlier version of
    itself still says how that earlier version was trained.
    """
    return {
        "init_preset": Path(init_preset).name,
        "init_training": load_metadata(init_preset).get("training", {}),
    }


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
