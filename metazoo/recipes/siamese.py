"""Siamese networks on Omniglot's background set: the recipe behind `siamese_omniglot`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import keras

from metazoo.algorithms.augmentation import CENTER_INK, KOCH_AFFINE
from metazoo.algorithms.siamese import SiameseNetwork
from metazoo.data.omniglot import LAKE_IMAGE_SIZES
from metazoo.networks.conv4 import Conv4
from metazoo.pairs import omniglot_pairs
from metazoo.presets import save_preset
from metazoo.protocols import (
    REFERENCE_ACCURACY,
    score_built_runs,
    score_settings,
    score_verification_records,
)
from metazoo.recipes.common import (
    add_output_arguments,
    backbone_architecture,
    backup_dir,
    history_summary,
    init_lineage,
    load_init_preset,
    recipe_command,
)
from metazoo.training import fit_resumable, step_decay

KOCH_LAKE_ACCURACY = REFERENCE_ACCURACY["Siamese net (Koch et al. 2015)"]
# Never the evaluation set: it holds the Lake benchmark's characters.
TRAIN_SPLIT = "background"
# Flags of `metazoo train siamese` that define a run (for the metadata's command).
_RUN_FLAGS = (
    "image_size",
    "filters",
    "batch_size",
    "steps",
    "epoch_steps",
    "learning_rate",
    "decay_every",
    "same_alphabet_fraction",
    "augment",
    "seed",
    "init_preset",
)


def build_siamese(
    image_size: int = 28, filters: int = 64, augment: bool = True, center: bool = False
) -> SiameseNetwork:
    """The `siamese_omniglot` architecture: Conv-4 towers, Koch's affine distortions."""
    return SiameseNetwork(
        Conv4(image_shape=(image_size, image_size, 1), filters=filters),
        augmentation="koch" if augment else None,
        preprocessing="center" if center else None,
    )


