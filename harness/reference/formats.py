"""What a user's MODEL path holds, detected before anything is converted, and how to load it. Each format's record
(how its reference is built, which checks apply) is in ``model_formats.MODEL_FORMATS``.

Formats (``detect_format``):

- ``keras-h5``: a Keras 2 ``.h5`` file with its architecture (``model_config``);
- ``tf-keras-savedmodel``: a tf_keras SavedModel directory (it has ``keras_metadata.pb``);
- ``tf-savedmodel``: any other TF SavedModel directory: converted to a graph model;
- ``keras3``: a Keras 3 ``.keras`` file (or an ``.h5`` Keras 3 wrote): rebuilt as a Keras 2 twin
  (``keras3_twin``), or exported to a SavedModel;
- ``tfjs-layers`` / ``tfjs-graph``: an already converted model directory (or its model.json).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from harness.errors import UsageError

FORMATS = ("keras-h5", "tf-keras-savedmodel", "tf-savedmodel", "keras3", "tfjs-layers", "tfjs-graph", "onnx", "torch")
TORCH_MODEL = re.compile(r"^(?P<file>.+\.py):(?P<factory>[A-Za-z_][A-Za-z0-9_]*)$")  # FILE.py:FACTORY


def torch_model(path: Path) -> tuple[Path, str] | None:
    """``(FILE.py, FACTORY)`` when ``path`` names a factory in an existing Python file, else None."""
    found = TORCH_MODEL.match(str(path))
    if found and Path(found.group("file")).is_file():
        return Path(found.group("file")), found.group("factory")
    return None


class ModelFormatError(UsageError):
    """MODEL is missing, of an unknown format, or cannot be loaded; the message names the path."""


def detect_format(path: Path) -> str:
    """The format of ``path`` (one of ``FORMATS``); ``ModelFormatError`` says what it found instead."""
    if torch_model(path):
        return "torch"
    if path.is_dir():
        return _directory_format(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file or directory")
    if path.name == "model.json":
        return _tfjs_format(path)
    if path.suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelFormatError(f"{path}: not a .keras archive (not a zip file)")
        return "keras3"
    if path.suffix in (".h5", ".hdf5"):
        return _h5_format(path)
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix in (".pt", ".pth"):
        raise ModelFormatError(f"{path}: a PyTorch file: export the model to ONNX (torch.onnx.export) and check the "
                               ".onnx file, or check FILE.py:FACTORY, a function returning the module and example "
                               "inputs (docs/onnx.md)")
    raise ModelFormatError(
        f"{path}: unknown model format; give a Keras .h5 or .keras file, a SavedModel directory, a "
        "converted tfjs model directory, an .onnx file, or FILE.py:FACTORY for a PyTorch module"
    )


def _directory_format(path: Path) -> str:
    if (path / "model.json").is_file():
        return _tfjs_format(path / "model.json")
    if (path / "saved_model.pb").is_file():
        return "tf-keras-savedmodel" if (path / "keras_metadata.pb").is_file() else "tf-savedmodel"
    raise ModelFormatError(f"{path}: a directory with neither saved_model.pb nor model.json")


def _tfjs_format(model_json: Path) -> str:
    try:
        raw = json.loads(model_json.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelFormatError(f"{model_json}: not a readable tfjs model.json: {error}") from error
    if not isinstance(raw, dict):
        raise ModelFormatError(f"{model_json}: not a tfjs model.json (a JSON {type(raw).__name__}, not an object)")
    kind = raw.get("format")
    if kind == "layers-model":
        return "tfjs-layers"
    if kind == "graph-model":
        return "tfjs-graph"
    raise ModelFormatError(f"{model_json}: format is {kind!r}, expected 'layers-model' or 'graph-model'")


def _h5_format(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            attributes = dict(handle.attrs)
    except OSError as error:
        raise ModelFormatError(f"{path}: not a readable HDF5 file: {error}") from error
    if "model_config" not in attributes:
        raise ModelFormatError(f"{path}: holds weights only (no model_config): save the whole model, "
                               "model.save('model.h5'), not model.save_weights()")
    version = attributes.get("keras_version", b"")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return "keras3" if version.startswith("3") else "keras-h5"


def load_custom_objects(path: Path | None) -> dict[str, Any]:
    """The Keras custom objects a user's Python file defines: its ``CUSTOM_OBJECTS`` dict if it has one,
    else every Keras layer class defined in it, by class name."""
    if path is None:
        return {}
    if not path.is_file():
        raise ModelFormatError(f"--custom-objects {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"tfjs_parity_custom_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ModelFormatError(f"--custom-objects {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's code: report anything it raises, naming the file
        raise ModelFormatError(f"--custom-objects {path}: {type(error).__name__}: {error}") from error
    if isinstance(getattr(module, "CUSTOM_OBJECTS", None), dict):
        return dict(module.CUSTOM_OBJECTS)
    import tf_keras as keras

    return {name: value for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, keras.layers.Layer) and value.__module__ == module.__name__}


def load_keras2_model(path: Path, custom_objects: dict[str, Any]) -> Any:
    """A Keras 2 model from a ``.h5`` file or a tf_keras SavedModel directory."""
    import tf_keras as keras

    try:
        return keras.models.load_model(str(path), custom_objects=custom_objects, compile=False)
    except Exception as error:  # noqa: BLE001 - whatever Keras raises, name the file and the likely fix
        hint = (" (a custom layer? pass the Python file that defines it with --custom-objects)"
                if "Unknown layer" in str(error) or "custom" in str(error).lower() else "")
        raise ModelFormatError(f"{path}: Keras could not load it: {type(error).__name__}: {error}{hint}") from error


def export_keras3_savedmodel(path: Path, target: Path) -> None:
    """Load a Keras 3 model with Keras 3 and export its inference function as a SavedModel at ``target``."""
    import keras  # Keras 3: TF_USE_LEGACY_KERAS only redirects tf.keras

    try:
        model = keras.saving.load_model(str(path), compile=False)
        model.export(str(target), verbose=False)
    except Exception as error:  # noqa: BLE001 - whatever Keras 3 raises, name the file
        raise ModelFormatError(f"{path}: Keras 3 could not load and export it: {type(error).__name__}: {error}") \
            from error
