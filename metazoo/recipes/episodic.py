"""What the recipes that train on Omniglot episodes share (ProtoNet, Meta-LSTM, MAML, Reptile)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.episodes import omniglot_episodes
from metazoo.protocols import score_settings
from metazoo.recipes.base import Recipe, backbone_architecture, setting

# The training split of each protocol when `split` is not given.
TRAIN_SPLIT = {"vinyals": "trainval", "lake": "background"}


@dataclasses.dataclass(frozen=True)
class EpisodeRecipe(Recipe):
    """A recipe that trains on seeded Omniglot episodes (one, or `episode_batch`, per step).

    Subclasses redeclare the defaults that differ (ways, shots, ...), add
    their own settings (at least the step counts; see `PerEpisodeRecipe`)
    and implement `build_model`, `training_record` and `evaluate`.
    """

    protocol: str = setting("vinyals", "Omniglot protocol", choices=["vinyals", "lake"])
    split: str | None = setting(None, "training split (default: trainval / background)")
    image_size: int = setting(28, "image height and width", minimum=1)
    ways: int = setting(5, "classes per training episode", minimum=2)
    shots: int = setting(1, "support examples per class", minimum=1)
    queries: int = setting(15, "query examples per class", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate", minimum=0)
    filters: int = setting(64, "filters of every Conv-4 block", minimum=1)
    eval_episodes: int = setting(
        1000, "test episodes per setting for the metadata (0: skip)", minimum=0, recorded=False
    )

    @property
    def train_split(self) -> str:
        """`split`, or the protocol's training split."""
        return self.split or TRAIN_SPLIT[self.protocol]

    def episode_options(self) -> dict:
        """`omniglot_episodes` arguments of the training episodes (without paths)."""
        return {
            "protocol": self.protocol,
            "split": self.train_split,
            "image_size": self.image_size,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "seed": self.seed,
        }

    @property
    def episode_batch(self) -> int | None:
        """Episodes per training step: `None` for one (no episode axis), else a meta-batch."""
        return None

    def data_identity(self) -> dict:
        return self.episode_options()

    def train_data(self, model: keras.Model, start: int, data_dir=None):
        batch = self.episode_batch
        return omniglot_episodes(
            **self.episode_options(),
            batch_size=batch,
            data_dir=data_dir,
            start=start * (batch or 1),  # step `start` begins with this episode
        )

    def architecture(self, model: keras.Model) -> dict:
        return backbone_architecture(model, self.filters)

    def asked_architecture(self) -> dict:
        return {"filters": self.filters, "image_size": self.image_size}

    def episodes_record(self) -> dict:
        """The training episodes' part of the `training` record."""
        options = self.episode_options()
        keys = ("protocol", "split", "image_size", "ways", "shots", "queries")
        episodes = self.total_steps * (self.episode_batch or 1)
        return {**{key: options[key] for key in keys}, "episodes": episodes}


@dataclasses.dataclass(frozen=True)
class PerEpisodeRecipe(EpisodeRecipe):
    """An `EpisodeRecipe` with one episode per training step (ProtoNet, Meta-LSTM)."""

    steps_setting: ClassVar[str] = "episodes"
    epoch_setting: ClassVar[str] = "epoch_episodes"

    episodes: int = setting(20_000, "training episodes (one per step)", minimum=1)
    epoch_episodes: int = setting(500, "episodes between backups / progress lines", minimum=1)


# The learner of MAML and Reptile (`metazoo.algorithms.learners.ConvLearner`), in words.
CONV_LEARNER = "4 x [3x3 conv {filters}, stride 2, batch norm, ReLU], mean, linear"


