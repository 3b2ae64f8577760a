import json

import keras
import numpy as np
import pytest

from metazoo import presets
from metazoo.algorithms import PrototypicalNetwork
from metazoo.networks import Conv4


@pytest.fixture
def tiny_preset(tmp_path, monkeypatch):
    monkeypatch.setenv(presets.PRESETS_ENV, str(tmp_path))
    keras.utils.set_random_seed(0)
    model = PrototypicalNetwork(Conv4(filters=4))
    path = presets.save_preset(model, tmp_path / "tiny_proto", {"description": "tiny"})
    return model, path


def test_files_and_metadata(tiny_preset):
    model, path = tiny_preset
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.weights.h5", "metadata.json", "saved_model"} <= names
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["name"] == "tiny_proto" and meta["parameters"] == model.count_params()
    assert meta["weights_sha256"] == presets.sha256sum(path / "model.weights.h5")
    assert {"metazoo", "tensorflow", "keras"} <= set(meta["versions"])


def test_load_by_name_and_by_folder(tiny_preset):
    model, path = tiny_preset
    x = (np.ones((4, 28, 28, 1), "float32"), np.arange(4, dtype="int32"),
         np.ones((2, 28, 28, 1), "float32"))  # fmt: skip
    for ref in ("tiny_proto", str(path)):
        np.testing.assert_allclose(presets.load(ref)(x), model(x), atol=1e-6)
    assert "tiny_proto" in presets.list_presets()


def test_unknown_name_lists_valid_ones(tiny_preset):
    with pytest.raises(ValueError, match=r"Registered presets: \['tiny_proto'\]"):
        presets.load("protonet_imagenet")


def test_changed_weights_are_refused(tiny_preset):
    _, path = tiny_preset
    weights = path / "model.weights.h5"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        presets.load(path)


def test_failed_save_leaves_nothing(tmp_path):
    class Unexportable(PrototypicalNetwork):
        def serving_signature(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        presets.save_preset(Unexportable(Conv4(filters=2)), tmp_path / "p", {"description": "x"})
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_without_flag(tiny_preset):
    model, path = tiny_preset
    with pytest.raises(FileExistsError, match="overwrite=True"):
        presets.save_preset(model, path, {"description": "again"})


def test_metadata_needs_description(tmp_path):
    with pytest.raises(ValueError, match="needs a 'description'"):
        presets.save_preset(PrototypicalNetwork(Conv4(filters=2)), tmp_path / "p", {})


def test_exported_saved_model_serves(tiny_preset):
    import tensorflow as tf

    model, path = tiny_preset
    served = tf.saved_model.load(str(path / "saved_model"))
    rng = np.random.default_rng(0)
    x = (rng.random((6, 28, 28, 1), "float32"), np.array([0, 0, 1, 1, 2, 2], "int32"),
         rng.random((3, 28, 28, 1), "float32"))  # fmt: skip
    np.testing.assert_allclose(served.serve(x), model(x), atol=1e-5)
