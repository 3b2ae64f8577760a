"""L2L (Andrychowicz et al., 2016): the recipe behind `l2l_quadratic` and `l2l_mnist_mlp`.

The evaluation protocol is `metazoo.protocols.l2l.PROTOCOL` (what `evaluate_task` does).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import keras

from metazoo.algorithms.l2l import L2LMetaTrainer, LearnedOptimizer, meta_training_data
from metazoo.presets import load, save_preset
from metazoo.protocols.l2l import (
    HELD_OUT_STREAM,
    LR_GRID,
    PROTOCOL,
    TASK_NAMES,
    TASKS,
    evaluation_records,
    make_optimizee,
)
from metazoo.recipes.common import (
    add_output_arguments,
    backup_dir,
    init_lineage,
    recipe_command,
)
from metazoo.training import fit_resumable, step_decay

PAPER = (
    "Andrychowicz et al., Learning to learn by gradient descent by gradient descent, NeurIPS 2016"
)


def train_l2l(
    task: str = "mnist_mlp",
    meta_steps: int = 2000,
    epoch_steps: int = 50,
    unroll: int = 20,
    horizon: int = 100,
    learning_rate: float = 1e-3,
    rule: dict | None = None,
    seed: int = 0,
    backup_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    decay_every: int = 0,
    init_preset: str | os.PathLike | None = None,
    verbose: int | str = "auto",
) -> tuple[L2LMetaTrainer, dict]:
    """Meta-trains the L2L update rule on `task` with Adam(`learning_rate`); resumable.

    The learning rate is halved every `decay_every` meta-steps (0: constant).
    With `init_preset`, the meta-parameters start from that L2L preset's
    (whose update rule must have the same shape), e.g. to continue a run at a
    lower learning rate.

    Backups are taken every `epoch_steps` meta-steps, which must be whole
    optimizees (`horizon // unroll` meta-steps each) so a resumed run
    starts on a fresh optimizee.

    Returns:
        The trained `L2LMetaTrainer` and a dict describing the run.
    """
    if not 0 <= seed < HELD_OUT_STREAM:
        raise ValueError(f"seed must be in [0, {HELD_OUT_STREAM}). Received: seed={seed}")
    unrolls = horizon // unroll if unroll > 0 else 0
    if unrolls < 1 or epoch_steps % unrolls:
        raise ValueError(
            f"epoch_steps must be a multiple of horizon // unroll = {unrolls}. "
            f"Received: epoch_steps={epoch_steps}, horizon={horizon}, unroll={unroll}"
        )
    keras.utils.set_random_seed(seed)
    optimizee = make_optimizee(task, data_dir)
    trainer = L2LMetaTrainer(optimizee, unroll, horizon, init_seed=seed, **(rule or {}))
    if init_preset is not None:
        start = load(init_preset, compile=False)
        if not isinstance(start, L2LMetaTrainer) or start.rule_config != trainer.rule_config:
            got = getattr(start, "rule_config", type(start).__name__)
            raise ValueError(
                f"init_preset must be an L2L preset with the update rule {trainer.rule_config}. "
                f"Received: {got}"
            )
        for name, value in start.get_meta_params().items():
            trainer.meta_params[name].assign(value)
    schedule = step_decay(learning_rate, decay_every) if decay_every else learning_rate
    trainer.compile(optimizer=keras.optimizers.Adam(schedule))
    callbacks, log = [], None
    if backup_dir is not None:
        # Keeps the per-epoch meta-losses of every session of a resumed run.
        Path(backup_dir).mkdir(parents=True, exist_ok=True)
        log = Path(backup_dir) / "meta_losses.csv"
        callbacks.append(keras.callbacks.CSVLogger(str(log), append=True))
    history = fit_resumable(
        trainer,
        lambda start: meta_training_data(optimizee, unroll, horizon, seed, "train", start),
        meta_steps,
        epoch_steps,
        backup_dir,
        callbacks=callbacks,
        verbose=verbose,
        data={"task": task, "seed": seed, "unroll": unroll, "horizon": horizon},
    )
    losses = history.history
    if log is not None and log.is_file():
        with open(log, newline="") as f:
            # The last row of an epoch wins: one re-run after an interruption.
            rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
        losses = {
            key: [float(rows[e][key]) for e in sorted(rows)] for key in ("loss", "final_loss")
        }
    training = {
        "algorithm": "l2l",
        "task": task,
        "optimizee": optimizee.get_config(),
        "split": "train" if task == "mnist_mlp" else None,
        "unroll": unroll,
        "horizon": horizon,
        "meta_steps": -(-meta_steps // epoch_steps) * epoch_steps,
        "optimizees_seen": -(-meta_steps // epoch_steps) * epoch_steps // unrolls,
        "meta_optimizer": f"Adam({learning_rate})"
        + (f", halved every {decay_every} meta-steps" if decay_every else ""),
        "update_rule": trainer.rule_config.as_dict(),
        "seed": seed,
        "meta_loss_per_epoch": [round(v, 5) for v in losses.get("loss", [])],
        "final_loss_per_epoch": [round(v, 5) for v in losses.get("final_loss", [])],
    }
    if init_preset is not None:
        training.update(init_lineage(init_preset))
    return trainer, training


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="mnist_mlp", choices=TASKS)
    parser.add_argument("--meta-steps", type=int, default=2000, help="meta-steps (unrolls)")
    parser.add_argument(
        "--epoch-steps", type=int, default=50, help="meta-steps between backups / progress lines"
    )
    parser.add_argument("--unroll", type=int, default=20, help="optimizee steps per meta-step")
    parser.add_argument("--horizon", type=int, default=100, help="optimizee steps per optimizee")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="meta-optimizer (Adam)")
    parser.add_argument(
        "--decay-every", type=int, default=0, help="halve the learning rate every N meta-steps"
    )
    parser.add_argument(
        "--init-preset", default=None, help="start from this L2L preset's meta-parameters"
    )
    parser.add_argument("--hidden-units", type=int, default=20)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--preprocess", default="log_sign", choices=["log_sign", "none"])
    parser.add_argument("--p", type=float, default=10.0, help="p of the log/sign preprocessing")
    parser.add_argument("--output-scale", type=float, default=0.1)
    parser.add_argument(
        "--eval-seeds", type=int, default=10, help="held-out optimizees to score (0: skip)"
    )
    add_output_arguments(parser)
    parser.add_argument("--tune-seeds", type=int, default=3, help="optimizees to tune baselines")


_COMMAND_ARGS = (
    "task meta_steps epoch_steps unroll horizon learning_rate decay_every hidden_units "
    "num_layers preprocess p output_scale eval_seeds tune_seeds seed init_preset"
).split()


def run_train(args: argparse.Namespace) -> Path:
    """`metazoo train l2l`: meta-train, score against tuned baselines, write the preset."""
    output = Path(args.output)
    rule = {
        "hidden_units": args.hidden_units,
        "num_layers": args.num_layers,
        "preprocess": args.preprocess,
        "p": args.p,
        "output_scale": args.output_scale,
    }
    trainer, training = train_l2l(
        task=args.task,
        meta_steps=args.meta_steps,
        epoch_steps=args.epoch_steps,
        unroll=args.unroll,
        horizon=args.horizon,
        learning_rate=args.learning_rate,
        rule=rule,
        seed=args.seed,
        backup_dir=backup_dir(args),
        data_dir=args.data_dir,
        decay_every=args.decay_every,
        init_preset=args.init_preset,
    )
    training["command"] = recipe_command("l2l", args, _COMMAND_ARGS)
    protocol = {"steps": args.horizon, "seeds": args.eval_seeds, "tune_seeds": args.tune_seeds}
    protocol.update(lr_grid=LR_GRID, train_seed=args.seed)
    evaluation = []
    if args.eval_seeds:
        optimizer = LearnedOptimizer.from_meta_trainer(trainer)
        evaluation = evaluation_records(optimizer, args.task, protocol, output.name, args.data_dir)
    return save_preset(
        trainer,
        output,
        {
            "description": args.description
            or f"L2L coordinatewise LSTM optimizer meta-trained on {TASK_NAMES[args.task]}",
            "kind": "learned_optimizer",
            "paper": PAPER,
            "training": training,
            **(
                {
                    "evaluation_protocol": {
                        **{k: protocol[k] for k in ("steps", "seeds", "tune_seeds")},
                        "lr_grid": list(LR_GRID),
                        "held_out_stream": HELD_OUT_STREAM,
                        "text": PROTOCOL,
                    }
                }
                if evaluation
                else {}
            ),
            "evaluation": evaluation,
        },
        export=False,
        overwrite=args.overwrite,
    )
