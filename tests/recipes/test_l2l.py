import json

import numpy as np
import pytest

from metazoo.algorithms.l2l import LearnedOptimizer, Quadratic, UpdateRuleConfig, init_meta_params
from metazoo.algorithms.l2l.meta_trainer import trajectory_seeds
from metazoo.algorithms.l2l.rollout import Rollout
from metazoo.recipes import l2l


def tiny_rule():
    config = UpdateRuleConfig(hidden_units=4)
    params = init_meta_params(config, seed=0)
    params["output/kernel"] = -np.ones((4, 1), np.float32)
    return LearnedOptimizer(params, **config.as_dict())


def test_batched_rollout_equals_separate_runs():
    quad = Quadratic(dims=3, num_functions=2)
    for optimizer in (tiny_rule(), l2l.BASELINES["nag"](0.05)):
        curve, finals = Rollout(quad, optimizer, 6, "train", seeds=2)(7)
        assert curve.shape == (6, 2) and finals.shape == (2,)
        for i in range(2):
            one = Rollout(quad, optimizer, 6, "train", seeds=1)
            # Trajectory i of stream 7 alone: shift the stream's index by hand.
            one_curve, one_final = one._run(np.stack([np.stack(trajectory_seeds(7, i))]))
            np.testing.assert_allclose(curve[:, i], one_curve.numpy()[:, 0], rtol=1e-5)
            np.testing.assert_allclose(finals[i], one_final.numpy()[0], rtol=1e-5)


def test_evaluate_task_tunes_baselines_on_training_seeds():
    quad = Quadratic(dims=2, num_functions=2)
    result = l2l.evaluate_task(
        tiny_rule(), quad, steps=5, seeds=2, tune_seeds=1, lr_grid=(1e-3, 0.1), curves=True
    )
    json.dumps(result)
    assert result["steps"] == 5 and result["seeds"] == 2
    assert set(result["baselines"]) == {"adam", "rmsprop", "sgd", "nag"}
    for record in result["baselines"].values():
        assert record["learning_rate"] in (1e-3, 0.1)
        assert len(record["curve"]) == 5 and record["final_loss"] > 0
    # On these quadratics 0.1 beats 1e-3 for every baseline within 5 steps.
    assert result["baselines"]["adam"]["learning_rate"] == 0.1
    assert isinstance(result["beats_every_baseline"], bool)
    # Paired differences over the same optimizees, from the per-optimizee finals.
    learned = np.array(result["final_losses"])
    assert learned.shape == (2,)
    for record in result["baselines"].values():
        difference = learned - np.array(record["final_losses"])
        assert record["learned_minus_baseline"] == pytest.approx(difference.mean(), abs=2e-5)
        assert record["learned_minus_baseline_ci95"] >= 0
    paired = all(
        b["learned_minus_baseline"] + b["learned_minus_baseline_ci95"] < 0
        for b in result["baselines"].values()
    )
    assert result["beats_every_baseline_paired"] is paired


def test_train_rejects_backups_inside_an_optimizee():
    with pytest.raises(ValueError, match="multiple of horizon // unroll = 5"):
        l2l.L2LRecipe(task="quadratic", meta_steps=10, epoch_steps=7)
    with pytest.raises(ValueError, match="task must be one of"):
        l2l.make_optimizee("cifar")


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
