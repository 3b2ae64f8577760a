"""Pretrained presets: folders of `config.json`, `model.weights.h5`, `metadata.json`.

A preset folder (as in KerasHub) holds

- `config.json`: the serialized model (`keras.saving.serialize_keras_object`);
- `model.weights.h5`: its weights;
- `metadata.json`: what it is, how it was trained, what it scores (with the
  protocol), library versions, and the weights' sha256;
- `saved_model/`: a TF SavedModel from `model.export` for serving.

Registered presets are the folders under `saved_models/` of the source tree
(or `$METAZOO_PRESETS_DIR`); `load` also takes any preset folder's path.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from metazoo.data._files import sha256sum

PRESETS_ENV = "METAZOO_PRESETS_DIR"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
EXPORT_DIR = "saved_model"


def presets_dir() -> Path:
    """The folder of registered presets: `$METAZOO_PRESETS_DIR` or `saved_models/`."""
    if os.environ.get(PRESETS_ENV):
        return Path(os.environ[PRESETS_ENV]).expanduser()
    return Path(__file__).resolve().parent.parent / "saved_models"


def list_presets() -> dict[str, dict]:
    """Registered presets: name -> metadata (description, parameters, metrics, ...)."""
    root = presets_dir()
    if not root.is_dir():
        return {}
    found = {}
    for folder in sorted(root.iterdir()):
        meta = folder / METADATA_FILE
        if meta.is_file():
            metadata = json.loads(meta.read_text())
            metadata["path"] = str(folder)
            found[folder.name] = metadata
    return found


def preset_path(name_or_dir: str | os.PathLike) -> Path:
    """Resolves a registered preset name or a preset folder.

    Raises:
        ValueError: not a registered name, nor a folder holding a preset;
            the message lists the registered names.
    """
    path = Path(name_or_dir).expanduser()
    if (path / CONFIG_FILE).is_file():
        return path
    presets = list_presets()
    if str(name_or_dir) in presets:
        return Path(presets[str(name_or_dir)]["path"])
    raise ValueError(
        f"Unknown preset {str(name_or_dir)!r}: not a registered name nor a folder "
        f"with {CONFIG_FILE}. Registered presets: {sorted(presets) or 'none'} "
        f"(in {str(presets_dir())!r})."
    )


def load_metadata(name_or_dir: str | os.PathLike) -> dict:
    """The `metadata.json` of a preset."""
    path = preset_path(name_or_dir)
    meta = path / METADATA_FILE
    return json.loads(meta.read_text()) if meta.is_file() else {}


def load(name_or_dir: str | os.PathLike, compile: bool = True) -> keras.Model:
    """Loads a pretrained model from a registered preset name or a preset folder.

    The weights' sha256 is checked against the metadata, and the config is
    deserialized in Keras safe mode (no arbitrary code).

    Args:
        name_or_dir: str. A name from `metazoo list` / `list_presets()`, or a folder.
        compile: bool. Compile with the model's default training setup, so
            `evaluate` and `fit` work at once.

    Example:
    ```python
    model = metazoo.load("protonet_omniglot")
    ```
    """
    path = preset_path(name_or_dir)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"Preset {str(path)!r} has no {WEIGHTS_FILE}.")
    expected = load_metadata(path).get("weights_sha256")
    if expected:
        got = sha256sum(weights)
        if got != expected:
            raise ValueError(
                f"{str(weights)!r} has sha256 {got}, but the preset's metadata says "
                f"{expected}: the weights are corrupt or were changed."
            )
    config = json.loads((path / CONFIG_FILE).read_text())
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.load_weights(str(weights))
    if compile:
        model.compile()
    return model


def _versions() -> dict:
    from metazoo import __version__

    return {
        "metazoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def save_preset(
    model: keras.Model,
    directory: str | os.PathLike,
    metadata: dict,
    export: bool = True,
    overwrite: bool = False,
) -> Path:
    """Writes `model` as a preset folder, all or nothing.

    The folder is written beside its destination and moved into place only
    when complete, so a failure leaves no half-written preset.

    Args:
        model: keras.Model. A built, registered (serializable) model.
        directory: str. The preset folder; its name is the preset's name.
        metadata: dict. At least `description`; usually `training` and
            `evaluation` entries. Versions, date, parameter count and the
            weights' sha256 are added.
        export: bool. Also write `saved_model/` with `model.export`, using
            the model's `serving_signature()` when it has one.
        overwrite: bool. Replace an existing preset folder.
    """
    directory = Path(directory)
    if "description" not in metadata:
        raise ValueError(f"metadata needs a 'description'. Received keys: {sorted(metadata)}")
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{str(directory)!r} exists; pass overwrite=True to replace it.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        config = keras.saving.serialize_keras_object(model)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        model.save_weights(str(tmp / WEIGHTS_FILE))
        if export:
            signature = getattr(model, "serving_signature", lambda: None)()
            model.export(str(tmp / EXPORT_DIR), input_signature=signature, verbose=False)
        full = {
            "name": directory.name,
            **metadata,
            "class_name": type(model).__name__,
            "parameters": int(model.count_params()),
            "versions": _versions(),
            "date": datetime.date.today().isoformat(),
            "weights_sha256": sha256sum(tmp / WEIGHTS_FILE),
            "serving": metadata.get("serving")
            or (f"{EXPORT_DIR}/ signature 'serve'" if export else None),
        }
        (tmp / METADATA_FILE).write_text(json.dumps(full, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; a preset is to be shared
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory
