"""Prototypical Networks on Omniglot: the recipe behind `protonet_omniglot`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import keras

from metazoo.algorithms.augmentation import CENTER_INK, KOCH_AFFINE
from metazoo.algorithms.protonet import PrototypicalNetwork
from metazoo.networks.conv4 import Conv4
from metazoo.presets import save_preset
from metazoo.protocols import (
    PAPER_PROTONET_OMNIGLOT,
    STANDARD_SETTINGS,
    score_built_runs,
    score_settings,
)
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


def train_protonet(
    protocol: str = "vinyals",
    split: str = "trainval",
    image_size: int = 28,
    ways: int = 60,
    shots: int = 5,
    queries: int = 5,
    episodes: int = 20_000,
    epoch_episodes: int = 500,
    learning_rate: float = 1e-3,
    decay_every: int = 2_000,
    filters: int = 64,
    seed: int = 0,
    backup_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    init_preset: str | os.PathLike | None = None,
    same_alphabet_fraction: float = 0.0,
    rotations: bool = False,
    augment: bool = False,
    center: bool = False,
    verbose: int | str = "auto",
) -> tuple[PrototypicalNetwork, dict]:
    """Trains a Prototypical Network on Omniglot with Snell et al.'s recipe.

    Adam with `learning_rate`, halved every `decay_every` episodes; one
    episode per step. Resumable: rerun with the same `backup_dir`. With
    `init_preset`, training starts from that preset's weights (fine-tuning,
    e.g. on 1-shot episodes after 5-shot training). `same_alphabet_fraction`
    of the episodes take all their classes from one alphabet (hard episodes
    like Lake's within-alphabet task). `rotations` makes each training
    character rotated by 0/90/180/270 degrees four classes on the Lake
    protocol (the Vinyals split always has them). `augment` distorts every
    training image with Koch et al.'s random affine transforms
    (`RandomAffine`); it is a training choice, not part of the architecture,
    so a run may add it to (or drop it from) its `init_preset`. `center`
    puts every image's ink in the middle (`CenterInk`, in training and at
    inference: the preset keeps it); a run may add it to its `init_preset`.

    Returns:
        The trained model and a dict describing the run (for the metadata).
    """
    if rotations and protocol != "lake":
        raise ValueError(
            "rotations applies to the Lake protocol (the Vinyals split has its rotated "
            f"classes already). Received: protocol={protocol!r}"
        )
    keras.utils.set_random_seed(seed)
    if init_preset is not None:
        model = load_init_preset(
            init_preset,
            PrototypicalNetwork,
            lambda model: backbone_architecture(model, filters),
            asked={"filters": filters, "image_size": image_size},
        )
        backbone = model.backbone
    else:
        backbone = Conv4(image_shape=(image_size, image_size, 1), filters=filters)
    model = PrototypicalNetwork(
        backbone,
        augmentation="koch" if augment else None,
        preprocessing="center" if center else None,
    )
    model.compile(optimizer=keras.optimizers.Adam(step_decay(learning_rate, decay_every)))

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
        same_alphabet_fraction=same_alphabet_fraction,
        # Only when asked: the run identity of earlier backups stays the same.
        **({"rotations": True} if rotations else {}),
    )
    training = {
        "algorithm": "protonet",
        **data,
        "optimizer": f"Adam({learning_rate}), halved every {decay_every} episodes",
        "backbone": f"Conv4(filters={filters})",
        "same_alphabet_fraction": same_alphabet_fraction,
        "rotations": bool(rotations or protocol == "vinyals"),
        "augmentation": KOCH_AFFINE if augment else None,
        "preprocessing": CENTER_INK if center else None,
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
    parser.add_argument("--ways", type=int, default=60)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument(
        "--episodes", type=int, default=20_000, help="training episodes (one per step)"
    )
    parser.add_argument(
        "--epoch-episodes",
        type=int,
        default=500,
        help="episodes between backups / progress lines",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--decay-every", type=int, default=2_000)
    parser.add_argument("--filters", type=int, default=64)
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
        "--same-alphabet-fraction",
        type=float,
        default=0.0,
        help="share of training episodes with all classes from one alphabet",
    )
    parser.add_argument(
        "--rotations",
        action="store_true",
        help="Lake protocol: each character rotated by 0/90/180/270 degrees is four "
        "training classes (the Vinyals split always has them)",
    )
    parser.add_argument(
        "--augment",
        action="store_true",
        help="distort every training image with Koch et al.'s random affine transforms",
    )
    parser.add_argument(
        "--center",
        action="store_true",
        help="move every image's ink to the middle (whole pixels), in training and inference",
    )


_RECORDED_OPTIONS = (
    "protocol", "split", "image_size", "ways", "shots", "queries", "episodes", "epoch_episodes",
    "learning_rate", "decay_every", "filters", "seed", "init_preset", "same_alphabet_fraction",
)  # fmt: skip


def run_train(args: argparse.Namespace) -> Path:
    """`metazoo train protonet`: train, score on the standard settings, write the preset."""
    split = args.split or ("trainval" if args.protocol == "vinyals" else "background")
    output = Path(args.output)
    model, training = train_protonet(
        protocol=args.protocol,
        split=split,
        image_size=args.image_size,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        episodes=args.episodes,
        epoch_episodes=args.epoch_episodes,
        learning_rate=args.learning_rate,
        decay_every=args.decay_every,
        filters=args.filters,
        seed=args.seed,
        backup_dir=backup_dir(args),
        data_dir=args.data_dir,
        init_preset=args.init_preset,
        same_alphabet_fraction=args.same_alphabet_fraction,
        rotations=args.rotations,
        augment=args.augment,
        center=args.center,
    )
    training["command"] = recipe_command(
        "protonet", args, _RECORDED_OPTIONS, flags=("rotations", "augment", "center")
    )
    settings = STANDARD_SETTINGS if args.eval_episodes else ()
    paper = PAPER_PROTONET_OMNIGLOT if args.protocol == "vinyals" else None
    evaluation = score_settings(
        model, output.name, settings, args.protocol, args.eval_episodes,
        image_size=args.image_size, data_dir=args.data_dir, paper=paper,
    )  # fmt: skip
    if args.protocol == "lake" and args.eval_episodes:
        # Lake's 20-way within-alphabet one-shot task, on runs built from the evaluation set.
        evaluation += score_built_runs(model, output.name, args.data_dir)
    description = args.description or (
        f"Prototypical Network, Conv-4, Omniglot {args.image_size}x{args.image_size}, "
        f"trained on the {args.protocol} {split} split"
        + (" (rotations by 90/180/270 degrees as extra classes)" if args.rotations else "")
        + (", Koch et al.'s affine distortions" if args.augment else "")
        + (", ink centred" if args.center else "")
    )
    return save_preset(
        model,
        output,
        {
            "description": description,
            "kind": "few_shot_classifier",
            "paper": "Snell, Swersky & Zemel, Prototypical Networks for Few-shot "
            "Learning, NeurIPS 2017",
            "training": training,
            "evaluation": evaluation,
        },
        overwrite=args.overwrite,
    )
