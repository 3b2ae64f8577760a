"""The LSTM meta-learner on Omniglot: the recipe behind `meta_lstm_omniglot_5w1s` / `_5w5s`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.algorithms.meta_lstm import MetaLSTM
from metazoo.networks.conv4 import Conv4
from metazoo.protocols import score_settings
from metazoo.recipes.base import backbone_architecture, setting
from metazoo.recipes.episodic import PerEpisodeRecipe

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


@dataclasses.dataclass(frozen=True)
class MetaLSTMRecipe(PerEpisodeRecipe):
    """Ravi & Larochelle's recipe: the LSTM meta-learner meta-trained on Omniglot episodes.

    One episode per meta-update; Adam with `learning_rate` (halved every
    `decay_every` episodes if given), the meta-gradient's global norm
    clipped to `clipnorm`; second derivatives of the learner's gradient
    dropped unless `second_order`. With `init_preset`, the meta-learner and
    the learner's initialization start from that preset (e.g. 5-shot
    training after 1-shot training); the inner-loop settings are this
    run's. `xla` compiles the training step with XLA
    (`benchmarks/meta_lstm_step_cost.py` times both).

    Example:
    ```python
    model, training = MetaLSTMRecipe(episodes=300, eval_episodes=0).train()
    ```

    References:
        Ravi & Larochelle, "Optimization as a Model for Few-Shot Learning",
        ICLR 2017.
    """

    name: ClassVar[str] = "meta_lstm"
    paper: ClassVar[str] = PAPER
    model_class: ClassVar[type] = MetaLSTM

    inner_steps: int | None = setting(
        None, "learner updates per episode (default: 12 for 1-shot, 8 otherwise)", minimum=1
    )
    inner_batch_size: int | None = setting(
        None, "support examples per update (default: the whole support set)", minimum=1
    )
    episodes: int = setting(50_000, "training episodes (one per step)", minimum=1)
    decay_every: int | None = setting(
        None, "halve the learning rate every N episodes (default: constant)", minimum=1
    )
    clipnorm: float = setting(0.25, "global norm clip of the meta-gradient", minimum=0)
    filters: int = setting(32, "filters of every Conv-4 block", minimum=1)
    hidden_units: int = setting(20, "units of the meta-learner's first LSTM", minimum=0)
    second_order: bool = setting(
        False, "also back-propagate through the learner's gradients (the paper does not)"
    )
    xla: bool = setting(False, "compile the training step with XLA (jit_compile)")

    @property
    def learner_steps(self) -> int:
        """`inner_steps`, or the paper's count for `shots`."""
        return self.inner_steps or paper_inner_steps(self.shots)

    def build_model(self, data_dir=None) -> MetaLSTM:
        size = self.image_size
        return MetaLSTM(
            Conv4(image_shape=(size, size, 1), filters=self.filters),
            ways=self.ways,
            inner_steps=self.learner_steps,
            inner_batch_size=self.inner_batch_size,
            hidden_units=self.hidden_units,
            second_order=self.second_order,
        )

    def architecture(self, model) -> dict:
        return {
            "ways": model.ways,
            **backbone_architecture(model, self.filters),
            "hidden_units": model.cell.hidden_units,
        }

    def asked_architecture(self) -> dict:
        return {
            "ways": self.ways,
            **super().asked_architecture(),
            "hidden_units": self.hidden_units,
        }

    def model_from_init_preset(self, start, data_dir=None) -> MetaLSTM:
        # The meta-learner and c_0 carry over; the inner loop takes this run's settings.
        start.inner_steps = self.learner_steps
        start.inner_batch_size = self.inner_batch_size
        start.second_order = self.second_order
        return start

    def compile_model(self, model) -> None:
        model.compile(
            optimizer=keras.optimizers.Adam(
                self.learning_rate_schedule(), global_clipnorm=self.clipnorm
            ),
            jit_compile=True if self.xla else "auto",
        )

    def training_record(self, model, history, backup_dir=None) -> dict:
        decay = f", halved every {self.decay_every} episodes" if self.decay_every else ""
        return {
            **self.episodes_record(),
            "inner_steps": self.learner_steps,
            "inner_batch_size": self.inner_batch_size or self.ways * self.shots,
            "optimizer": f"Adam({self.learning_rate}){decay}, global_clipnorm={self.clipnorm}, "
            "one episode per step",
            "learner": f"Conv4(filters={self.filters}) + Dense({self.ways}), batch statistics only",
            "meta_learner": f"LSTM({self.hidden_units}) + MetaLSTMCell, p=10",
            "second_order": self.second_order,
        }

    def evaluate(self, model, preset: str, data_dir=None) -> list[dict]:
        settings = [s for s in EVAL_SETTINGS if s[0] == self.ways] if self.eval_episodes else []
        return score_settings(
            model, preset, settings, self.protocol, self.eval_episodes,
            image_size=self.image_size, data_dir=data_dir,
            inner_steps=model.inner_steps,
        )  # fmt: skip

    def describe(self) -> str:
        return (
            f"LSTM meta-learner (Ravi & Larochelle) training a Conv-4 ({self.filters} filters) "
            f"learner in {self.learner_steps} steps, Omniglot {self.image_size}x{self.image_size}, "
            f"meta-trained {self.ways}-way {self.shots}-shot on the {self.protocol} "
            f"{self.train_split} split"
        )


RECIPE = MetaLSTMRecipe
