"""The verification protocol: the records of pair (Siamese) presets."""

import keras
import pytest

from metazoo.algorithms import PrototypicalNetwork, SiameseNetwork
from metazoo.networks import Conv4
from metazoo.presets import save_preset
from metazoo.protocols import VerificationPairs, remeasure, score_verification_records


@pytest.mark.data
def test_remeasuring_a_pair_preset_measures_its_verification_records_again(data_dir, tmp_path):
    keras.utils.set_random_seed(0)
    model = SiameseNetwork(Conv4(filters=2))
    records = score_verification_records(model, "tiny", 8, data_dir=data_dir)
    assert [r["same_alphabet_fraction"] for r in records] == [0.0, 1.0]
    path = save_preset(model, tmp_path / "tiny", {"description": "test"}, export=False)
    assert remeasure(path, {"evaluation": records}, data_dir) == records


def test_verification_needs_a_pair_model():
    with pytest.raises(ValueError, match="a SiameseNetwork\\). Received: a PrototypicalNetwork"):
        VerificationPairs(pairs=2).score(PrototypicalNetwork(Conv4(filters=2)))
