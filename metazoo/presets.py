"""Pretrained presets: folders of `config.json`, `model.weights.h5`, `metadata.json`.

A preset folder (as in KerasHub) holds

- `config.json`: the serialized model (`keras.saving.serialize_keras_object`);
- `model.weights.h5`: its weights;
- `metadata.json`: what it is, how it was trained, what it scores (with the
  protocol), library versions, and the weights' sha256;
- `saved_model/`: a TF SavedModel from `model.export` for serving.

Registered presets are the folders of `$METAZOO_PRESETS_DIR` (the user's own;
several folders separated by `os.pathsep`), then those shipped inside the
package (`metazoo/saved_models/`, installed with the wheel); on a name
clash the user's folder wins. `load` and `from_preset` also take any preset
folder's path.

This module sits below the models: it imports Keras only when a preset is
loaded or saved, and no algorithm, so listing presets starts fast and every
model class can take `from_preset` from `PresetMixin`.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from metazoo.files import atomic_dir, check_output_dir, read_json_object, sha256sum

PRESETS_ENV = "METAZOO_PRESETS_DIR"
BUILTIN_PRESETS_DIR = Path(__file__).resolve().parent / "saved_models"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
EXPORT_DIR = "saved_model"


def preset_dirs() -> list[Path]:
    """Where registered presets are looked up, in order: `$METAZOO_PRESETS_DIR`, then built-in."""
    user = [
        Path(part).expanduser()
        for part in os.environ.get(PRESETS_ENV, "").split(os.pathsep)
        if part.strip()
    ]
    return [*user, BUILTIN_PRESETS_DIR]


def list_presets() -> dict[str, dict]:
    """Registered presets: name -> metadata (description, parameters, metrics, `path`).

    Raises:
        ValueError: a preset's `metadata.json` is not a JSON object (the
            message names the file).
    """
    found: dict[str, dict] = {}
    for root in preset_dirs():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            meta = folder / METADATA_FILE
            if folder.name not in found and meta.is_file():
                found[folder.name] = {**read_json_object(meta), "path": str(folder)}
    return dict(sorted(found.items()))


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
        f"(in {[str(d) for d in preset_dirs()]})."
    )


def load_metadata(name_or_dir: str | os.PathLike) -> dict:
    """The `metadata.json` of a preset (`{}` when it has none)."""
    path = preset_path(name_or_dir)
    meta = path / METADATA_FILE
    return read_json_object(meta) if meta.is_file() else {}


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else ""
    line = line if len(line) <= limit else line[: limit - 3] + "..."
    return f"{type(err).__name__}: {line}".rstrip(": ")


def load(
    name_or_dir: str | os.PathLike,
    compile: bool = True,
    expected_class: type | None = None,
):
    """Loads a pretrained model from a registered preset name or a preset folder.

    The weights' sha256 is checked against the metadata, and the config is
    deserialized in Keras safe mode (no arbitrary code).

    Args:
        name_or_dir: str. A name from `metazoo list` / `list_presets()`, or a folder.
        compile: bool. Compile with the model's default training setup, so
            `evaluate` and `fit` work at once.
        expected_class: type. Refuse a preset that is not of this class (or
            a subclass) before loading it; what `Model.from_preset` passes.

    Raises:
        ValueError: an unknown name, a preset of another class, or a preset
            whose files are corrupt (the message names the file).

    Example:
    ```python
    model = metazoo.load("protonet_omniglot")
    ```
    """
    import keras

    import metazoo.algorithms  # noqa: F401  (registers every model class for deserializing)

    path = preset_path(name_or_dir)
    config_file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
    config = read_json_object(config_file)
    if expected_class is not None:
        found = keras.saving.get_registered_object(config.get("registered_name") or "")
        if not (isinstance(found, type) and issubclass(found, expected_class)):
            raise ValueError(
                f"{expected_class.__name__}.from_preset needs a {expected_class.__name__} "
                f"preset. Received: {str(name_or_dir)!r}, a {config.get('class_name')} preset"
            )
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
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as err:
        raise ValueError(
            f"{str(config_file)!r} does not describe a model metazoo can build "
            f"({_first_line(err)})."
        ) from err
    try:
        model.load_weights(str(weights))
    except Exception as err:
        raise ValueError(
            f"Could not read the weights {str(weights)!r} ({_first_line(err)}): the file is "
            "corrupt, truncated or of another model."
        ) from err
    if compile:
        model.compile()
    return model


class PresetMixin:
    """Gives a model class KerasHub's `from_preset`, refusing presets of other classes.

    Example:
    ```python
    model = PrototypicalNetwork.from_preset("protonet_omniglot")
    ```
    """

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, compile: bool = True):
        """Loads a preset of this class (a registered name or a folder).

        Args:
            preset: str. A name from `metazoo list`, or a preset folder.
            compile: bool. Compile with the class's default training setup.

        Raises:
            ValueError: the preset is of another class ("Received: ..."),
                unknown, or corrupt.
        """
        return load(preset, compile=compile, expected_class=cls)


def _versions() -> dict:
    import keras

    from metazoo import __version__

    versions = {"metazoo": __version__, "keras": keras.__version__}
    backend = keras.config.backend()
    versions[backend] = __import__(backend).__version__
    return versions


def save_preset(
    model,
    directory: str | os.PathLike,
    metadata: dict,
    export: bool = True,
    overwrite: bool = False,
) -> Path:
    """Writes `model` as a preset folder, all or nothing.

    The folder is written beside its destination and moved into place only
    when complete, so a failure leaves no half-written preset and an old
    preset folder stays as it was.

    Args:
        model: keras.Model. A built, registered (serializable) model.
        directory: str. The preset folder; its name is the preset's name.
        metadata: dict. At least `description`; usually `training` and
            `evaluation` entries. Versions, date, parameter count and the
            weights' sha256 are added.
        export: bool. Also write `saved_model/` with `model.export`, using
            the model's `serving_signature()` when it has one.
        overwrite: bool. Replace an existing preset folder (one with a
            `metadata.json`); other folders are never replaced
            (`metazoo.files.check_output_dir`).
    """
    import keras

    if "description" not in metadata:
        raise ValueError(f"metadata needs a 'description'. Received keys: {sorted(metadata)}")
    directory = check_preset_output(directory, overwrite)
    with atomic_dir(directory) as tmp:
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
    return directory


def check_preset_output(directory: str | os.PathLike, overwrite: bool = False) -> Path:
    """Checks that a preset may be written to `directory` (see `check_output_dir`).

    A preset folder is replaced only with `overwrite` and only if it is one
    (it has a `metadata.json`); the current directory, its parents and the
    preset registries themselves never are.
    """
    return check_output_dir(
        directory, overwrite, marker=METADATA_FILE, what="preset folder", protect=preset_dirs()
    )
