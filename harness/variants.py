"""Other ways to convert a reference model, built next to it at fixture time.

- ``quantized-uint8``, ``quantized-uint16``, ``quantized-float16``: the converter's weight
  quantization. Keras' outputs with the *dequantized* weights (read back exactly as tfjs reads
  them) are stored too: the difference between those and the float outputs is the model's own
  response to the quantization step, which sizes the quantized tolerance.
- ``sharded``: weights split into small shards (64 KiB, or a third of the weights for smaller
  models, so every model gets at least three shards).
- ``graph``: the model saved as a TF SavedModel (serving signature) and converted to a graph model
  (``--input_format=tf_saved_model``), loaded in the browser with ``tf.loadGraphModel``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.references import save_arrays
from harness.rounding import float32_rounding

QUANTIZATIONS = ("uint8", "uint16", "float16")
QUANTIZATION_LEVELS = {"uint8": 255, "uint16": 65535}
FLOAT16_RELATIVE_STEP = 2.0**-11  # float16 keeps 11 significant bits: rounding moves a value by <= 2^-11 of it
SHARD_BYTES = 64 * 1024
MIN_SHARDS = 3


def quantized_variant(name: str) -> str:
    return f"quantized-{name}"


def build_variants(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray],
                   directory: Path) -> dict[str, Any]:
    """Convert ``model`` every other way into subdirectories of ``directory``; returns the manifest entries.
    ``float_outputs``: Keras' outputs on ``reference_x``."""
    variants: dict[str, Any] = {}
    for dtype in QUANTIZATIONS:
        variants[quantized_variant(dtype)] = build_quantized(model, reference_x, float_outputs, directory, dtype)
    variants["sharded"] = _sharded(model, directory)
    variants["graph"] = _graph(model, directory)
    return variants


def weight_bytes(model_json: Path) -> int:
    """Total bytes of the weight files listed in ``model_json``'s weights manifest."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    return sum((model_json.parent / path).stat().st_size for group in manifest for path in group["paths"])


def shard_count(model_json: Path) -> int:
    """How many weight files ``model_json`` lists."""
    return sum(len(group["paths"]) for group in json.loads(model_json.read_text())["weightsManifest"])


def _convert(model: Any, target: Path, **options: Any) -> Path:
    from harness.convert import convert_layers_model

    target.mkdir()
    return target / convert_layers_model(model, target, **options)


def build_quantized(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray], directory: Path,
                    dtype: str) -> dict[str, Any]:
    """Convert ``model`` with ``dtype`` weight quantization into ``directory/quantized-<dtype>`` and record what
    the quantized check needs: sizes, step, and Keras' outputs with the dequantized weights."""
    from harness.artifacts import load_keras_model
    from harness.training import keras_predict

    name = quantized_variant(dtype)
    model_json = _convert(model, directory / name, quantization_dtype_map={dtype: True})
    dequantized_model = load_keras_model(model_json)
    dequantized = keras_predict(dequantized_model, reference_x)
    effect = max(float(np.max(np.abs(d.astype(np.float64) - f))) for d, f in zip(dequantized, float_outputs))
    return {
        "directory": name,
        "quantization": dtype,
        "weight_bytes": weight_bytes(model_json),
        "max_step": _max_step(model, dtype),
        "output_effect": effect,
        "float32_rounding": float32_rounding(dequantized_model, reference_x, dequantized),
        "outputs": save_arrays(directory / name, "dequantized_output", list(model.output_names), dequantized),
    }


def _max_step(model: Any, dtype: str) -> float:
    """The largest quantization step over the model's weights: (max - min) / levels, or float16 rounding."""
    steps = []
    for weight in model.weights:
        values = weight.numpy().astype(np.float64)
        if dtype == "float16":
            steps.append(float(np.max(np.abs(values))) * FLOAT16_RELATIVE_STEP)
        else:
            steps.append(float(values.max() - values.min()) / QUANTIZATION_LEVELS[dtype])
    return max(steps)


def _sharded(model: Any, directory: Path) -> dict[str, Any]:
    total = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    shard_bytes = min(SHARD_BYTES, max(4, total // MIN_SHARDS // 4 * 4))
    model_json = _convert(model, directory / "sharded", weight_shard_size_bytes=shard_bytes)
    return {"directory": "sharded", "shard_bytes": shard_bytes, "shards": shard_count(model_json)}


def _graph(model: Any, directory: Path) -> dict[str, Any]:
    """SavedModel (serving signature) -> graph model; records which signature names are Keras' inputs/outputs."""
    import tempfile

    import tensorflow as tf
    from tensorflowjs.converters import convert_tf_saved_model

    with tempfile.TemporaryDirectory() as saved_model:
        tf.saved_model.save(model, saved_model)
        convert_tf_saved_model(saved_model, str(directory / "graph"))
    signature = json.loads((directory / "graph" / "model.json").read_text())["signature"]
    return {
        "directory": "graph",
        "inputs": [_signature_name(signature["inputs"], t.name.split(":")[0]) for t in model.inputs],
        "outputs": [_signature_name(signature["outputs"], name) for name in model.output_names],
    }


def _signature_name(tensors: dict[str, Any], keras_name: str) -> dict[str, str]:
    """The signature key for a Keras input/output and the graph node tfjs feeds or fetches for it."""
    if keras_name not in tensors:
        raise ValueError(f"the serving signature has no tensor called {keras_name!r} (it has {sorted(tensors)})")
    return {"key": keras_name, "node": tensors[keras_name]["name"]}
