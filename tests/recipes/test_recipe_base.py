"""The declarative recipes: options, validation and commands come from the dataclass fields."""

import argparse
import dataclasses

import pytest

from metazoo import cli
from metazoo.recipes.base import Recipe
from metazoo.recipes.l2l import L2LRecipe
from metazoo.recipes.maml import MAMLRecipe
from metazoo.recipes.meta_lstm import MetaLSTMRecipe
from metazoo.recipes.protonet import ProtoNetRecipe
from metazoo.recipes.reptile import ReptileRecipe
from metazoo.recipes.siamese import SiameseRecipe

RECIPES = [ProtoNetRecipe, SiameseRecipe, MetaLSTMRecipe, L2LRecipe, MAMLRecipe, ReptileRecipe]


def parse(recipe: type[Recipe], argv: list[str]) -> argparse.Namespace:
    return cli.build_parser().parse_args(["train", recipe.name, *argv])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_every_setting_is_an_option_with_its_default(recipe):
    args = parse(recipe, ["--output", "out"])
    assert recipe.from_args(args) == recipe()
    for field in dataclasses.fields(recipe):
        assert field.metadata["help"], f"{recipe.name}.{field.name} has no help text"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_the_recorded_command_parses_back_to_the_same_recipe(recipe):
    changed = {
        ProtoNetRecipe: dict(protocol="lake", ways=20, rotations=True, augment=True, seed=3),
        SiameseRecipe: dict(augment=False, steps=7, center=True, init_preset="siamese_omniglot"),
        MetaLSTMRecipe: dict(shots=5, inner_steps=2, decay_every=4, xla=True, second_order=True),
        L2LRecipe: dict(task="quadratic", unroll=5, epoch_steps=40, p=5.0, preprocess="none"),
        MAMLRecipe: dict(
            meta_batch=4,
            first_order=True,
            adapt="head",
            learn_inner_lr=True,
            final_learning_rate=1e-5,
        ),  # fmt: skip
        ReptileRecipe: dict(shots=2, inner_lr=0.05, final_learning_rate=1.0, eval_inner_steps=8),
    }[recipe]
    made = recipe(**changed)
    command = made.command("runs/x")
    assert command.startswith(f"metazoo train {recipe.name} ") and command.endswith(
        "--output runs/x"
    )
    again = recipe.from_args(cli.build_parser().parse_args(command.split()[1:]))
    # Settings left out of the command (eval_*) take their defaults; the rest is the run.
    recorded = {f.name for f in dataclasses.fields(recipe) if f.metadata["recorded"]}
    assert {k: getattr(again, k) for k in recorded} == {k: getattr(made, k) for k in recorded}


def test_command_writes_valued_settings_then_flags_and_leaves_out_none():
    command = ProtoNetRecipe(augment=True, center=True).command("p")
    assert "--split" not in command and "--init-preset" not in command
    assert command.endswith("--seed 0 --augment --center --output p")
    assert "--eval-episodes" not in command
    # A boolean written as a number (`--augment 0|1`) stays valued.
    assert "--augment 0" in SiameseRecipe(augment=False).command("s")


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: ProtoNetRecipe(episodes=0),
            "episodes must be a positive integer. Received: episodes=0",
        ),
        (lambda: ProtoNetRecipe(ways=2.5), "ways must be an integer >= 2. Received: ways=2.5"),
        (
            lambda: SiameseRecipe(eval_pairs=-1),
            "eval_pairs must be an integer >= 0. Received: eval_pairs=-1",
        ),
        (lambda: MetaLSTMRecipe(inner_steps=0), "inner_steps must be a positive integer"),
        (lambda: ProtoNetRecipe(rotations=True), "rotations applies to the Lake protocol"),
        (lambda: L2LRecipe(epoch_steps=7), "multiple of horizon // unroll = 5"),
        (lambda: L2LRecipe(task="cifar"), "task must be one of"),
        (lambda: ProtoNetRecipe(learning_rate=-1.0), "learning_rate must be a number >= 0"),
        (
            lambda: ReptileRecipe(final_learning_rate=-0.5),
            "final_learning_rate must be a number >= 0. Received: final_learning_rate=-0.5",
        ),
    ],
)
def test_bad_settings_are_one_line_errors_before_any_work(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        make()
    assert "\n" not in str(err.value)


def test_cli_reports_a_bad_setting_in_one_line(tmp_path, capsys):
    argv = ["train", "protonet", "--episodes", "0", "--output", str(tmp_path / "p")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "metazoo train: error: episodes must be a positive integer. Received: episodes=0"
    assert not (tmp_path / "p").exists()


def test_recipes_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ProtoNetRecipe().episodes = 3
