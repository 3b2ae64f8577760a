"""MAML on Omniglot: the recipe behind `maml_omniglot_5w1s`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras

from metazoo.algorithms.maml import ADAPT_CHOICES, MAML
from metazoo.recipes.base import setting
from metazoo.recipes.episodic import MetaBatchRecipe

PAPER = (
    "Finn, Abbeel & Levine, Model-Agnostic Meta-Learning for Fast Adaptation of Deep "
    "Networks, ICML 2017"
)
# Finn et al. (2017), Table 1: Omniglot 5-way, convolutional MAML.
PAPER_MAML_OMNIGLOT = {(5, 1): 0.987, (5, 5): 0.999}
# Nichol, Achiam & Schulman (2018), Table 2 (Omniglot; Table 1 is Mini-ImageNet):
# "1st-order MAML + Transduction", 5-way.
PAPER_FOMAML_OMNIGLOT = {(5, 1): 0.983, (5, 5): 0.992}
FOMAML_SOURCE = (
    "Nichol, Achiam & Schulman, On First-Order Meta-Learning Algorithms, arXiv:1803.02999, "
    "2018, Table 2 (Omniglot, 1st-order MAML + Transduction)"
)
# Finn et al.'s code (cbfinn/maml, main.py) adapts with 10 steps at test on Omniglot; the
# paper's text says 3. The recipe scores both (records with "inner_steps").
FINN_CODE_TEST_STEPS = 10
# Where the recipe's runs depart from Finn et al.'s 5-way Omniglot settings; written into
# every preset's training record.
PAPER_DIFFERENCES = (
    "inner step: inner_lr on the mean support cross-entropy; Finn et al.'s code steps on the "
    "sum over the N x K support examples divided by K, so their 0.4 is inner_lr = 0.4 x ways "
    "here (2.0 for 5 ways): with the default 0.4 the inner step is 1/ways of theirs",
    "test: eval_inner_steps steps (the paper's text: 3) and 15 queries per class (batch "
    "statistics over the 75 queries); Finn et al.'s code adapts with 10 steps and scores 1 "
    "query per class: the records with inner_steps 10 follow their code's step count",
    "data: the Vinyals split (1,200 training characters x 4 rotations, test classes rotated "
    "too) as in Snell et al.; Finn et al. draw their 1,200 training characters at random",
    "batch norm: batch statistics in training and at test, as in Finn et al.'s code; here it "
    "also learns a scale per channel (their tf.contrib batch_norm has an offset only) and the "
    "convolutions have no bias (the offset plays its part)",
)
# What a preset is called by its variant: (first_order, adapt) -> name.
VARIANTS = {(True, "all"): "FOMAML", (False, "head"): "ANIL", (True, "head"): "first-order ANIL"}


@dataclasses.dataclass(frozen=True)
class MAMLRecipe(MetaBatchRecipe):
    """Finn et al.'s recipe: MAML meta-trained on meta-batches of Omniglot episodes.

    Each step is one meta-batch of `meta_batch` episodes (32 in the paper),
    each adapted with `inner_steps` SGD steps of size `inner_lr` on its
    support set; Adam with `learning_rate` (decayed along a cosine to
    `final_learning_rate` when that is set) on the mean query loss. The
    defaults are the paper's 5-way Omniglot settings (1 inner step of 0.4 in
    training, 3 at test, meta-batch 32, 60,000 steps) with the query set of
    Finn et al.'s code: as many examples per class as the support set. The
    inner loss is the mean support cross-entropy; Finn et al.'s code steps
    on the sum over the N x K support examples divided by K, so their 0.4 is
    `inner_lr` 0.4 times `ways` here (2.0 for 5 ways).
    `first_order` drops the second-order term (FOMAML), `learn_inner_lr`
    learns a step size per weight tensor (Meta-SGD), `adapt="head"` adapts
    only the last layer (ANIL).

    Example:
    ```python
    model, training = MAMLRecipe(steps=300, epoch_steps=100, eval_episodes=0).train()
    ```

    References:
        Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
        Adaptation of Deep Networks", ICML 2017.
    """

    name: ClassVar[str] = "maml"
    paper: ClassVar[str] = PAPER
    model_class: ClassVar[type] = MAML
    paper_test_steps: ClassVar[tuple[int, ...]] = (FINN_CODE_TEST_STEPS,)

    # meta_batch, steps, inner_steps, eval_inner_steps, inner_lr: `MetaBatchRecipe`'s
    # defaults are Finn et al.'s.
    queries: int = setting(1, "query examples per class in training", minimum=1)
    adapt: str = setting("all", "weights the inner loop adapts (head: ANIL)", choices=ADAPT_CHOICES)
    first_order: bool = setting(False, "first-order MAML (FOMAML)")
    learn_inner_lr: bool = setting(False, "a learned step size per weight tensor (Meta-SGD)")

    def model_options(self) -> dict:
        return {
            **super().model_options(),
            "first_order": self.first_order,
            "learn_inner_lr": self.learn_inner_lr,
            "adapt": self.adapt,
        }

    def architecture(self, model) -> dict:
        return {**super().architecture(model), "learn_inner_lr": model.learn_inner_lr}

    def asked_architecture(self) -> dict:
        return {**super().asked_architecture(), "learn_inner_lr": self.learn_inner_lr}

    def training_record(self, model, history, backup_dir=None) -> dict:
        return {
            **self.inner_loop_record(),
            "optimizer": self.optimizer_record(),
            "first_order": self.first_order,
            "learn_inner_lr": self.learn_inner_lr,
            "adapt": self.adapt,
            "differences_from_paper": list(PAPER_DIFFERENCES),
            "backend": keras.config.backend(),
        }

    def paper_figures(self) -> tuple[dict | None, str | None]:
        """`({(ways, shots): accuracy}, their source)` for this variant, or `(None, None)`.

        Exact MAML: Finn et al.; FOMAML: the figures Nichol et al. report.
        Other variants (ANIL, the per-tensor Meta-SGD here) have no Omniglot
        figure to compare with; nor does another protocol than Vinyals'.
        """
        published = self.protocol == "vinyals" and self.ways == 5
        if not published or self.learn_inner_lr or self.adapt != "all":
            return None, None
        if self.first_order:
            return PAPER_FOMAML_OMNIGLOT, FOMAML_SOURCE
        return PAPER_MAML_OMNIGLOT, PAPER

    def describe(self) -> str:
        name = VARIANTS.get((self.first_order, self.adapt), "MAML")
        return (
            f"{name}{' with learned step sizes' if self.learn_inner_lr else ''}, "
            f"Finn et al.'s conv learner ({self.filters} filters), Omniglot "
            f"{self.image_size}x{self.image_size}, meta-trained {self.ways}-way {self.shots}-shot "
            f"on the {self.protocol} {self.train_split} split"
        )


RECIPE = MAMLRecipe
