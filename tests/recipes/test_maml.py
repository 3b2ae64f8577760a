"""MAMLRecipe: which paper's figures a variant's preset is compared with."""

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
