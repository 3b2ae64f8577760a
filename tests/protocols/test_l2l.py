"""The L2L rollout protocol: tuned baselines, paired differences, the records."""

import json

import numpy as np
import pytest

from metazoo.algorithms.l2l import LearnedOptimizer, Quadratic, UpdateRuleConfig, init_meta_params
from metazoo.algorithms.l2l.meta_trainer import trajectory_seeds
from metazoo.algorithms.l2l.rollout import Rollout
from metazoo.protocols import L2LRollout, l2l, protocol_from_record


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


def test_records_name_their_variant_and_come_back_from_it():
    metadata = {"training": {"seed": 3}, "evaluation_protocol": {"steps": 5, "seeds": 2}}
    variants = L2LRollout.variants("mnist_mlp", **l2l.protocol_from_metadata(metadata))
    assert [v.variant for v in variants] == ["main", "40_units", "2_layers", "relu", "10_steps"]
    assert variants[1].changes == (("hidden_sizes", (40,)),) and variants[4].steps == 10
    assert {v.train_seed for v in variants} == {3}
    record = {"variant": "10_steps", "optimizee": {"name": "mnist_mlp"}, "protocol": "text"}
    assert protocol_from_record(record, metadata) == variants[4]
    with pytest.raises(ValueError, match="variant must be one of"):
        protocol_from_record({**record, "variant": "20_steps"}, metadata)


def test_remeasure_gives_the_record_evaluation_records_wrote(capsys):
    protocol = {"steps": 3, "seeds": 2, "tune_seeds": 1, "lr_grid": (0.1,), "train_seed": 0}
    records = l2l.evaluation_records(tiny_rule(), "quadratic", protocol, "tiny")
    assert [r["variant"] for r in records] == ["main", "6_steps"]
    assert records[0]["command"] == "metazoo eval tiny --json"
    assert list(records[0])[:2] == ["variant", "protocol"] and list(records[0])[-2:] == [
        "summary",
        "command",
    ]
    metadata = {"evaluation_protocol": {**protocol, "lr_grid": [0.1]}, "training": {"seed": 0}}
    again = [protocol_from_record(r, metadata).remeasure(tiny_rule(), r, "tiny") for r in records]
    assert again == records
    assert capsys.readouterr().out.count("main: L2L") == 2
