"""MAML on Omniglot: the recipe behind `maml_omniglot_5w1s`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import keras

from metazoo.algorithms.maml import MAML
from metazoo.episodes import omniglot_episodes
from metazoo.presets import save_preset
from metazoo.recipes.common import (
    add_output_arguments,
    backup_dir,
    history_summary,
    recipe_command,
)
from metazoo.recipes.few_shot import score_settings
from metazoo.training import fit_resumable

PAPER = (
    "Finn, Abbeel & Levine, Model-Agnostic Meta-Learning for Fast Adaptation of Deep "
    "Networks, ICML 2017"
)
# Finn et al. (2017), Table 1: Omniglot 5-way, convolutional MAML.
PAPER_MAML_OMNIGLOT = {(5, 1): 0.987, (5, 5): 0.999}


def train_maml(
    protocol: str = "vinyals",
    split: str = "trainval",
    image_size: int = 28,
    ways: int = 5,
    shots: int = 1,
    queries: int = 1,
    meta_batch: int = 32,
    steps: int = 60_000,
    epoch_steps: int = 250,
    learning_rate: float = 1e-3,
    inner_steps: int = 1,
    eval_inner_steps: int = 3,
    inner_lr: float = 0.4,
    first_order: bool = False,
    learn_inner_lr: bool = False,
    adapt: str = "all",
    filters: int = 64,
    seed: int = 0,
    backup_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    verbose: int | str = "auto",
) -> tuple[MAML, dict]:
    """Meta-trains MAML on Omniglot with Finn et al.'s 5-way recipe.

    Each step is one meta-batch of `meta_batch` episodes (32 in the paper),
    each adapted with `inner_steps` SGD steps of size `inner_lr` on its
    support set; Adam with `learning_rate` on the mean query loss. The
    defaults are the paper's 5-way Omniglot settings (1 step of 0.4 in
    training, 3 at test, meta-batch 32, 60,000 steps) with Finn et al.'s
    code's query set: as many examples per class as the support set.
    Resumable: rerun with the same `backup_dir` (the episodes continue where
    they stopped).

    Returns:
        The trained model and a dict describing the run (for the metadata).
    """
    keras.utils.set_random_seed(seed)
    model = MAML(
        ways=ways,
        inner_steps=inner_steps,
        eval_inner_steps=eval_inner_steps,
        inner_lr=inner_lr,
        first_order=first_order,
        learn_inner_lr=learn_inner_lr,
        adapt=adapt,
        filters=filters,
        image_shape=(image_size, image_size, 1),
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    data = {
        "protocol": protocol,
        "split": split,
        "image_size": image_size,
        "ways": ways,
        "shots": shots,
        "queries": queries,
        "meta_batch": meta_batch,
        "seed": seed,
    }

    def make_dataset(start: int):
        # Step `start` begins with episode `start * meta_batch`.
        return omniglot_episodes(
            split, ways, shots, queries, protocol=protocol, image_size=image_size, seed=seed,
            batch_size=meta_batch, data_dir=data_dir, start=start * meta_batch,
        )  # fmt: skip

    history = fit_resumable(
        model, make_dataset, steps, epoch_steps, backup_dir, verbose=verbose, data=data
    )
    training = {
        "algorithm": "maml",
        **{k: v for k, v in data.items() if k != "seed"},
        "steps": steps,
        "episodes": steps * meta_batch,
        "optimizer": f"Adam({learning_rate})",
        "inner_steps": inner_steps,
        "eval_inner_steps": eval_inner_steps,
        "inner_lr": inner_lr,
        "first_order": first_order,
        "learn_inner_lr": learn_inner_lr,
        "adapt": adapt,
        "learner": f"4 x [3x3 conv {filters}, stride 2, batch norm, ReLU], mean, linear",
        "backend": keras.config.backend(),
        "seed": seed,
    }
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
    parser.add_argument(
        "--queries", type=int, default=1, help="query examples per class in training"
    )
    parser.add_argument("--meta-batch", type=int, default=32, help="episodes per meta-step")
    parser.add_argument("--steps", type=int, default=60_000, help="meta-steps in all")
    parser.add_argument(
        "--epoch-steps", type=int, default=250, help="meta-steps between backups / progress lines"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--eval-inner-steps", type=int, default=3)
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--first-order", action="store_true", help="first-order MAML (FOMAML)")
    parser.add_argument(
        "--learn-inner-lr", action="store_true", help="a learned step size per weight tensor"
    )
    parser.add_argument("--adapt", default="all", choices=["all", "head"], help="head: ANIL")
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=1000,
        help="test episodes per setting for the metadata (0: skip)",
    )
    add_output_arguments(parser)


_RECORDED_OPTIONS = (
    "protocol", "split", "image_size", "ways", "shots", "queries", "meta_batch", "steps",
    "epoch_steps", "learning_rate", "inner_steps", "eval_inner_steps", "inner_lr", "adapt",
    "filters", "seed",
)  # fmt: skip


def run_train(args: argparse.Namespace) -> Path:
    """`metazoo train maml`: meta-train, score 5-way 1/5-shot, write the preset."""
    split = args.split or ("trainval" if args.protocol == "vinyals" else "background")
    output = Path(args.output)
    model, training = train_maml(
        protocol=args.protocol,
        split=split,
        image_size=args.image_size,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        meta_batch=args.meta_batch,
        steps=args.steps,
        epoch_steps=args.epoch_steps,
        learning_rate=args.learning_rate,
        inner_steps=args.inner_steps,
        eval_inner_steps=args.eval_inner_steps,
        inner_lr=args.inner_lr,
        first_order=args.first_order,
        learn_inner_lr=args.learn_inner_lr,
        adapt=args.adapt,
        filters=args.filters,
        seed=args.seed,
        backup_dir=backup_dir(args),
        data_dir=args.data_dir,
    )
    args.split = split
    training["command"] = recipe_command(
        "maml", args, _RECORDED_OPTIONS, flags=("first_order", "learn_inner_lr")
    )
    settings = [(args.ways, 1), (args.ways, 5)] if args.eval_episodes else []
    paper = PAPER_MAML_OMNIGLOT if args.protocol == "vinyals" else None
    evaluation = score_settings(
        model, output.name, settings, args.protocol, args.eval_episodes,
        image_size=args.image_size, data_dir=args.data_dir, paper=paper,
        extra={"inner_steps": model.eval_inner_steps},
    )  # fmt: skip
    variant = {(True, "all"): "FOMAML", (False, "head"): "ANIL", (True, "head"): "first-order ANIL"}
    name = variant.get((args.first_order, args.adapt), "MAML")
    description = args.description or (
        f"{name}{' with learned step sizes' if args.learn_inner_lr else ''}, "
        f"Finn et al.'s conv learner ({args.filters} filters), Omniglot "
        f"{args.image_size}x{args.image_size}, meta-trained {args.ways}-way {args.shots}-shot "
        f"on the {args.protocol} {split} split"
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