@dataclasses.dataclass(frozen=True)
class MetaBatchRecipe(EpisodeRecipe):
    """An `EpisodeRecipe` of a learner that adapts by inner SGD steps (MAML, Reptile).

    Each training step is one meta-batch of `meta_batch` episodes; the
    model (`ways`, `inner_steps`, `eval_inner_steps`, `inner_lr`, `filters`)
    comes from `model_class`. Subclasses redeclare the defaults (their
    papers' settings) and add the training record's own items.
    `paper_figures` gives the published figures a preset is compared with;
    where there are some, `evaluate` also scores with each of
    `paper_test_steps` (the test steps of the paper's code).

    The meta-optimizer's learning rate goes from `learning_rate` to
    `final_learning_rate` over the run's `steps` along `decay` ("cosine":
    Keras `CosineDecay`, as MAML++ anneals it; "linear": `PolynomialDecay`
    of power 1, as Reptile does); `None`, or the same rate, keeps it
    constant. A run that continues `init_preset` starts its schedule anew.
    """

    paper_test_steps: ClassVar[tuple[int, ...]] = ()
    # How the learning rate reaches `final_learning_rate`: "cosine" or "linear".
    decay: ClassVar[str] = "cosine"

    meta_batch: int = setting(32, "episodes per meta-step", minimum=1)
    steps: int = setting(60_000, "meta-steps in all", minimum=1)
    epoch_steps: int = setting(250, "meta-steps between backups / progress lines", minimum=1)
    inner_steps: int = setting(1, "SGD steps on the support set in training", minimum=1)
    eval_inner_steps: int = setting(3, "SGD steps on the support set at test", minimum=1)
    inner_lr: float = setting(0.4, "step size of the inner SGD steps", minimum=0)
    final_learning_rate: float | None = setting(
        None, "learning rate at the last step, reached by cosine decay (default: constant)",
        minimum=0,
    )  # fmt: skip

    @property
    def decays(self) -> bool:
        """Whether the learning rate changes over the run (`final_learning_rate`)."""
        final = self.final_learning_rate
        return final is not None and final != self.learning_rate

    def learning_rate_schedule(self):
        """`learning_rate`, or its decay to `final_learning_rate` over `steps` (see `decay`)."""
        if not self.decays:
            return self.learning_rate
        if self.decay == "linear":
            return keras.optimizers.schedules.PolynomialDecay(
                self.learning_rate, self.steps, end_learning_rate=self.final_learning_rate
            )
        # CosineDecay's floor is a fraction of the first rate.
        floor = self.final_learning_rate / self.learning_rate if self.learning_rate else 0.0
        return keras.optimizers.schedules.CosineDecay(self.learning_rate, self.steps, alpha=floor)

    def optimizer_record(self, optimizer: str = "Adam") -> str:
        """The meta-optimizer and its learning rate, in words (the training record's)."""
        if not self.decays:
            return f"{optimizer}({self.learning_rate})"
        return (
            f"{optimizer}({self.learning_rate}), {self.decay} decay to "
            f"{self.final_learning_rate} over {self.steps} steps"
        )

    @property
    def episode_batch(self) -> int:
        return self.meta_batch

    def data_identity(self) -> dict:
        return {**self.episode_options(), "meta_batch": self.meta_batch}

    def model_options(self) -> dict:
        """The `model_class` arguments of this recipe."""
        return {
            "ways": self.ways,
            "inner_steps": self.inner_steps,
            "eval_inner_steps": self.eval_inner_steps,
            "inner_lr": self.inner_lr,
            "filters": self.filters,
            "image_shape": (self.image_size, self.image_size, 1),
        }

    def build_model(self, data_dir=None) -> keras.Model:
        return self.model_class(**self.model_options())

    def architecture(self, model) -> dict:
        return {"ways": model.ways, "filters": model.filters, "image_size": model.image_shape[0]}

    def asked_architecture(self) -> dict:
        return {"ways": self.ways, "filters": self.filters, "image_size": self.image_size}

    def model_from_init_preset(self, start, data_dir=None) -> keras.Model:
        # The learned initialization (and step sizes) carry over; the inner loop is this run's.
        model = self.build_model(data_dir)
        model.set_weights(start.get_weights())
        return model

    def inner_loop_record(self) -> dict:
        """The training record's items every such recipe has, before its own."""
        return {
            **self.episodes_record(),
            "meta_batch": self.meta_batch,
            "steps": self.steps,
            "inner_steps": self.inner_steps,
            "eval_inner_steps": self.eval_inner_steps,
            "inner_lr": self.inner_lr,
            "learner": CONV_LEARNER.format(filters=self.filters),
        }

    def paper_figures(self) -> tuple[dict | None, str | None]:
        """`({(ways, shots): accuracy}, their source)` to compare with, or `(None, None)`."""
        return None, None

    def evaluate(self, model, preset: str, data_dir=None) -> list[dict]:
        """`ways`-way 1-shot and 5-shot records with the model's test steps.

        Where there are paper figures, both again with each of
        `paper_test_steps` that differs from the model's own.
        """
        settings = [(self.ways, 1), (self.ways, 5)] if self.eval_episodes else []
        paper, source = self.paper_figures()
        test_steps = model.eval_inner_steps or model.inner_steps
        step_counts = [test_steps]
        if paper is not None:
            step_counts += [s for s in self.paper_test_steps if s != test_steps]
        records = []
        for steps in step_counts:
            records += score_settings(
                model, preset, settings, self.protocol, self.eval_episodes,
                image_size=self.image_size, data_dir=data_dir, paper=paper,
                extra={} if paper is None else {"paper_source": source}, inner_steps=steps,
            )  # fmt: skip
        return records
