"""The L2L rollout protocol: learned optimizer vs. tuned baselines on held-out optimizees.

What `PROTOCOL` states: `evaluate_task` runs every optimizer on the same
held-out optimizees and compares final losses, pairwise too;
`L2LRollout` is one record of a preset (`"main"` or one of the paper's
generalization variants).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os

import keras
import numpy as np

from metazoo.algorithms.l2l import LearnedOptimizer, MnistMLP, Quadratic
from metazoo.algorithms.l2l.rollout import Rollout
from metazoo.data.mnist import load_mnist
from metazoo.evaluation import mean_ci95
from metazoo.protocols.base import Protocol, register

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


def generalization_variants(task: str, steps: int = 100) -> dict[str, tuple[dict, int]]:
    """The paper's generalization variants of `task` (Fig. 4): name -> (optimizee changes, steps).

    A variant that runs `factor` times the meta-training horizon `steps` is
    named by its steps (`"200_steps"` for a horizon of 100).
    """
    variants = {}
    for name, (changes, factor) in GENERALIZATION[task].items():
        variants[name if factor == 1 else f"{factor * steps}_steps"] = (changes, factor * steps)
    return variants


def evaluate_generalization(optimizer, task, data_dir=None, curves=False, **protocol) -> dict:
    """`evaluate_task` on each of the paper's generalization variants of `task`.

    The variants (Fig. 4 of the paper) change the optimizee or run twice as
    many steps as meta-training did (`"200_steps"` for a horizon of 100).
    """
    steps = protocol.pop("steps", 100)
    results = {}
    for name, (changes, variant_steps) in generalization_variants(task, steps).items():
        optimizee = make_optimizee(task, data_dir, **changes)
        results[name] = evaluate_task(
            optimizer, optimizee, steps=variant_steps, curves=curves, **protocol
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


def _json_float(value: float, digits: int = 5):
    return round(float(value), digits) if math.isfinite(value) else None


def score_rollout(rollout: Rollout, stream: int, learning_rate: float | None = None) -> dict:
    """Mean and 95% CI of the final losses of one `rollout` run, and its mean curve.

    `final_loss` is `None` when any optimizee diverged (`diverged` counts them);
    `final_losses` lists every optimizee's (in seed order; `None` where it
    diverged), so optimizers run on the same stream can be compared pairwise.
    """
    curve, finals = rollout(stream, learning_rate)
    finite = np.isfinite(finals)
    record = {"final_loss": None, "final_loss_ci95": None, "diverged": int((~finite).sum())}
    record["final_losses"] = [_json_float(v) for v in finals]
    if finite.all():
        mean, ci95 = mean_ci95(finals)
        record.update(final_loss=_json_float(mean), final_loss_ci95=_json_float(ci95))
    record["curve"] = [_json_float(v, 4) for v in curve.mean(axis=1)]
    return record


@register
@dataclasses.dataclass(frozen=True)
class L2LRollout(Protocol):
    """One record of an L2L preset: `evaluate_task` on one variant of its task family.

    Args:
        task: str. `"quadratic"` or `"mnist_mlp"` (`make_optimizee`).
        variant: str. `"main"`, or a generalization variant's name
            (`generalization_variants`).
        changes: tuple of (name, value). The variant's optimizee config changes.
        steps: int. Optimizee steps per run (as for `evaluate_task`).
        seeds: int. Held-out optimizees.
        tune_seeds: int. Meta-training optimizees that tune the baselines.
        train_seed: int. The meta-training seed stream.
        eval_seed: int. Picks the held-out stream.
        lr_grid: tuple of float. Learning rates tried for every baseline.

    Example:
    ```python
    protocol = L2LRollout("quadratic", steps=100, seeds=10)
    protocol.score(LearnedOptimizer.from_preset("l2l_quadratic"))["final_loss"]
    ```
    """

    task: str = "mnist_mlp"
    variant: str = "main"
    changes: tuple = ()
    steps: int = 100
    seeds: int = 10
    tune_seeds: int = 3
    train_seed: int = 0
    eval_seed: int = 0
    lr_grid: tuple = LR_GRID

    @classmethod
    def matches(cls, record: dict) -> bool:
        return "variant" in record

    @classmethod
    def variants(cls, task: str, steps: int = 100, **protocol) -> list[L2LRollout]:
        """The records a preset carries: `"main"`, then the generalization variants."""
        main = cls(task, "main", (), steps, **protocol)
        return [main] + [
            dataclasses.replace(main, variant=name, changes=tuple(changes.items()), steps=n)
            for name, (changes, n) in generalization_variants(task, steps).items()
        ]

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> L2LRollout:
        """The variant `record` states; the preset's `metadata` holds the rest of the protocol."""
        task = record["optimizee"]["name"]
        variants = cls.variants(task, **protocol_from_metadata(metadata or {}))
        for variant in variants:
            if variant.variant == record["variant"]:
                return variant
        raise ValueError(
            f"variant must be one of {[v.variant for v in variants]}. "
            f"Received: variant={record['variant']!r}"
        )

    def score(
        self, model: LearnedOptimizer, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> dict:
        optimizee = make_optimizee(self.task, data_dir, **dict(self.changes))
        result = evaluate_task(
            model, optimizee, steps=self.steps, seeds=self.seeds, tune_seeds=self.tune_seeds,
            train_seed=self.train_seed, eval_seed=self.eval_seed, lr_grid=self.lr_grid,
        )  # fmt: skip
        return _variant_record(self.variant, result)

    def command(self, preset: str) -> str:
        return f"metazoo eval {preset} --json"

    def remeasure(self, model, record: dict, preset: str, data_dir=None) -> dict:
        fresh = {**self.score(model, data_dir), "command": self.command(preset)}
        print(fresh["summary"])
        return fresh


def evaluation_records(optimizer, task, protocol, preset, data_dir=None) -> list[dict]:
    """The metadata's `evaluation`: one record per variant (`"main"` first), printed too."""
    records = [
        {**variant.score(optimizer, data_dir), "command": variant.command(preset)}
        for variant in L2LRollout.variants(task, **protocol)
    ]
    for record in records:
        print(record["summary"])
    return records


def evaluate_preset(optimizer: LearnedOptimizer, metadata: dict, args) -> dict:
    """`metazoo eval` for an L2L preset: learned vs. tuned baselines, then the variants."""
    task = metadata.get("training", {}).get("task", "mnist_mlp")
    protocol = protocol_from_metadata(metadata, args.seed)
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


def _variant_record(variant: str, result: dict) -> dict:
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
    }
