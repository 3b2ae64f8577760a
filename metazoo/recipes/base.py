"""Declarative recipes: one frozen dataclass per algorithm, one runner for all of them.

A recipe's settings are dataclass fields declared once, with their default and
help text (`setting`). From them come the `metazoo train <name>` options
(`Recipe.add_arguments`, `Recipe.from_args`), the metadata's `training` record
and the command that reproduces the run (`Recipe.command`). The run itself is
the same for every algorithm (`Recipe.train`, `Recipe.run`): seed -> build the
model (or continue `init_preset`) -> compile -> `fit_resumable` -> score ->
`save_preset`. An algorithm fills in a few methods: `build_model`,
`train_data`, `compile_model`, `evaluate`, `describe`.

Example:
```python
from metazoo.recipes.protonet import ProtoNetRecipe

recipe = ProtoNetRecipe(episodes=300, epoch_episodes=100, eval_episodes=0)
model, training = recipe.train()
recipe.command("my_protonet")
# 'metazoo train protonet --protocol vinyals ... --output my_protonet'
```
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar

import keras

from metazoo.checks import check_int
from metazoo.presets import check_preset_output, load, load_metadata, save_preset
from metazoo.training import fit_resumable, step_decay


def setting(
    default: Any,
    help: str | None = None,
    *,
    minimum: float | None = None,
    recorded: bool = True,
    **argparse_options,
):
    """A recipe setting: a dataclass field with its help text and command-line spelling.

    Args:
        default: the default value.
        help: str. The option's help text.
        minimum: number. Smallest valid value (checked when the recipe is
            made); `None` for no bound. `None` values are not checked.
        recorded: bool. Whether the reproducing command writes the option;
            `False` for settings that do not change the trained weights
            (how many episodes the metadata's scores use).
        **argparse_options: passed to `add_argument` instead of what the
            field's type implies (e.g. `type=int, choices=[0, 1]` for a
            boolean written as `--augment 1`).
    """
    metadata = {
        "help": help,
        "minimum": minimum,
        "recorded": recorded,
        "argparse": argparse_options,
    }
    return dataclasses.field(default=default, metadata=metadata)


def _option(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _value_type(annotation) -> type:
    # `int | None` -> int; plain types stay.
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kinds[0]
    return annotation


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Base of the `metazoo train` recipes: the settings and the run every algorithm shares.

    Subclasses are frozen dataclasses whose fields are their settings
    (declared with `setting`) and implement `build_model`, `train_data`,
    `compile_model`, `evaluate` and `describe`. Class attributes: `name`
    (the `metazoo train` sub-command and the metadata's `algorithm`),
    `kind` and `paper` (metadata), `model_class` (what `init_preset` must
    be), `export` (whether presets get a serving SavedModel), `steps_setting`
    and `epoch_setting` (the settings that count training steps).
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "few_shot_classifier"
    paper: ClassVar[str] = ""
    model_class: ClassVar[type]
    export: ClassVar[bool] = True
    # The settings that count the training steps and the steps between backups.
    steps_setting: ClassVar[str] = "steps"
    epoch_setting: ClassVar[str] = "epoch_steps"
    # Settings whose options come last in the reproducing command (seed, init_preset).
    _LAST: ClassVar[tuple[str, ...]] = ("seed", "init_preset")

    seed: int = setting(0, "random seed of the initial weights and the training data", minimum=0)
    init_preset: str | None = setting(
        None, "start from this preset's weights (name or folder)", metavar="PRESET"
    )

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value, minimum = getattr(self, field.name), field.metadata.get("minimum")
            if minimum is None or value is None:
                continue
            if _value_type(hints[field.name]) is int:
                check_int(field.name, value, minimum)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise ValueError(
                    f"{field.name} must be a number >= {minimum:g}. "
                    f"Received: {field.name}={value!r}"
                )
        self.check()

    def check(self) -> None:
        """Raises `ValueError` for combinations of settings the recipe cannot run."""

    # -- What an algorithm fills in -------------------------------------------------

    def build_model(self, data_dir=None) -> keras.Model:
        """The untrained model these settings describe."""
        raise NotImplementedError

    def model_from_init_preset(self, start: keras.Model, data_dir=None) -> keras.Model:
        """The model to train when the run continues `init_preset` (loaded as `start`)."""
        return start

    def architecture(self, model: keras.Model) -> dict:
        """What an `init_preset` must share with this run (compared with `asked_architecture`)."""
        return {}

    def asked_architecture(self) -> dict:
        """The architecture these settings ask for (see `architecture`)."""
        return {}

    def compile_model(self, model: keras.Model) -> None:
        """Compiles `model` with this recipe's optimizer (Adam and `learning_rate_schedule`)."""
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate_schedule()))

    def train_data(self, model: keras.Model, start: int, data_dir=None):
        """The endless seeded training data from step `start` on (see `fit_resumable`)."""
        raise NotImplementedError

    def data_identity(self) -> dict:
        """The training data's settings, part of a backup's run identity."""
        raise NotImplementedError

    @property
    def total_steps(self) -> int:
        """Training steps in all: the setting named by `steps_setting`."""
        return getattr(self, self.steps_setting)

    @property
    def steps_per_epoch(self) -> int:
        """Steps between backups and progress lines: the setting named by `epoch_setting`."""
        return getattr(self, self.epoch_setting)

    def callbacks(self, backup_dir=None) -> list[keras.callbacks.Callback]:
        """More Keras callbacks for `fit`."""
        return []

    def training_record(self, model: keras.Model, history, backup_dir=None) -> dict:
        """The metadata's `training` record of a finished run (without algorithm and command)."""
        raise NotImplementedError

    def history_record(self, history: keras.callbacks.History) -> dict:
        """What the `training` record keeps of `fit`'s history (last epoch's loss, accuracy)."""
        return history_summary(history)

    def evaluate(self, model: keras.Model, preset: str, data_dir=None) -> list[dict]:
        """The metadata's `evaluation` records of the trained model (each with its command)."""
        return []

    def metadata_extra(self, evaluation: list[dict]) -> dict:
        """More metadata entries, written before `evaluation`."""
        return {}

    def describe(self) -> str:
        """The preset's default description."""
        raise NotImplementedError

    # -- Shared by every algorithm -------------------------------------------------

    def learning_rate_schedule(self):
        """`learning_rate`, halved every `decay_every` steps when that is set (and not 0)."""
        decay_every = getattr(self, "decay_every", None)
        if decay_every:
            return step_decay(self.learning_rate, decay_every)
        return self.learning_rate

    def load_init_preset(self) -> keras.Model:
        """Loads `init_preset`; refuses another kind of model or another architecture."""
        model = load(self.init_preset, compile=False)
        if not isinstance(model, self.model_class):
            raise ValueError(
                f"init_preset must be a {self.model_class.__name__} preset. "
                f"Received: {str(self.init_preset)!r}, a {type(model).__name__}"
            )
        preset, asked = self.architecture(model), self.asked_architecture()
        if preset != asked:
            raise ValueError(
                f"The architecture comes from init_preset {str(self.init_preset)!r}: {preset}. "
                f"Received: {asked}"
            )
        return model

    def train(
        self, data_dir=None, backup_dir: str | os.PathLike | None = None, verbose="auto"
    ) -> tuple[keras.Model, dict]:
        """Trains a model with these settings; resumable from `backup_dir`.

        Returns:
            The trained model and its `training` record (the metadata's),
            without the command (see `run`).
        """
        keras.utils.set_random_seed(self.seed)
        if self.init_preset is None:
            model = self.build_model(data_dir)
        else:
            model = self.model_from_init_preset(self.load_init_preset(), data_dir)
        self.compile_model(model)
        history = fit_resumable(
            model,
            lambda start: self.train_data(model, start, data_dir),
            self.total_steps,
            self.steps_per_epoch,
            backup_dir,
            callbacks=self.callbacks(backup_dir),
            verbose=verbose,
            data=self.data_identity(),
        )
        training = {"algorithm": self.name, **self.training_record(model, history, backup_dir)}
        training["seed"] = self.seed
        if self.init_preset is not None:
            # A preset continued from an earlier one still says how that one was trained.
            training["init_preset"] = Path(self.init_preset).name
            training["init_training"] = load_metadata(self.init_preset).get("training", {})
        training.update(self.history_record(history))
        return model, training

    def run(
        self,
        output: str | os.PathLike,
        data_dir=None,
        backup_dir: str | os.PathLike | None = None,
        overwrite: bool = False,
        description: str | None = None,
        verbose="auto",
    ) -> Path:
        """Trains, scores and writes the preset folder `output` (what `metazoo train` does).

        `output` is checked before training (a folder that is not a preset
        is never replaced; see `metazoo.presets.check_preset_output`).
        """
        check_preset_output(output, overwrite)
        model, training = self.train(data_dir, backup_dir, verbose)
        training["command"] = self.command(output)
        evaluation = self.evaluate(model, Path(output).name, data_dir)
        metadata = {
            "description": description or self.describe(),
            "kind": self.kind,
            "paper": self.paper,
            "training": training,
            **self.metadata_extra(evaluation),
            "evaluation": evaluation,
        }
        return save_preset(model, output, metadata, overwrite=overwrite, export=self.export)

    # -- The command line ----------------------------------------------------------

    @classmethod
    def _ordered_fields(cls) -> list[dataclasses.Field]:
        fields = dataclasses.fields(cls)
        return [f for f in fields if f.name not in cls._LAST] + [
            f for f in fields if f.name in cls._LAST
        ]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Adds this recipe's options (one per setting) and the run's own options to `parser`."""
        hints = typing.get_type_hints(cls)
        for field in cls._ordered_fields():
            options = {"help": field.metadata.get("help"), **field.metadata["argparse"]}
            kind = _value_type(hints[field.name])
            if kind is bool and "type" not in options:
                options.setdefault("action", "store_true")
            else:
                options.setdefault("type", kind)
                options.setdefault("default", field.default)
                if options.get("help") and field.default is not None:
                    options["help"] += f" (default: {field.default})"
            parser.add_argument(_option(field.name), **options)
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
            "--backup-dir",
            default=None,
            help="resumable state (default: .<output>.backup beside it)",
        )
        parser.add_argument("--description", default=None)
        parser.add_argument(
            "--data-dir",
            default=None,
            help="folder with the official data files (default: $METAZOO_DATA_DIR, else download)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Recipe:
        """The recipe the parsed `metazoo train` options describe."""
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            value = getattr(args, field.name)
            if _value_type(hints[field.name]) is bool:
                value = bool(value)
            values[field.name] = value
        return cls(**values)

    def command(self, output: str | os.PathLike) -> str:
        """The `metazoo train` command line that reproduces this run into `output`.

        Valued settings (left out when `None`), then the flags that are set;
        settings with `recorded=False` are left out.
        """
        valued, flags = [], []
        for field in self._ordered_fields():
            if not field.metadata["recorded"]:
                continue
            value = getattr(self, field.name)
            if isinstance(value, bool) and "type" not in field.metadata["argparse"]:
                if value:
                    flags.append(_option(field.name))
            elif value is not None:
                value = int(value) if isinstance(value, bool) else value
                valued.append(f"{_option(field.name)} {value}")
        return f"metazoo train {self.name} {' '.join(valued + flags)} --output {output}"


def backup_dir(args: argparse.Namespace) -> str:
    """`--backup-dir`, or `.<output name>.backup` beside the output folder."""
    output = Path(args.output)
    return args.backup_dir or str(output.parent / f".{output.name}.backup")


def history_summary(history: keras.callbacks.History) -> dict:
    """Last epoch's loss/accuracy (nothing when a finished run was only restored)."""
    summary = {}
    for name in ("loss", "accuracy"):
        if history.history.get(name):
            summary[f"final_epoch_{name}"] = history.history[name][-1]
    return summary


def backbone_architecture(model: keras.Model, filters: int) -> dict:
    """A few-shot model's backbone width and input size, as `Recipe.architecture` compares them.

    A backbone without a `filters` attribute (not a `Conv4`) is taken to have
    the asked `filters`.
    """
    return {
        "filters": getattr(model.backbone, "filters", filters),
        "image_size": model.image_shape[0],
    }
