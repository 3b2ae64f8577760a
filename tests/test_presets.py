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
    x = (np.full((4, 28, 28, 1), 0.5, "float32"), np.arange(4, dtype="int32"),
         np.full((2, 28, 28, 1), 0.5, "float32"))  # fmt: skip
    for ref in ("tiny_proto", str(path)):
        np.testing.assert_allclose(presets.load(ref)(x), model(x), atol=1e-6)
    assert "tiny_proto" in presets.list_presets()


def test_unknown_name_lists_valid_ones(tiny_preset):
    with pytest.raises(ValueError, match=r"Registered presets: \[.*'protonet_omniglot'.*"):
        presets.load("protonet_imagenet")
    with pytest.raises(ValueError, match=r"'tiny_proto'"):
        presets.load("protonet_imagenet")


def test_user_presets_come_beside_the_shipped_ones(tiny_preset, tmp_path, monkeypatch):
    """$METAZOO_PRESETS_DIR adds folders (first wins on a name); the shipped presets stay."""
    found = presets.list_presets()
    assert {"tiny_proto", "protonet_omniglot", "l2l_mnist_mlp"} <= set(found)
    assert found["protonet_omniglot"]["path"].startswith(str(presets.BUILTIN_PRESETS_DIR))
    # A second folder, listed first, shadows a name of the shipped zoo.
    mine = tmp_path / "mine"
    model, _ = tiny_preset
    presets.save_preset(model, mine / "protonet_omniglot", {"description": "mine"}, export=False)
    monkeypatch.setenv(presets.PRESETS_ENV, f"{mine}:{tmp_path}")
    assert presets.list_presets()["protonet_omniglot"]["description"] == "mine"
    assert "tiny_proto" in presets.list_presets()


def test_from_preset_refuses_another_class(tiny_preset):
    from metazoo.algorithms import MetaLSTM, SiameseNetwork

    _, path = tiny_preset
    model = PrototypicalNetwork.from_preset("tiny_proto")
    assert isinstance(model, PrototypicalNetwork) and model.optimizer is not None
    for cls in (SiameseNetwork, MetaLSTM):
        with pytest.raises(
            ValueError,
            match=rf"{cls.__name__}.from_preset needs a "
            rf"{cls.__name__} preset. Received: .*a PrototypicalNetwork preset",
        ):
            cls.from_preset(path)


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object. Received: a list")],
)
def test_a_broken_config_names_the_file(tiny_preset, text, message):
    _, path = tiny_preset
    (path / "config.json").write_text(text)
    with pytest.raises(ValueError, match=rf"config.json' {message}"):
        presets.load(path)


def test_a_config_of_an_unknown_class_names_the_file(tiny_preset):
    _, path = tiny_preset
    config = json.loads((path / "config.json").read_text())
    config.update(class_name="Nothing", registered_name="metazoo>Nothing")
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json' does not describe a model"):
        presets.load(path)


def test_truncated_weights_without_a_checksum_name_the_file(tiny_preset):
    _, path = tiny_preset
    meta = json.loads((path / "metadata.json").read_text())
    del meta["weights_sha256"]
    (path / "metadata.json").write_text(json.dumps(meta))
    weights = path / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"Could not read the weights .*model.weights.h5"):
        presets.load(path)


def test_save_preset_replaces_only_a_preset_and_keeps_the_old_one_on_failure(tiny_preset):
    model, path = tiny_preset
    before = (path / "model.weights.h5").read_bytes()

    class Unexportable(PrototypicalNetwork):
        def serving_signature(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        presets.save_preset(Unexportable(Conv4(filters=4)), path, {"description": "x"},
                            overwrite=True)  # fmt: skip
    assert (path / "model.weights.h5").read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny_proto"]
    other = path.parent / "not_a_preset"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not one metazoo wrote"):
        presets.save_preset(model, other, {"description": "x"}, overwrite=True)
    assert (other / "thesis.tex").read_text() == "years of work"
    with pytest.raises(ValueError, match="a preset registry"):
        presets.save_preset(model, presets.BUILTIN_PRESETS_DIR, {"description": "x"},
                            overwrite=True)  # fmt: skip


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
