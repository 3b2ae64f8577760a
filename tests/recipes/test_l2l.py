import json

import numpy as np
import pytest

from metazoo.protocols.l2l import make_optimizee
from metazoo.recipes import l2l


def test_train_rejects_backups_inside_an_optimizee():
    with pytest.raises(ValueError, match="multiple of horizon // unroll = 5"):
        l2l.L2LRecipe(task="quadratic", meta_steps=10, epoch_steps=7)
    with pytest.raises(ValueError, match="task must be one of"):
        make_optimizee("cifar")


def test_cli_train_then_eval_json_contract(tmp_path, monkeypatch, capsys):
    from metazoo import cli

    monkeypatch.setattr(l2l, "LR_GRID", (0.01, 0.1))
    output = tmp_path / "l2l_tiny"
    argv = ["train", "l2l", "--task", "quadratic", "--meta-steps", "2", "--epoch-steps", "2",
            "--unroll", "2", "--horizon", "4", "--hidden-units", "4", "--eval-seeds", "2",
            "--tune-seeds", "1", "--output", str(output)]  # fmt: skip
    assert cli.main(argv) == 0
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["kind"] == "learned_optimizer"
    assert [r["variant"] for r in metadata["evaluation"]] == ["main", "8_steps"]
    assert metadata["training"]["command"].startswith("metazoo train l2l --task quadratic")
    capsys.readouterr()

    assert cli.main(["eval", str(output), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"preset", "task", "steps", "seeds", "final_loss", "baselines", "generalization"} <= set(
        result
    )
    assert (result["steps"], result["seeds"]) == (4, 2)
    assert set(result["baselines"]) == {"adam", "rmsprop", "sgd", "nag"}
    # The recorded evaluation is what `metazoo eval` measures again.
    assert result["final_loss"] == metadata["evaluation"][0]["final_loss"]
    assert set(result["generalization"]) == {"8_steps"}


def test_cli_continue_from_a_preset_with_a_decaying_rate(tmp_path, monkeypatch):
    from metazoo import cli, presets

    monkeypatch.setattr(l2l, "LR_GRID", (0.1,))
    common = ["--task", "quadratic", "--meta-steps", "2", "--epoch-steps", "2", "--unroll", "2",
              "--horizon", "4", "--hidden-units", "4", "--eval-seeds", "0"]  # fmt: skip
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli.main(["train", "l2l", *common, "--output", str(first)]) == 0
    argv = ["train", "l2l", *common, "--learning-rate", "0", "--decay-every", "1"]
    assert cli.main(argv + ["--init-preset", str(first), "--output", str(second)]) == 0
    # A zero learning rate keeps the meta-parameters the preset's: they were carried over.
    start, end = presets.load(first), presets.load(second)
    for name, value in start.get_meta_params().items():
        np.testing.assert_array_equal(end.get_meta_params()[name], value)
    training = json.loads((second / "metadata.json").read_text())["training"]
    assert training["init_preset"] == "first" and "halved every 1" in training["meta_optimizer"]
    assert f"--init-preset {first}" in training["command"]
    # Another rule shape cannot start from it.
    argv = ["train", "l2l", *common[:-4], "--hidden-units", "5", "--eval-seeds", "0"]
    assert cli.main(argv + ["--init-preset", str(first), "--output", str(tmp_path / "x")]) == 2