def train_siamese(
    image_size: int = 28,
    filters: int = 64,
    batch_size: int = 128,
    steps: int = 30_000,
    epoch_steps: int = 500,
    learning_rate: float = 1e-3,
    decay_every: int = 10_000,
    same_alphabet_fraction: float = 0.5,
    augment: bool = True,
    seed: int = 0,
    backup_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    init_preset: str | os.PathLike | None = None,
    rotations: bool = False,
    center: bool = False,
) -> tuple[SiameseNetwork, dict]:
    """Trains a Siamese network on balanced pairs of the Lake background set.

    Adam with `learning_rate`, halved every `decay_every` steps; one batch of
    `batch_size` pairs per step. Resumable: rerun with the same `backup_dir`.
    With `init_preset`, training starts from that Siamese preset's weights
    (its architecture: image size, filters, augmentation). With `rotations`,
    each background character rotated by 0/90/180/270 degrees is four
    classes (still background characters only). `center` puts every
    image's ink in the middle (`CenterInk`, in training and at inference:
    the preset keeps it); a run may add it to its `init_preset`.

    Returns:
        The trained model and a dict describing the run (for the metadata).
    """
    keras.utils.set_random_seed(seed)
    if init_preset is not None:
        model = load_init_preset(
            init_preset,
            SiameseNetwork,
            lambda model: {
                **backbone_architecture(model, filters),
                "augment": model.augmentation is not None,
            },
            asked={"filters": filters, "image_size": image_size, "augment": augment},
        )
        start = model
        model = SiameseNetwork(
            start.backbone,
            augmentation=start.augmentation,
            episode_reduction=start.episode_reduction,
            preprocessing="center" if center else None,
        )
        model.head.set_weights(start.head.get_weights())
    else:
        model = build_siamese(image_size, filters, augment, center)
    model.compile(optimizer=keras.optimizers.Adam(step_decay(learning_rate, decay_every)))

    def make_dataset(start):
        return omniglot_pairs(
            TRAIN_SPLIT,
            batch_size,
            image_size=image_size,
            seed=seed,
            same_alphabet_fraction=same_alphabet_fraction,
            data_dir=data_dir,
            start=start,
            rotations=bool(rotations),
        )

    data = {
        "split": TRAIN_SPLIT,
        "batch_size": batch_size,
        "image_size": image_size,
        "seed": seed,
        "same_alphabet_fraction": same_alphabet_fraction,
        # Only when asked: the run identity of earlier backups stays the same.
        **({"rotations": True} if rotations else {}),
    }
    history = fit_resumable(
        model, make_dataset, steps, epoch_steps, backup_dir, verbose=verbose, data=data
    )
    training = {
        "algorithm": "siamese",
        "protocol": "lake",
        "split": TRAIN_SPLIT,
        "image_size": image_size,
        "tower": f"Conv4(filters={filters}) on {image_size}x{image_size}, "
        f"{model.backbone.output_shape[-1]}-d embedding (Koch et al. used a larger net on "
        "105x105; this one trains on a CPU)",
        "distance": "sigmoid(w . |f(a) - f(b)| + b)",
        "augmentation": KOCH_AFFINE if augment else None,
        "preprocessing": CENTER_INK if center else None,
        "batch_size": batch_size,
        "steps": steps,
        "pairs_seen": steps * batch_size,
        "same_alphabet_fraction": same_alphabet_fraction,
        "rotations": bool(rotations),
        "optimizer": f"Adam({learning_rate}), halved every {decay_every} steps",
        "loss": "binary cross-entropy on balanced same/different pairs",
        "seed": seed,
    }
    if init_preset is not None:
        training.update(init_lineage(init_preset))
    training.update(history_summary(history))
    return model, training


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-size", type=int, default=28, choices=list(LAKE_IMAGE_SIZES))
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128, help="pairs per step (even)")
    parser.add_argument("--steps", type=int, default=30_000, help="training steps (batches)")
    parser.add_argument(
        "--epoch-steps", type=int, default=500, help="steps between backups / progress lines"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--decay-every", type=int, default=10_000)
    parser.add_argument(
        "--same-alphabet-fraction",
        type=float,
        default=0.5,
        help="share of different pairs drawn within one alphabet",
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=1,
        choices=[0, 1],
        help="1: Koch's random affine distortions in training",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=1000,
        help="evaluation episodes per setting for the metadata (0: skip every evaluation)",
    )
    parser.add_argument(
        "--eval-pairs",
        type=int,
        default=10_000,
        help="verification pairs per record for the metadata (0: none)",
    )
    parser.add_argument(
        "--init-preset",
        default=None,
        help="start from this Siamese preset's weights (name or folder)",
    )
    parser.add_argument(
        "--rotations",
        action="store_true",
        help="each background character rotated by 0/90/180/270 degrees is four classes",
    )
    parser.add_argument(
        "--center",
        action="store_true",
        help="move every image's ink to the middle (whole pixels), in training and inference",
    )
    add_output_arguments(parser)


def run_train(args: argparse.Namespace) -> Path:
    """`metazoo train siamese`: train on background pairs, score, write the preset."""
    output = Path(args.output)
    if args.eval_pairs < 0:
        raise ValueError(f"--eval-pairs must be >= 0. Received: {args.eval_pairs}")
    model, training = train_siamese(
        image_size=args.image_size,
        filters=args.filters,
        batch_size=args.batch_size,
        steps=args.steps,
        epoch_steps=args.epoch_steps,
        learning_rate=args.learning_rate,
        decay_every=args.decay_every,
        same_alphabet_fraction=args.same_alphabet_fraction,
        augment=bool(args.augment),
        seed=args.seed,
        backup_dir=backup_dir(args),
        data_dir=args.data_dir,
        init_preset=args.init_preset,
        rotations=args.rotations,
        center=args.center,
    )
    training["command"] = recipe_command("siamese", args, _RUN_FLAGS, flags=("rotations", "center"))
    evaluation = []
    if args.eval_episodes:
        evaluation += score_built_runs(model, output.name, args.data_dir, paper=KOCH_LAKE_ACCURACY)
        evaluation += score_settings(
            model, output.name, ((5, 1), (20, 1)), "lake", args.eval_episodes,
            image_size=args.image_size, data_dir=args.data_dir,
        )  # fmt: skip
        if args.eval_pairs:
            evaluation += score_verification_records(
                model, output.name, args.eval_pairs, args.image_size, args.data_dir
            )
    description = args.description or (
        f"Siamese network (Koch et al.), Conv-4 towers, Omniglot {args.image_size}x"
        f"{args.image_size}, trained on the Lake background set"
        + (" (rotations by 90/180/270 degrees as extra classes)" if args.rotations else "")
        + (", ink centred" if args.center else "")
    )
    return save_preset(
        model,
        output,
        {
            "description": description,
            "kind": "few_shot_classifier",
            "paper": "Koch, Zemel & Salakhutdinov, Siamese Neural Networks for One-shot "
            "Image Recognition, ICML Deep Learning Workshop 2015",
            "training": training,
            "evaluation": evaluation,
        },
        overwrite=args.overwrite,
    )
