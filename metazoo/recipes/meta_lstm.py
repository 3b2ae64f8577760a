"""The LSTM meta-learner on Omniglot: the recipe behind `meta_lstm_omniglot_5w1s` / `_5w5s`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import keras

from metazoo.algorithms.meta_lstm import MetaLSTM
from metazoo.networks.conv4 import Conv4
from metazoo.presets import save_preset
from metazoo.protocols import score_settings
from metazoo.recipes.common import (
    add_output_arguments,
    backbone_architecture,
    backup_dir,
    fit_on_episodes,
    history_summary,
    init_lineage,
    load_init_preset,
    recipe_command,
)
from metazoo.training import step_decay

PAPER = "Ravi & Larochelle, Optimization as a Model for Few-Shot Learning, ICLR 2017"
# Settings every preset is scored on (the head has 5 units, so 5-way only).
EVAL_SETTINGS = ((5, 1), (5, 5))


def paper_inner_steps(shots: int) -> int:
    """Learner updates per episode in the authors' configs: 12 for 1-shot, 8 for 5-shot.

    (`config/lstm/train-imagenet-1shot.lua`: 12 epochs of batch 5;
    `train-imagenet-5shot.lua`: 8 epochs of batch 25; both batches are the
    whole 5-way support set.)
    """
    return 12 if shots == 1 else 8


def train_meta_lstm(
    protocol: str = "vinyals",
    split: str = "trainval",
    image_size: int = 28,
    ways: int = 5,
    shots: int = 1,
    queries: int = 15,
    inner_steps: int | None = None,
    inner_batch_size: int | None = None,
    episodes: int = 50_000,
    epoch_episodes: int = 500,
    learning_rate: float = 1e-3,
    decay_every: int | None = None,
    clipnorm: float = 0.25,
    filters: int = 32,
    hidden_units: int = 20,
    second_order: bool = False,
    seed: int = 0,
    backup_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    init_preset: str | os.PathLike | None = None,
    jit_compile: bool | str = "auto",
    verbose: int | str = "auto",
) -> tuple[MetaLSTM, dict]:
    """Meta-trains the LSTM meta-learner on Omniglot with Ravi & Larochelle's recipe.

    One episode per meta-update; Adam with `learning_rate` (halved every
    `decay_every` episodes if given), the meta-gradient's global norm
    clipped to `clipnorm`; second derivatives of
    the learner's gradient dropped unless `second_order`. Resumable: rerun
    with the same `backup_dir`. With `init_preset`, the meta-learner and the
    learner's initialization start from that preset (e.g. 5-shot training
    after 1-shot training); the inner-loop settings are this run's.
    `jit_compile` is passed to `compile` (`benchmarks/meta_lstm_step_cost.py`
    times both).

    Returns:
        The trained model and a dict describing the run (for the metadata).
    """
    inner_steps = inner_steps or paper_inner_steps(shots)
    keras.utils.set_random_seed(seed)
    if init_preset is not None:
        model = load_init_preset(
            init_preset,
            MetaLSTM,
            lambda model: {
                "ways": model.ways,
                **backbone_architecture(model, filters),
                "hidden_units": model.cell.hidden_units,
            },
            asked={
                "ways": ways,
                "filters": filters,
                "image_size": image_size,
                "hidden_units": hidden_units,
            },
        )
        # The meta-learner and c_0 carry over; the inner loop takes this run's settings.
        model.inner_steps = inner_steps
        model.inner_batch_size = inner_batch_size
        model.second_order = second_order
    else:
        model = MetaLSTM(
            Conv4(image_shape=(image_size, image_size, 1), filters=filters),
            ways=ways,
            inner_steps=inner_steps,
            inner_batch_size=inner_batch_size,
            hidden_units=hidden_units,
            second_order=second_order,
        )
    if decay_every is not None and decay_every < 1:
        raise ValueError(f"decay_every must be a positive integer. Received: {decay_every!r}")
    schedule = step_decay(learning_rate, decay_every) if decay_every else learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, global_clipnorm=clipnorm),
        jit_compile=jit_compile,
    )

    history, data = fit_on_episodes(
        model,
        episodes,
        epoch_episodes,
        backup_dir,
        verbose=verbose,
        protocol=protocol,
        split=split,
        image_size=image_size,
        ways=ways,
        shots=shots,
        queries=queries,
        seed=seed,
        data_dir=data_dir,
    )
    training = {
        "algorithm": "meta_lstm",
        **data,
        "inner_steps": inner_steps,
        "inner_batch_size": inner_batch_size or ways * shots,
        "optimizer": f"Adam({learning_rate})"
        + (f", halved every {decay_every} episodes" if decay_every else "")
        + f", global_clipnorm={clipnorm}, one episode per step",
        "learner": f"Conv4(filters={filters}) + Dense({ways}), batch statistics only",
        "meta_learner": f"LSTM({hidden_units}) + MetaLSTMCell, p=10",
        "second_order": second_order,
        "seed": seed,
    }
    if init_preset is not None:
        training.update(init_lineage(init_preset))
    training.update(history_summary(history))
    return model, training


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", default="vinyals", choices=["vinyals", "lake"])
    parser.add_argument(
        "--split", default=None, help="training split (default: trainval / background)"
    )
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument(
        "--inner-steps",
        type=int,
        default=None,
        help="learner updates per episode (default: 12 for 1-shot, 8 otherwise)",
    )
    parser.add_argument(
        "--inner-batch-size",
        type=int,
        default=None,
        help="support examples per update (default: the whole support set)",
    )
    parser.add_argument(
        "--episodes", type=int, default=50_000, help="training episodes (one per step)"
    )
    parser.add_argument(
        "--epoch-episodes",
        type=int,
        default=500,
        help="episodes between backups / progress lines",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--decay-every",
        type=int,
        default=None,
        help="halve the learning rate every N episodes (default: constant)",
    )
    parser.add_argument(
        "--clipnorm", type=float, default=0.25, help="global norm clip of the meta-gradient"
    )
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--hidden-units", type=int, default=20)
    parser.add_argument(
        "--second-order",
        action="store_true",
        help="also back-propagate through the learner's gradients (the paper does not)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=1000,
        help="test episodes per setting for the metadata (0: skip)",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--init-preset", default=None, help="start from this preset's weights (name or folder)"
    )
    parser.add_argument(
        "--xla", action="store_true", help="compile the training step with XLA (jit_compile)"
    )


_COMMAND_OPTIONS = (
    "protocol",
    "split",
    "image_size",
    "ways",
    "shots",
    "queries",
    "inner_steps",
    "inner_batch_size",
    "episodes",
    "epoch_episodes",
    "learning_rate",
    "decay_every",
    "clipnorm",
    "filters",
    "hidden_units",
    "seed",
    "init_preset",
)


def run_train(args: argparse.Namespace) -> Path:
    """`metazoo train meta_lstm`: meta-train, score 5-way 1/5-shot, write the preset."""
    split = args.split or ("trainval" if args.protocol == "vinyals" else "background")
    output = Path(args.output)
    model, training = train_meta_lstm(
        protocol=args.protocol,
        split=split,
        image_size=args.image_size,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        inner_steps=args.inner_steps,
        inner_batch_size=args.inner_batch_size,
        episodes=args.episodes,
        epoch_episodes=args.epoch_episodes,
        learning_rate=args.learning_rate,
        decay_every=args.decay_every,
        clipnorm=args.clipnorm,
        filters=args.filters,
        hidden_units=args.hidden_units,
        second_order=args.second_order,
        seed=args.seed,
        backup_dir=backup_dir(args),
        data_dir=args.data_dir,
        init_preset=args.init_preset,
        jit_compile=True if args.xla else "auto",
    )
    training["command"] = recipe_command(
        "meta_lstm", args, _COMMAND_OPTIONS, flags=("second_order", "xla")
    )
    settings = [s for s in EVAL_SETTINGS if s[0] == args.ways] if args.eval_episodes else []
    evaluation = score_settings(
        model, output.name, settings, args.protocol, args.eval_episodes,
        image_size=args.image_size, data_dir=args.data_dir,
        extra={"inner_steps": model.inner_steps},
    )  # fmt: skip
    description = args.description or (
        f"LSTM meta-learner (Ravi & Larochelle) training a Conv-4 ({args.filters} filters) learner "
        f"in {training['inner_steps']} steps, Omniglot {args.image_size}x{args.image_size}, "
        f"meta-trained {args.ways}-way {args.shots}-shot on the {args.protocol} {split} split"
    )
    return save_preset(
        model,
        output,
        {
            "description": description,
            "kind": "few_shot_classifier",
            "paper": PAPER,
            "training": training,
            "evaluation": evaluation,
        },
        overwrite=args.overwrite,
    )
