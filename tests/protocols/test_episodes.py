"""The episode protocol's test-time inner steps (`--inner-steps`)."""

import types

import pytest

from metazoo.algorithms import MAML, PrototypicalNetwork
from metazoo.networks import Conv4
from metazoo.protocols import OmniglotEpisodes, protocol_from_record
from metazoo.protocols.episodes import adapting_with


def test_maml_takes_the_steps_asked_for_in_the_block_only():
    model = MAML(ways=5, inner_steps=1, eval_inner_steps=3, filters=2)
    with adapting_with(model, 10) as steps:
        assert steps == model.eval_inner_steps == 10
    assert model.eval_inner_steps == 3
    with pytest.raises(RuntimeError), adapting_with(model, 7):
        raise RuntimeError("a failed measurement")
    assert model.eval_inner_steps == 3
    with adapting_with(model, None) as steps:
        assert steps == 3
    with adapting_with(MAML(ways=5, inner_steps=2, filters=2), None) as steps:
        assert steps == 2  # no eval_inner_steps: the training count


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_bad_inner_steps_are_a_clear_error(bad):
    model = MAML(ways=5, inner_steps=1, eval_inner_steps=3, filters=2)
    with pytest.raises(ValueError, match=f"inner_steps must be.*Received: inner_steps={bad!r}"):
        with adapting_with(model, bad):
            pass
    assert model.eval_inner_steps == 3


def test_models_with_fixed_or_no_inner_steps():
    lstm_like = types.SimpleNamespace(inner_steps=12)  # Meta-LSTM: its trained count only
    with adapting_with(lstm_like, 12) as steps:
        assert steps == 12
    with pytest.raises(ValueError, match="takes the 12 inner steps it was meta-trained for"):
        with adapting_with(lstm_like, 5):
            pass
    protonet = PrototypicalNetwork(Conv4(filters=2))
    with adapting_with(protonet, None) as steps:
        assert steps is None
    with pytest.raises(ValueError, match="PrototypicalNetwork has no inner steps.*=4"):
        with adapting_with(protonet, 4):
            pass


def test_records_with_inner_steps_state_them_in_their_command():
    protocol = OmniglotEpisodes(episodes=10, split="test", inner_steps=10)
    assert protocol.command("m").endswith("--seed 0 --inner-steps 10")
    record = {"protocol": "vinyals", "split": "test", "ways": 5, "shots": 1, "queries": 15,
              "episodes": 10, "seed": 0, "inner_steps": 10}  # fmt: skip
    assert protocol_from_record(record) == protocol
    assert OmniglotEpisodes(episodes=10).command("m").endswith("--seed 0")
