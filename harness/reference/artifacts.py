"""A tfjs layers model the browser saved (``model.json`` + weight files), read on the Python side.

Before Keras sees the files they are checked, so a broken save is an error naming the file and
the problem: malformed JSON, a weight path that leaves the directory, a missing weight file,
or weight data shorter (truncated) or longer than the weights manifest describes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.reference.keras_env import configure_tensorflow_environment

DTYPE_BYTES = {"float32": 4, "int32": 4, "bool": 1}
QUANTIZED_BYTES = {"uint8": 1, "uint16": 2, "float16": 2}


class ArtifactError(HarnessError):
    """Saved model artifacts are unreadable or inconsistent; the message names the file."""


def spec_bytes(spec: dict[str, Any]) -> int:
    """Bytes one weight of the weights manifest takes in the weight data."""
    quantization = spec.get("quantization")
    dtype = quantization["dtype"] if quantization else spec["dtype"]
    per_element = (QUANTIZED_BYTES if quantization else DTYPE_BYTES).get(dtype)
    if per_element is None:
        raise ValueError(f"weight {spec.get('name')}: unsupported dtype {dtype}")
    return int(np.prod(spec["shape"], dtype=np.int64)) * per_element


def read_model_json(path: Path) -> dict[str, Any]:
    """``model.json`` parsed and shaped like a tfjs layers model, else ``ArtifactError`` naming it."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ArtifactError(f"{path}: missing") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: malformed JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: not a tfjs model.json (a JSON {type(raw).__name__}, not an object)")
    if not isinstance(raw.get("modelTopology"), dict):
        raise ArtifactError(f"{path}: not a tfjs model.json (no modelTopology)")
    if "weightsManifest" not in raw:
        raise ArtifactError(f"{path}: no weightsManifest: tfjs would load the topology with freshly initialised "
                            "weights, not the model's")
    if not isinstance(raw["weightsManifest"], list):
        raise ArtifactError(f"{path}: weightsManifest is not a list")
    return raw


def check_weight_files(path: Path, model_json: dict[str, Any]) -> None:
    """Every weight group's files exist next to ``path`` and hold exactly the bytes its specs need; no weight is
    listed twice."""
    names = [spec.get("name") for group in model_json.get("weightsManifest", []) if isinstance(group, dict)
             for spec in group.get("weights", []) if isinstance(spec, dict)]
    twice = sorted({str(name) for name in names if names.count(name) > 1})
    if twice:
        raise ArtifactError(f"{path}: the weights manifest lists weight {', '.join(twice)} twice (tfjs would set one "
                            "and leave the other unset)")
    for group in model_json.get("weightsManifest", []):
        try:
            files = [_weight_file(path, name) for name in group["paths"]]
            needed = sum(spec_bytes(spec) for spec in group["weights"])
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{path}: malformed weights manifest: {error!r}") from error
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise ArtifactError(f"{missing[0]}: missing (listed in {path.name}'s weights manifest)")
        actual = sum(f.stat().st_size for f in files)
        where = ", ".join(str(f) for f in files)
        if actual < needed:
            raise ArtifactError(f"{where}: truncated: {actual} bytes of weight data, the weights manifest "
                                f"needs {needed}")
        if actual > needed:
            raise ArtifactError(f"{where}: wrong weight byte length: {actual} bytes of weight data, the weights "
                                f"manifest describes {needed}")


def _weight_file(model_json: Path, name: str) -> Path:
    """A weight path from the manifest, which must name a file in model.json's own directory."""
    plain = name.removeprefix("./")
    if not plain or "/" in plain or "\\" in plain or plain in (".", ".."):
        raise ValueError(f"weight path {name!r} leaves the model's directory")
    path = model_json.parent / plain
    if path.is_symlink() and path.resolve().parent != model_json.parent.resolve():
        raise ValueError(f"weight file {path} is a symlink to {path.resolve()}, outside the model's directory")
    return path


def float32_weights(path: Path, model_json: dict[str, Any]) -> Iterator[tuple[str, np.ndarray]]:
    """Each unquantized float32 weight of a model whose weight files ``check_weight_files`` passed: its manifest
    name and its values, flat."""
    for group in model_json.get("weightsManifest", []):
        data = b"".join(_weight_file(path, name).read_bytes() for name in group["paths"])
        offset = 0
        for spec in group["weights"]:
            size = spec_bytes(spec)
            if spec["dtype"] == "float32" and not spec.get("quantization"):
                yield spec["name"], np.frombuffer(data, np.float32, count=size // 4, offset=offset)
            offset += size


def non_finite_weight(path: Path, model_json: dict[str, Any]) -> str | None:
    """The first float32 weight (of a model whose weight files ``check_weight_files`` passed) holding NaN or
    infinity, described: ``"weight dense/kernel holds 1 NaN or infinite value (nan at flat index 0)"``."""
    for name, values in float32_weights(path, model_json):
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.argmax(bad))
            return (f"weight {name} holds {int(bad.sum())} NaN or infinite value(s) ({values[first]} "
                    f"at flat index {first})")
    return None


def model_files(path: Path) -> list[Path]:
    """``path`` (a model.json) and the weight files its manifest lists, in order, each checked as ``load_keras_model``
    checks them."""
    raw = read_model_json(path)
    check_weight_files(path, raw)
    return [path, *(_weight_file(path, name) for group in raw.get("weightsManifest", []) for name in group["paths"])]


def load_keras_model(path: Path) -> Any:
    """The tf_keras model saved at ``path`` (a model.json), through ``tensorflowjs.converters.load_keras_model``."""
    check_weight_files(path, read_model_json(path))
    configure_tensorflow_environment()
    import tensorflow as tf
    from tensorflowjs.converters import load_keras_model as tfjs_load_keras_model

    tf.get_logger().setLevel("ERROR")  # each loaded model retraces predict once: expected, not news

    try:
        return tfjs_load_keras_model(str(path))
    except Exception as error:  # noqa: BLE001 - whatever the converter raises, name the file
        raise ArtifactError(f"{path}: tensorflowjs could not load it into Keras: {type(error).__name__}: {error}") \
            from error



def copy_model_files(model_json: Path, target: Path) -> None:
    """Copy a tfjs ``model.json`` and every weight file its manifest lists into ``target``."""
    raw = json.loads(model_json.read_text())
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_json, target / "model.json")
    for group in raw.get("weightsManifest", []):
        for path in group["paths"]:
            shutil.copyfile(model_json.parent / path, target / path)
