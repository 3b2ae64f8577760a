"""`metazoo train reptile`: Nichol et al.'s settings, the annealed meta step, resuming mid-run."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from metazoo import cli, presets
from metazoo.algorithms import Reptile
from metazoo.recipes.reptile import PAPER_DIFFERENCES, ReptileRecipe

TINY = ["--filters", "2", "--meta-batch", "2", "--shots", "2", "--inner-steps", "1",
        "--eval-inner-steps", "1", "--steps", "4", "--epoch-steps", "1"]  # fmt: skip


def test_defaults_are_nichol_et_al_omniglot_settings():
    recipe = ReptileRecipe()
    assert cli.recipe_class("reptile") is ReptileRecipe
    # Their 5-way Omniglot table: 10 train shots, 5 inner steps (50 at test),
    # meta-batch 5, meta step 1 annealed linearly to 0, 100k meta-steps.
    paper = dict(ways=5, shots=10, inner_steps=5, eval_inner_steps=50, meta_batch=5, steps=100_000)
    assert {k: getattr(recipe, k) for k in paper} == paper
    schedule = recipe.learning_rate_schedule()
    rates = [float(schedule(step)) for step in (0, 25_000, 50_000, 100_000)]
    np.testing.assert_allclose(rates, [1.0, 0.75, 0.5, 0.0], atol=1e-6)
    # A final step size equal to the first is a constant one (no schedule tied to --steps).
    assert ReptileRecipe(final_learning_rate=1.0).learning_rate_schedule() == 1.0
    record = recipe.training_record(None, None)
    assert record["optimizer"] == "SGD(1.0), linear decay to 0.0 over 100000 steps"
    assert record["differences_from_paper"] == list(PAPER_DIFFERENCES)
    assert (record["shots"], record["queries"], record["episodes"]) == (10, 1, 500_000)


def test_model_and_optimizer_are_the_settings():
    recipe = ReptileRecipe(filters=2, inner_lr=0.2, eval_inner_steps=7, learning_rate=0.5)
    model = recipe.build_model()
    recipe.compile_model(model)
    assert isinstance(model, Reptile) and model.inner_lr == 0.2
    assert (model.inner_steps, model.eval_inner_steps, model.filters) == (5, 7, 2)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)  # step 0 of the schedule
    assert "Reptile" in recipe.describe() and "10-shot" in recipe.describe()


class _Interrupt(keras.callbacks.Callback):
    # Ctrl-C at the start of the third epoch: two epochs are backed up.
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt


@pytest.mark.data
def test_train_reptile_resumes_mid_schedule_and_writes_a_preset(
    data_dir, tmp_path, capsys, monkeypatch
):
    out, whole = tmp_path / "r", tmp_path / "whole"
    common = [*TINY, "--data-dir", str(data_dir)]
    argv = ["train", "reptile", *common, "--eval-episodes", "2", "--output", str(out)]
    # The same run uninterrupted (unscored), for comparison.
    assert cli.main([*argv[:-3], "0", "--output", str(whole)]) == 0
    with monkeypatch.context() as patch:
        patch.setattr(ReptileRecipe, "callbacks", lambda self, backup_dir=None: [_Interrupt()])
        assert cli.main(argv) == 130
    assert not out.exists()
    capsys.readouterr()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Epoch 3/4" in printed and "Epoch 1/4" not in printed
    # Restored weights, optimizer step (so the annealed step size) and data: the same run.
    for resumed, straight in zip(
        presets.load(out).get_weights(), presets.load(whole).get_weights(), strict=True
    ):
        np.testing.assert_allclose(resumed, straight, rtol=1e-5, atol=1e-6)
    meta = json.loads((out / "metadata.json").read_text())
    training = meta["training"]
    assert training["algorithm"] == "reptile" and training["optimizer"].endswith("over 4 steps")
    assert (training["meta_batch"], training["steps"], training["episodes"]) == (2, 4, 8)
    assert [(r["ways"], r["shots"], r["inner_steps"]) for r in meta["evaluation"]] == [
        (5, 1, 1),
        (5, 5, 1),
    ]
    assert [r["paper"] for r in meta["evaluation"]] == [0.9768, 0.9948]
    assert presets.load(out).count_params() == meta["parameters"]
    # The recorded command is this run (less the scoring settings, which are not recorded).
    again = ReptileRecipe.from_args(cli.build_parser().parse_args(training["command"].split()[1:]))
    asked = ReptileRecipe.from_args(cli.build_parser().parse_args(argv))
    assert again == dataclasses.replace(asked, eval_episodes=again.eval_episodes)
    # The annealed step size is tied to --steps: a longer run is another run.
    longer = list(argv)
    longer[longer.index("--steps") + 1] = "6"
    capsys.readouterr()
    assert cli.main([*longer, "--overwrite"]) == 2
    assert "the optimizer (learning rate, schedule" in capsys.readouterr().err
