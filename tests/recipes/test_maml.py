"""MAMLRecipe: which paper figures a variant is compared with, and its learning-rate schedule."""

import numpy as np
import pytest

from metazoo.recipes.maml import (
    FOMAML_SOURCE,
    PAPER,
    PAPER_FOMAML_OMNIGLOT,
    PAPER_MAML_OMNIGLOT,
    MAMLRecipe,
)


def test_exact_maml_is_compared_with_finn_et_al():
    assert MAMLRecipe().paper_figures() == (PAPER_MAML_OMNIGLOT, PAPER)
    assert MAMLRecipe(shots=5).paper_figures()[0][(5, 5)] == 0.999


def test_fomaml_is_compared_with_the_first_order_figures():
    figures, source = MAMLRecipe(first_order=True).paper_figures()
    assert figures == PAPER_FOMAML_OMNIGLOT and source == FOMAML_SOURCE
    assert figures[(5, 1)] < PAPER_MAML_OMNIGLOT[(5, 1)]


@pytest.mark.parametrize(
    "options",
    [dict(adapt="head"), dict(learn_inner_lr=True), dict(ways=20), dict(protocol="lake")],
)
def test_variants_without_a_published_omniglot_figure_get_none(options):
    assert MAMLRecipe(**options).paper_figures() == (None, None)


def test_the_learning_rate_is_constant_unless_a_final_one_is_given():
    assert MAMLRecipe().learning_rate_schedule() == 1e-3
    assert MAMLRecipe(final_learning_rate=1e-3).learning_rate_schedule() == 1e-3
    assert MAMLRecipe().training_record(None, None)["optimizer"] == "Adam(0.001)"


def test_a_final_learning_rate_is_reached_along_a_cosine_over_the_run():
    recipe = MAMLRecipe(steps=1000, final_learning_rate=1e-4)
    schedule = recipe.learning_rate_schedule()
    rates = [float(schedule(step)) for step in (0, 500, 1000, 2000)]
    # Half-way: the mean of the two rates; after the last step it stays at the final one.
    np.testing.assert_allclose(rates, [1e-3, 5.5e-4, 1e-4, 1e-4], rtol=1e-5)
    record = recipe.training_record(None, None)
    assert record["optimizer"] == "Adam(0.001), cosine decay to 0.0001 over 1000 steps"
    # The schedule is the compiled optimizer's (so saved presets and backups keep it).
    model = recipe.build_model()
    recipe.compile_model(model)
    learning_rate = model.optimizer.get_config()["learning_rate"]
    assert learning_rate["class_name"] == "CosineDecay"
    assert learning_rate["config"]["decay_steps"] == 1000
