"""Siamese networks on Omniglot's background set: the recipe behind `siamese_omniglot`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.algorithms.augmentation import CENTER_INK, KOCH_AFFINE
from metazoo.algorithms.siamese import SiameseNetwork
from metazoo.data.omniglot_files import LAKE_IMAGE_SIZES
from metazoo.networks.conv4 import Conv4
from metazoo.pairs import omniglot_pairs
from metazoo.protocols import (
    REFERENCE_ACCURACY,
    score_built_runs,
    score_settings,
    score_verification_records,
)
from metazoo.recipes.base import Recipe, backbone_architecture, setting

KOCH_LAKE_ACCURACY = REFERENCE_ACCURACY["Siamese net (Koch et al. 2015)"]
# Never the evaluation set: it holds the Lake benchmark's characters.
TRAIN_SPLIT = "background"


def build_siamese(
    image_size: int = 28, filters: int = 64, augment: bool = True, center: bool = False
) -> SiameseNetwork:
    """The `siamese_omniglot` architecture: Conv-4 towers, Koch's affine distortions."""
    return SiameseNetwork(
        Conv4(image_shape=(image_size, image_size, 1), filters=filters),
        augmentation="koch" if augment else None,
        preprocessing="center" if center else None,
    )


@dataclasses.dataclass(frozen=True)
class SiameseRecipe(Recipe):
    """Koch et al.'s recipe: a Siamese network trained on balanced pairs of the background set.

    Adam with `learning_rate`, halved every `decay_every` steps; one batch of
    `batch_size` pairs per step. With `init_preset`, training starts from
    that Siamese preset's weights (its architecture: image size, filters,
    augmentation). With `rotations`, each background character rotated by
    0/90/180/270 degrees is four classes (still background characters
    only). `center` puts every image's ink in the middle (`CenterInk`, in
    training and at inference: the preset keeps it); a run may add it to its
    `init_preset`.

    Example:
    ```python
    model, training = SiameseRecipe(steps=600, eval_episodes=0).train()
    ```

    References:
        Koch, Zemel & Salakhutdinov, "Siamese Neural Networks for One-shot
        Image Recognition", ICML Deep Learning Workshop 2015.
    """

    name: ClassVar[str] = "siamese"
    paper: ClassVar[str] = (
        "Koch, Zemel & Salakhutdinov, Siamese Neural Networks for One-shot "
        "Image Recognition, ICML Deep Learning Workshop 2015"
    )
    model_class: ClassVar[type] = SiameseNetwork

    image_size: int = setting(28, "image height and width", choices=list(LAKE_IMAGE_SIZES))
    filters: int = setting(64, "filters of every Conv-4 block", minimum=1)
    batch_size: int = setting(128, "pairs per step (even)", minimum=2)
    steps: int = setting(30_000, "training steps (batches)", minimum=1)
    epoch_steps: int = setting(500, "steps between backups / progress lines", minimum=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate", minimum=0)
    decay_every: int = setting(10_000, "halve the learning rate every N steps", minimum=1)
    same_alphabet_fraction: float = setting(
        0.5, "share of different pairs drawn within one alphabet", minimum=0
    )
    augment: bool = setting(
        True, "1: Koch's random affine distortions in training", type=int, choices=[0, 1]
    )
    eval_episodes: int = setting(
        1000,
        "evaluation episodes per setting for the metadata (0: skip every evaluation)",
        minimum=0,
        recorded=False,
    )
    eval_pairs: int = setting(
        10_000, "verification pairs per record for the metadata (0: none)", minimum=0,
        recorded=False,
    )  # fmt: skip
    rotations: bool = setting(
        False, "each background character rotated by 0/90/180/270 degrees is four classes"
    )
    center: bool = setting(
        False, "move every image's ink to the middle (whole pixels), in training and inference"
    )

    def build_model(self, data_dir=None) -> SiameseNetwork:
        return build_siamese(self.image_size, self.filters, self.augment, self.center)

    def architecture(self, model) -> dict:
        return {
            **backbone_architecture(model, self.filters),
            "augment": model.augmentation is not None,
        }

    def asked_architecture(self) -> dict:
        return {"filters": self.filters, "image_size": self.image_size, "augment": self.augment}

    def model_from_init_preset(self, start, data_dir=None) -> SiameseNetwork:
        model = SiameseNetwork(
            start.backbone,
            augmentation=start.augmentation,
            episode_reduction=start.episode_reduction,
            preprocessing="center" if self.center else None,
        )
        model.head.set_weights(start.head.get_weights())
        return model

    def data_identity(self) -> dict:
        return {
            "split": TRAIN_SPLIT,
            "batch_size": self.batch_size,
            "image_size": self.image_size,
            "seed": self.seed,
            "same_alphabet_fraction": self.same_alphabet_fraction,
            # Only when asked: the run identity of earlier backups stays the same.
            **({"rotations": True} if self.rotations else {}),
        }

    def train_data(self, model: keras.Model, start: int, data_dir=None):
        return omniglot_pairs(
            TRAIN_SPLIT,
            self.batch_size,
            image_size=self.image_size,
            seed=self.seed,
            same_alphabet_fraction=self.same_alphabet_fraction,
            data_dir=data_dir,
            start=start,
            rotations=bool(self.rotations),
        )

    def training_record(self, model, history, backup_dir=None) -> dict:
        size = self.image_size
        return {
            "protocol": "lake",
            "split": TRAIN_SPLIT,
            "image_size": size,
            "tower": f"Conv4(filters={self.filters}) on {size}x{size}, "
            f"{model.backbone.output_shape[-1]}-d embedding (Koch et al. used a larger net on "
            "105x105; this one trains on a CPU)",
            "distance": "sigmoid(w . |f(a) - f(b)| + b)",
            "augmentation": KOCH_AFFINE if self.augment else None,
            "preprocessing": CENTER_INK if self.center else None,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "pairs_seen": self.steps * self.batch_size,
            "same_alphabet_fraction": self.same_alphabet_fraction,
            "rotations": bool(self.rotations),
            "optimizer": f"Adam({self.learning_rate}), halved every {self.decay_every} steps",
            "loss": "binary cross-entropy on balanced same/different pairs",
        }

    def evaluate(self, model, preset: str, data_dir=None) -> list[dict]:
        if not self.eval_episodes:
            return []
        records = score_built_runs(model, preset, data_dir, paper=KOCH_LAKE_ACCURACY)
        records += score_settings(
            model, preset, ((5, 1), (20, 1)), "lake", self.eval_episodes,
            image_size=self.image_size, data_dir=data_dir,
        )  # fmt: skip
        if self.eval_pairs:
            records += score_verification_records(
                model, preset, self.eval_pairs, self.image_size, data_dir
            )
        return records

    def describe(self) -> str:
        return (
            f"Siamese network (Koch et al.), Conv-4 towers, Omniglot {self.image_size}x"
            f"{self.image_size}, trained on the Lake background set"
            + (" (rotations by 90/180/270 degrees as extra classes)" if self.rotations else "")
            + (", ink centred" if self.center else "")
        )


RECIPE = SiameseRecipe
