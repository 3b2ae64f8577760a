"""L2L (Andrychowicz et al., 2016): the recipe behind `l2l_quadratic` and `l2l_mnist_mlp`.

The evaluation protocol is `PROTOCOL` (what `evaluate_task` does).
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import os
from pathlib import Path

import keras
import numpy as np

from metazoo.algorithms.l2l import (
    L2LMetaTrainer,
    LearnedOptimizer,
    MnistMLP,
    Quadratic,
    meta_training_data,
)
from metazoo.algorithms.l2l.rollout import Rollout, score_rollout
from metazoo.data.mnist import load_mnist
from metazoo.evaluation import mean_ci95
from metazoo.presets import load, save_preset
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
TASKS = ("quadratic", "mnist_mlp")
PROTOCOL = (
    "Every optimizer runs `steps` steps on optimizees it never saw (held-out seed stream; "
    "MNIST optimizees train on minibatches of the test images); final_loss is the "
    "optimizee's loss after the last step on the whole split (all 10,000 test images for "
    "MNIST), mean and 95% CI over the held-out seeds. Adam, RMSprop, SGD and NAG (SGD, "
    "Nesterov momentum 0.9) each use the learning rate of the grid with the lowest mean "
    "final loss on `tune_seeds` meta-training optimizees (training images). Every optimizer "
    "runs on the same held-out optimizees: learned_minus_baseline is the mean and 95% CI of "
    "the per-optimizee difference of final losses (negative: the learned optimizer is lower)."
)
# Evaluation optimizees come from this seed stream; meta-training seeds stay below it.
HELD_OUT_STREAM = 1_000_000
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
BASELINES = {
    "adam": lambda lr: keras.optimizers.Adam(lr),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
    "sgd": lambda lr: keras.optimizers.SGD(lr),
    "nag": lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
}
# The paper's generalization tests (Fig. 4): name -> (optimizee changes, steps / horizon).
GENERALIZATION = {
    "quadratic": {"2x_steps": ({}, 2)},
    "mnist_mlp": {
        "40_units": ({"hidden_sizes": (40,)}, 1),
        "2_layers": ({"hidden_sizes": (20, 20)}, 1),
        "relu": ({"activation": "relu"}, 1),
        "2x_steps": ({}, 2),
    },
}
TASK_NAMES = {
    "quadratic": "batches of 128 random 10-d quadratics ‖Wθ − y‖²",
    "mnist_mlp": "MNIST MLP 784-20-10 sigmoid, batch 128",
}


def make_optimizee(task: str, data_dir=None, **changes):
    """The task family `task` (`"quadratic"` or `"mnist_mlp"`), with config changes."""
    if task == "quadratic":
        return Quadratic(**changes)
    if task == "mnist_mlp":
        return MnistMLP(data=functools.partial(load_mnist, data_dir=data_dir), **changes)
    raise ValueError(f"task must be one of {TASKS}. Received: task={task!r}")


def evaluate_task(
    optimizer: LearnedOptimizer,
    optimizee,
    steps: int = 100,
    seeds: int = 10,
    tune_seeds: int = 3,
    train_seed: int = 0,
    eval_seed: int = 0,
    lr_grid=LR_GRID,
    curves: bool = False,
) -> dict:
    """Final loss of the learned optimizer and of the tuned baselines on held-out optimizees.

    Args:
        optimizer: LearnedOptimizer. The rule to score (fresh state per run).
        optimizee: Optimizee. The task family.
        steps: int. Optimizee steps per run.
        seeds: int. Held-out optimizees (seed stream `HELD_OUT_STREAM + eval_seed`),
            trained on the `"test"` split.
        tune_seeds: int. Meta-training optimizees (stream `train_seed`,
            `"train"` split) that pick each baseline's learning rate.
        train_seed: int. The meta-training seed stream.
        eval_seed: int. Picks the held-out stream.
        lr_grid: tuple of float. Learning rates tried for every baseline.
        curves: bool. Keep the mean per-step minibatch loss curves.
    """
    stream = HELD_OUT_STREAM + eval_seed
    learned = score_rollout(Rollout(optimizee, optimizer, steps, "test", seeds), stream)
    baselines = {}
    for name, make in BASELINES.items():
        tune = Rollout(optimizee, make(lr_grid[0]), steps, "train", tune_seeds)
        tuned = {}
        for lr in lr_grid:
            finals = tune(train_seed, lr)[1]
            tuned[lr] = float(finals.mean()) if np.isfinite(finals).all() else math.inf
        best = min(tuned, key=tuned.get)
        record = score_rollout(Rollout(optimizee, make(best), steps, "test", seeds), stream, best)
        record["learning_rate"] = best
        record["learning_rate_at_grid_edge"] = best in (lr_grid[0], lr_grid[-1])
        baselines[name] = record
    result = {
        "optimizee": optimizee.get_config(),
        "steps": steps,
        "seeds": seeds,
        "split": "test",
        **learned,
        "baselines": baselines,
    }
    finals = [b["final_loss"] for b in baselines.values() if b["final_loss"] is not None]
    if learned["final_loss"] is not None and finals:
        result["beats_every_baseline"] = bool(learned["final_loss"] < min(finals))
    # Same optimizees for every optimizer: the paired differences separate
    # two optimizers that the intervals of their means do not.
    for record in baselines.values():
        if learned["final_loss"] is not None and record["final_loss"] is not None:
            difference = np.subtract(learned["final_losses"], record["final_losses"])
            mean, ci95 = mean_ci95(difference)
            record["learned_minus_baseline"] = round(float(mean), 5)
            record["learned_minus_baseline_ci95"] = round(float(ci95), 5)
    if all("learned_minus_baseline" in b for b in baselines.values()):
        result["beats_every_baseline_paired"] = all(
            b["learned_minus_baseline"] + b["learned_minus_baseline_ci95"] < 0
            for b in baselines.values()
        )
    if not curves:
        result.pop("curve")
        for record in baselines.values():
            record.pop("curve")
    return result


def evaluate_generalization(optimizer, task, data_dir=None, curves=False, **protocol) -> dict:
    """`evaluate_task` on each of the paper's generalization variants of `task`.

    The variants (Fig. 4 of the paper) change the optimizee or run twice as
    many steps as meta-training did (`"200_steps"` for a horizon of 100).
    """
    steps = protocol.pop("steps", 100)
    results = {}
    for name, (changes, factor) in GENERALIZATION[task].items():
        if factor != 1:
            name = f"{factor * steps}_steps"
        optimizee = make_optimizee(task, data_dir, **changes)
        results[name] = evaluate_task(
            optimizer, optimizee, steps=factor * steps, curves=curves, **protocol
        )
    return results


def protocol_from_metadata(metadata: dict, eval_seed: int = 0) -> dict:
    """`evaluate_task` arguments that reproduce a preset's recorded evaluation."""
    recorded = metadata.get("evaluation_protocol", {})
    return {
        "steps": recorded.get("steps", 100),
        "seeds": recorded.get("seeds", 10),
        "tune_seeds": recorded.get("tune_seeds", 3),
        "lr_grid": tuple(recorded.get("lr_grid", LR_GRID)),
        "train_seed": metadata.get("training", {}).get("seed", 0),
        "eval_seed": eval_seed,
    }


