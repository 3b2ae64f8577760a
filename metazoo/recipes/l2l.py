"""L2L (Andrychowicz et al., 2016): the recipe behind `l2l_quadratic` and `l2l_mnist_mlp`.

The evaluation protocol is `metazoo.protocols.l2l.PROTOCOL`.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import ClassVar

import keras

from metazoo.algorithms.l2l import L2LMetaTrainer, LearnedOptimizer, meta_training_data
from metazoo.algorithms.l2l.update_rule import UpdateRuleConfig
from metazoo.presets import load
from metazoo.protocols.l2l import (
    HELD_OUT_STREAM,
    LR_GRID,
    PROTOCOL,
    TASK_NAMES,
    TASKS,
    evaluation_records,
    make_optimizee,
)
from metazoo.recipes.base import Recipe, setting

PAPER = (
    "Andrychowicz et al., Learning to learn by gradient descent by gradient descent, NeurIPS 2016"
)
# The per-epoch meta-losses of a run (every session of a resumed one), in its backup folder.
LOSS_LOG = "meta_losses.csv"


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
        trainer.set_meta_params(start.get_meta_params())
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
