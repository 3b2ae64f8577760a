"""Prototypical Networks on Omniglot: the recipe behind `protonet_omniglot`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.algorithms.augmentation import CENTER_INK, KOCH_AFFINE
from metazoo.algorithms.protonet import PrototypicalNetwork
from metazoo.networks.conv4 import Conv4
from metazoo.protocols import (
    PAPER_PROTONET_OMNIGLOT,
    STANDARD_SETTINGS,
    score_built_runs,
    score_settings,
)
from metazoo.recipes.base import setting
from metazoo.recipes.episodic import PerEpisodeRecipe


@dataclasses.dataclass(frozen=True)
class ProtoNetRecipe(PerEpisodeRecipe):
    """Snell et al.'s recipe: a Prototypical Network trained on Omniglot episodes.

    Adam with `learning_rate`, halved every `decay_every` episodes; one
    episode per step. `same_alphabet_fraction` of the episodes take all
    their classes from one alphabet (hard episodes like Lake's
    within-alphabet task). `rotations` makes each training character
    rotated by 0/90/180/270 degrees four classes on the Lake protocol (the
    Vinyals split always has them). `augment` distorts every training image
    with Koch et al.'s random affine transforms (a training choice, not part
    of the architecture: a run may add it to, or drop it from, its
    `init_preset`). `center` puts every image's ink in the middle
    (`CenterInk`, in training and at inference: the preset keeps it).

    Example:
    ```python
    model, training = ProtoNetRecipe(episodes=300, eval_episodes=0).train()
    ```

    References:
        Snell, Swersky & Zemel, "Prototypical Networks for Few-shot
        Learning", NeurIPS 2017.
    """

    name: ClassVar[str] = "protonet"
    paper: ClassVar[str] = (
        "Snell, Swersky & Zemel, Prototypical Networks for Few-shot Learning, NeurIPS 2017"
    )
    model_class: ClassVar[type] = PrototypicalNetwork

    ways: int = setting(60, "classes per training episode", minimum=2)
    shots: int = setting(5, "support examples per class", minimum=1)
    queries: int = setting(5, "query examples per class", minimum=1)
    decay_every: int = setting(2_000, "halve the learning rate every N episodes", minimum=1)
    same_alphabet_fraction: float = setting(
        0.0, "share of training episodes with all classes from one alphabet", minimum=0
    )
    rotations: bool = setting(
        False,
        "Lake protocol: each character rotated by 0/90/180/270 degrees is four training "
        "classes (the Vinyals split always has them)",
    )
    augment: bool = setting(
        False, "distort every training image with Koch et al.'s random affine transforms"
    )
    center: bool = setting(
        False, "move every image's ink to the middle (whole pixels), in training and inference"
    )

    def check(self) -> None:
        if self.rotations and self.protocol != "lake":
            raise ValueError(
                "rotations applies to the Lake protocol (the Vinyals split has its rotated "
                f"classes already). Received: protocol={self.protocol!r}"
            )

    def episode_options(self) -> dict:
        options = {
            **super().episode_options(),
            "same_alphabet_fraction": self.same_alphabet_fraction,
        }
        if self.rotations:  # only when asked: the run identity of earlier backups stays the same
            options["rotations"] = True
        return options

    def _model(self, backbone: keras.Model) -> PrototypicalNetwork:
        return PrototypicalNetwork(
            backbone,
            augmentation="koch" if self.augment else None,
            preprocessing="center" if self.center else None,
        )

    def build_model(self, data_dir=None) -> PrototypicalNetwork:
        size = self.image_size
        return self._model(Conv4(image_shape=(size, size, 1), filters=self.filters))

    def model_from_init_preset(self, start, data_dir=None) -> PrototypicalNetwork:
        # The backbone carries over; augmentation and centring are this run's.
        return self._model(start.backbone)

    def training_record(self, model, history, backup_dir=None) -> dict:
        return {
            **self.episodes_record(),
            "optimizer": f"Adam({self.learning_rate}), halved every {self.decay_every} episodes",
            "backbone": f"Conv4(filters={self.filters})",
            "same_alphabet_fraction": self.same_alphabet_fraction,
            "rotations": bool(self.rotations or self.protocol == "vinyals"),
            "augmentation": KOCH_AFFINE if self.augment else None,
            "preprocessing": CENTER_INK if self.center else None,
        }

    def evaluate(self, model, preset: str, data_dir=None) -> list[dict]:
        if not self.eval_episodes:
            return []
        paper = PAPER_PROTONET_OMNIGLOT if self.protocol == "vinyals" else None
        records = score_settings(
            model, preset, STANDARD_SETTINGS, self.protocol, self.eval_episodes,
            image_size=self.image_size, data_dir=data_dir, paper=paper,
        )  # fmt: skip
        if self.protocol == "lake":
            # Lake's 20-way within-alphabet one-shot task, on runs built from the evaluation set.
            records += score_built_runs(model, preset, data_dir)
        return records

    def describe(self) -> str:
        return (
            f"Prototypical Network, Conv-4, Omniglot {self.image_size}x{self.image_size}, "
            f"trained on the {self.protocol} {self.train_split} split"
            + (" (rotations by 90/180/270 degrees as extra classes)" if self.rotations else "")
            + (", Koch et al.'s affine distortions" if self.augment else "")
            + (", ink centred" if self.center else "")
        )


RECIPE = ProtoNetRecipe