def evaluate_preset(path, metadata: dict, args) -> dict:
    """`metazoo eval` for an L2L preset: learned vs. tuned baselines, then the variants."""
    task = metadata.get("training", {}).get("task", "mnist_mlp")
    protocol = protocol_from_metadata(metadata, args.seed)
    optimizer = LearnedOptimizer.from_preset(path)
    main = evaluate_task(optimizer, make_optimizee(task, args.data_dir), **protocol)
    return {
        "task": TASK_NAMES.get(task, task),
        "steps": main["steps"],
        "seeds": main["seeds"],
        "final_loss": main["final_loss"],
        "final_loss_ci95": main["final_loss_ci95"],
        "baselines": main["baselines"],
        "beats_every_baseline": main.get("beats_every_baseline"),
        "beats_every_baseline_paired": main.get("beats_every_baseline_paired"),
        "protocol": PROTOCOL,
        "generalization": evaluate_generalization(optimizer, task, args.data_dir, **protocol),
    }


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


def evaluation_records(optimizer, task, protocol, preset, data_dir=None) -> list[dict]:
    """The metadata's `evaluation`: one record per variant (`"main"` first), printed too."""
    variants = {
        "main": evaluate_task(optimizer, make_optimizee(task, data_dir), **protocol),
        **evaluate_generalization(optimizer, task, data_dir, **protocol),
    }
    records = [_evaluation_record(name, result, preset) for name, result in variants.items()]
    for record in records:
        print(record["summary"])
    return records


def remeasure(path, metadata: dict, data_dir=None) -> list[dict]:
    """`benchmarks/presets.py`: measures a preset's recorded evaluation again."""
    optimizer = LearnedOptimizer.from_preset(path)
    task = metadata["training"]["task"]
    protocol = protocol_from_metadata(metadata)
    return evaluation_records(optimizer, task, protocol, Path(path).name, data_dir)


def _evaluation_record(variant: str, result: dict, preset: str) -> dict:
    scored = {k: b["final_loss"] for k, b in result["baselines"].items() if b["final_loss"]}
    best = min(scored, key=scored.get) if scored else None
    summary = (
        f"{variant}: L2L {result['final_loss']} ± {result['final_loss_ci95']}, "
        f"best tuned baseline {best} {scored.get(best)}"
    )
    if best is not None and "learned_minus_baseline" in result["baselines"][best]:
        record = result["baselines"][best]
        summary += (
            f" (paired difference {record['learned_minus_baseline']:+.5f} ± "
            f"{record['learned_minus_baseline_ci95']})"
        )
    optimizee = result["optimizee"]
    described = ", ".join(f"{k}={v}" for k, v in optimizee.items() if k != "name")
    final = "final loss on all test images" if optimizee["name"] == "mnist_mlp" else "final loss"
    return {
        "variant": variant,
        "protocol": f"{optimizee['name']}({described}), {result['steps']} steps, "
        f"{result['seeds']} held-out optimizees, {final}",
        **result,
        "summary": summary,
        "command": f"metazoo eval {preset} --json",
    }
