"""L2L (Andrychowicz et al., 2016): the recipe behind `l2l_quadratic` and `l2l_mnist_mlp`.

The evaluation protocol is `PROTOCOL` (what `evaluate_task` does).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import ClassVar

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
from metazoo.algorithms.l2l.update_rule import UpdateRuleConfig
from metazoo.evaluation import mean_ci95
from metazoo.presets import load
from metazoo.recipes.base import Recipe, setting

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
# The per-epoch meta-losses of a run (every session of a resumed one), in its backup folder.
LOSS_LOG = "meta_losses.csv"
TASK_NAMES = {
    "quadratic": "batches of 128 random 10-d quadratics ‖Wθ − y‖²",
    "mnist_mlp": "MNIST MLP 784-20-10 sigmoid, batch 128",
}


def make_optimizee(task: str, data_dir=None, **changes):
    """The task family `task` (`"quadratic"` or `"mnist_mlp"`), with config changes."""
    if task == "quadratic":
        return Quadratic(**changes)
    if task == "mnist_mlp":
        return MnistMLP(data_dir=data_dir, **changes)
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


@dataclasses.dataclass(frozen=True)
class L2LRecipe(Recipe):
    """Andrychowicz et al.'s recipe: the coordinatewise LSTM update rule, meta-trained.

    Adam(`learning_rate`) on the meta-parameters, halved every
    `decay_every` meta-steps (0: constant); each meta-step unrolls `unroll`
    optimizee steps, each optimizee runs `horizon` steps. With
    `init_preset`, the meta-parameters start from that L2L preset's (whose
    update rule must have the same shape), e.g. to continue a run at a
    lower learning rate. Backups are taken every `epoch_steps` meta-steps,
    which must be whole optimizees (`horizon // unroll` meta-steps each) so
    a resumed run starts on a fresh optimizee.

    Example:
    ```python
    trainer, training = L2LRecipe(task="quadratic", meta_steps=100, eval_seeds=0).train()
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016.
    """

    name: ClassVar[str] = "l2l"
    kind: ClassVar[str] = "learned_optimizer"
    paper: ClassVar[str] = PAPER
    model_class: ClassVar[type] = L2LMetaTrainer
    export: ClassVar[bool] = False
    steps_setting: ClassVar[str] = "meta_steps"

    task: str = setting("mnist_mlp", "optimizee family", choices=list(TASKS))
    meta_steps: int = setting(2000, "meta-steps (unrolls)", minimum=1)
    epoch_steps: int = setting(50, "meta-steps between backups / progress lines", minimum=1)
    unroll: int = setting(20, "optimizee steps per meta-step", minimum=1)
    horizon: int = setting(100, "optimizee steps per optimizee", minimum=1)
    learning_rate: float = setting(1e-3, "meta-optimizer (Adam)", minimum=0)
    decay_every: int = setting(0, "halve the learning rate every N meta-steps", minimum=0)
    hidden_units: int = setting(20, "units of each LSTM layer of the update rule", minimum=1)
    num_layers: int = setting(2, "LSTM layers of the update rule", minimum=1)
    preprocess: str = setting("log_sign", "gradient preprocessing", choices=["log_sign", "none"])
    p: float = setting(10.0, "p of the log/sign preprocessing", minimum=0)
    output_scale: float = setting(0.1, "scale of the update rule's output", minimum=0)
    eval_seeds: int = setting(10, "held-out optimizees to score (0: skip)", minimum=0)
    tune_seeds: int = setting(3, "optimizees to tune baselines", minimum=1)

    def check(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}. Received: task={self.task!r}")
        if not self.seed < HELD_OUT_STREAM:
            raise ValueError(f"seed must be in [0, {HELD_OUT_STREAM}). Received: seed={self.seed}")
        unrolls = self.horizon // self.unroll
        if unrolls < 1 or self.epoch_steps % unrolls:
            raise ValueError(
                f"epoch_steps must be a multiple of horizon // unroll = {unrolls}. "
                f"Received: epoch_steps={self.epoch_steps}, horizon={self.horizon}, "
                f"unroll={self.unroll}"
            )

    def rule(self) -> dict:
        """The update rule's shape and preprocessing (`UpdateRuleConfig` arguments)."""
        return {
            "hidden_units": self.hidden_units,
            "num_layers": self.num_layers,
            "preprocess": self.preprocess,
            "p": self.p,
            "output_scale": self.output_scale,
        }

    def build_model(self, data_dir=None) -> L2LMetaTrainer:
        optimizee = make_optimizee(self.task, data_dir)
        return L2LMetaTrainer(
            optimizee, self.unroll, self.horizon, init_seed=self.seed, **self.rule()
        )

    def load_init_preset(self) -> L2LMetaTrainer:
        start = load(self.init_preset, compile=False)
        config = UpdateRuleConfig(**self.rule())
        if not isinstance(start, L2LMetaTrainer) or start.rule_config != config:
            got = getattr(start, "rule_config", type(start).__name__)
            raise ValueError(
                f"init_preset must be an L2L preset with the update rule {config}. Received: {got}"
            )
        return start

    def model_from_init_preset(self, start, data_dir=None) -> L2LMetaTrainer:
        trainer = self.build_model(data_dir)
        for name, value in start.get_meta_params().items():
            trainer.meta_params[name].assign(value)
        return trainer

    def data_identity(self) -> dict:
        return {
            "task": self.task,
            "seed": self.seed,
            "unroll": self.unroll,
            "horizon": self.horizon,
        }

    def train_data(self, model: keras.Model, start: int, data_dir=None):
        return meta_training_data(
            model.optimizee, self.unroll, self.horizon, self.seed, "train", start
        )

    def callbacks(self, backup_dir=None) -> list:
        if backup_dir is None:
            return []
        # Keeps the per-epoch meta-losses of every session of a resumed run.
        Path(backup_dir).mkdir(parents=True, exist_ok=True)
        return [keras.callbacks.CSVLogger(str(Path(backup_dir) / LOSS_LOG), append=True)]

    def history_record(self, history) -> dict:
        return {}

    def training_record(self, model, history, backup_dir=None) -> dict:
        losses = history.history
        log = Path(backup_dir) / LOSS_LOG if backup_dir is not None else None
        if log is not None and log.is_file():
            with open(log, newline="") as f:
                # The last row of an epoch wins: one re-run after an interruption.
                rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
            losses = {
                key: [float(rows[e][key]) for e in sorted(rows)] for key in ("loss", "final_loss")
            }
        meta_steps = -(-self.meta_steps // self.epoch_steps) * self.epoch_steps
        decay = f", halved every {self.decay_every} meta-steps" if self.decay_every else ""
        return {
            "task": self.task,
            "optimizee": model.optimizee.get_config(),
            "split": "train" if self.task == "mnist_mlp" else None,
            "unroll": self.unroll,
            "horizon": self.horizon,
            "meta_steps": meta_steps,
            "optimizees_seen": meta_steps // (self.horizon // self.unroll),
            "meta_optimizer": f"Adam({self.learning_rate}){decay}",
            "update_rule": model.rule_config.as_dict(),
            "meta_loss_per_epoch": [round(v, 5) for v in losses.get("loss", [])],
            "final_loss_per_epoch": [round(v, 5) for v in losses.get("final_loss", [])],
        }

    def evaluation_protocol(self) -> dict:
        """`evaluate_task` arguments of the metadata's evaluation."""
        return {
            "steps": self.horizon,
            "seeds": self.eval_seeds,
            "tune_seeds": self.tune_seeds,
            "lr_grid": LR_GRID,
            "train_seed": self.seed,
        }

    def evaluate(self, model, preset: str, data_dir=None) -> list[dict]:
        if not self.eval_seeds:
            return []
        optimizer = LearnedOptimizer.from_meta_trainer(model)
        return evaluation_records(
            optimizer, self.task, self.evaluation_protocol(), preset, data_dir
        )

    def metadata_extra(self, evaluation: list[dict]) -> dict:
        if not evaluation:
            return {}
        protocol = self.evaluation_protocol()
        return {
            "evaluation_protocol": {
                **{k: protocol[k] for k in ("steps", "seeds", "tune_seeds")},
                "lr_grid": list(LR_GRID),
                "held_out_stream": HELD_OUT_STREAM,
                "text": PROTOCOL,
            }
        }

    def describe(self) -> str:
        return f"L2L coordinatewise LSTM optimizer meta-trained on {TASK_NAMES[self.task]}"


RECIPE = L2LRecipe


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
