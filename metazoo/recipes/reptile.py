"""Reptile on Omniglot: the recipe behind `reptile_omniglot_5w1s`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.algorithms.reptile import Reptile
from metazoo.recipes.base import setting
from metazoo.recipes.episodic import MetaBatchRecipe

PAPER = "Nichol, Achiam & Schulman, On First-Order Meta-Learning Algorithms, arXiv:1803.02999, 2018"
# Nichol et al. (2018), Omniglot results, "Reptile + Transduction": our evaluation is
# transductive too (batch norm with the query set's statistics).
PAPER_REPTILE_OMNIGLOT = {(5, 1): 0.9768, (5, 5): 0.9948}
# Where the default recipe departs from Nichol et al.'s 5-way Omniglot settings, and why;
# written into every preset's training record.
PAPER_DIFFERENCES = (
    "inner optimizer: plain SGD of step inner_lr, not Adam (beta1=0, lr 1e-3, moments kept "
    "across tasks in their code): Reptile adapts with the SGD of the inner-loop core it shares "
    "with MAML; inner_lr=0.1 is our choice, the paper has no SGD step size for it",
    "inner batch: every inner step takes the whole support set (10 shots x 5 ways = 50 images), "
    "not mini-batches of 10 drawn without replacement (5 steps = one pass over the 50): "
    "Reptile adapts on the episode's support set as a whole, so an inner step costs about 5x "
    "theirs and sees every example",
    "test: 50 SGD steps on the whole support set (theirs: 50 Adam steps on batches of 5)",
    "evaluation: transductive (the query set's batch statistics, 15 queries per class), so the "
    "paper figure compared is 'Reptile + Transduction'",
    "data: the Vinyals split (its 1,200 training characters x 4 rotations; test classes rotated "
    "too), not their random 1,200 / 423 split with rotations in training only",
    "learner: Finn et al.'s head (mean over the last 2x2 positions, 64 features, no conv bias), "
    "theirs flattens them (256 features)",
)


@dataclasses.dataclass(frozen=True)
class ReptileRecipe(MetaBatchRecipe):
    """Nichol et al.'s recipe: Reptile meta-trained on meta-batches of Omniglot episodes.

    Each step is one meta-batch of `meta_batch` episodes; each episode's
    weights take `inner_steps` SGD steps of size `inner_lr` on its support
    set (`shots` examples per class), and the initialization moves toward
    their mean by the meta step size `learning_rate` (SGD on Reptile's
    surrogate), annealed linearly to `final_learning_rate` over the run.
    Training uses no query loss: the `queries` only feed the accuracy
    metric. At test time the model adapts with `eval_inner_steps` steps.

    The defaults are Nichol et al.'s 5-way Omniglot settings where `Reptile`
    supports them: 10 training shots, 5 inner steps in training and 50 at
    test, meta-batch 5, meta step size 1 annealed linearly to 0, 100,000
    meta-steps. Where ours differs (`PAPER_DIFFERENCES`, also written into
    the training record): the inner optimizer is SGD (theirs Adam with
    beta1=0), every inner step takes the whole support set (theirs
    mini-batches of 10), evaluation is transductive (batch statistics of
    the query set; compared with their "Reptile + Transduction"), the data
    is the Vinyals split. The presets of both shot counts come from one run:
    Nichol et al. train their 1-shot and 5-shot models alike.

    Example:
    ```python
    model, training = ReptileRecipe(steps=300, epoch_steps=100, eval_episodes=0).train()
    ```

    References:
        Nichol, Achiam & Schulman, "On First-Order Meta-Learning
        Algorithms", arXiv:1803.02999, 2018.
    """

    name: ClassVar[str] = "reptile"
    paper: ClassVar[str] = PAPER
    model_class: ClassVar[type] = Reptile
    decay: ClassVar[str] = "linear"

    shots: int = setting(10, "support examples per class in training (the paper's train shots)",
                         minimum=1)  # fmt: skip
    queries: int = setting(1, "query examples per class in training (for the accuracy only)",
                           minimum=1)  # fmt: skip
    learning_rate: float = setting(1.0, "meta step size (the outer SGD's learning rate)", minimum=0)
    final_learning_rate: float = setting(
        0.0, "meta step size at the end, reached linearly (= --learning-rate: constant)", minimum=0
    )
    meta_batch: int = setting(5, "episodes per meta-step", minimum=1)
    steps: int = setting(100_000, "meta-steps in all", minimum=1)
    epoch_steps: int = setting(250, "meta-steps between backups / progress lines", minimum=1)
    inner_steps: int = setting(5, "SGD steps on the support set in training", minimum=1)
    eval_inner_steps: int = setting(50, "SGD steps on the support set at test", minimum=1)
    inner_lr: float = setting(0.1, "step size of the inner SGD steps", minimum=0)

    def compile_model(self, model: Reptile) -> None:
        model.compile(optimizer=keras.optimizers.SGD(self.learning_rate_schedule()))

    def training_record(self, model, history, backup_dir=None) -> dict:
        return {
            **self.inner_loop_record(),
            "optimizer": self.optimizer_record("SGD"),
            "inner_optimizer": "SGD on the whole support set",
            "differences_from_paper": list(PAPER_DIFFERENCES),
            "backend": keras.config.backend(),
        }

    def paper_figures(self) -> tuple[dict | None, str | None]:
        """Nichol et al.'s "Reptile + Transduction" figures (5-way, Vinyals protocol)."""
        if self.protocol == "vinyals" and self.ways == 5:
            return PAPER_REPTILE_OMNIGLOT, PAPER
        return None, None

    def describe(self) -> str:
        return (
            f"Reptile, Finn et al.'s conv learner ({self.filters} filters), Omniglot "
            f"{self.image_size}x{self.image_size}, meta-trained {self.ways}-way on "
            f"{self.shots}-shot episodes of the {self.protocol} {self.train_split} split"
        )


RECIPE = ReptileRecipe
