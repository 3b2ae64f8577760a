"""What the recipes that train on Omniglot episodes share (ProtoNet, Meta-LSTM, MAML)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.episodes import omniglot_episodes
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
