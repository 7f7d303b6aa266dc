"""Converting a Keras model to tfjs, in-process (the converter CLI costs ~8 s of imports per call):
the layers model every reference holds, and the other conversions built next to it.

- ``quantized-uint8``, ``quantized-uint16``, ``quantized-float16``: the converter's weight
  quantization. Keras' outputs with the *dequantized* weights (read back exactly as tfjs reads
  them) are stored too: the difference between those and the float outputs is the model's own
  response to the quantization step, which sizes the quantized tolerance.
- ``sharded``: weights split into small shards (64 KiB, or a third of the weights for smaller
  models, so every model gets at least three shards; at most 64 shards, so a big model's shards
  grow instead: tfjs fetches every shard at once, and Chromium refused ResNet50's 1441 fetches of
  64 KiB with ``net::ERR_INSUFFICIENT_RESOURCES``).
- ``graph``: the model saved as a TF SavedModel (serving signature) and converted to a graph model
  (``--input_format=tf_saved_model``), loaded in the browser with ``tf.loadGraphModel``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.directory import GRAPH_DIRECTORY, save_arrays
from harness.reference.keras_model import keras_names, keras_predict
from harness.reference.rounding import float32_rounding

MODEL_JSON = "model.json"

QUANTIZATIONS = ("uint8", "uint16", "float16")
QUANTIZATION_LEVELS = {"uint8": 255, "uint16": 65535}
FLOAT16_RELATIVE_STEP = 2.0**-11  # float16 keeps 11 significant bits: rounding moves a value by <= 2^-11 of it
SHARD_BYTES = 64 * 1024
MIN_SHARDS = 3
MAX_SHARDS = 64


def convert_layers_model(model: Any, directory: Path, **options: Any) -> str:
    """Write ``model`` (a tf_keras model) as a tfjs layers model into ``directory``; returns the model.json name.
    ``options`` go to the converter (``quantization_dtype_map``, ``weight_shard_size_bytes``)."""
    import warnings

    from tensorflowjs.converters import save_keras_model

    with warnings.catch_warnings():
        # The converter saves through HDF5 on purpose; Keras' "legacy format" advice is noise here.
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
        save_keras_model(model, str(directory), **options)
    return MODEL_JSON


def quantized_conversion(dtype: str) -> str:
    """The name of the ``dtype`` (uint8, uint16, float16) weight quantization's conversion."""
    return f"quantized-{dtype}"


CONVERSIONS = (*(quantized_conversion(dtype) for dtype in QUANTIZATIONS), "sharded", GRAPH_DIRECTORY)


def build_conversions(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray], directory: Path,
                      names: tuple[str, ...] = CONVERSIONS) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Convert ``model`` each of the ways ``names`` (of ``CONVERSIONS``) into subdirectories of ``directory``.
    ``float_outputs``: Keras' outputs on ``reference_x``. Returns the manifest entries of the conversions
    made, and for each one that failed, the manifest's ``failed_conversions`` entry (``conversion_failure``)."""
    conversions: dict[str, Any] = {}
    failed: dict[str, dict[str, str]] = {}
    for name in names:
        try:
            if name == "sharded":
                conversions[name] = _sharded(model, directory)
            elif name == GRAPH_DIRECTORY:
                conversions[name] = _graph(model, directory)
            else:
                dtype = name.removeprefix(quantized_conversion(""))
                conversions[name] = build_quantized(model, reference_x, float_outputs, directory, dtype)
        except Exception as error:  # noqa: BLE001 - the converter's refusal is the finding, whatever it raises
            failed[name] = conversion_failure(name, error)
    return conversions, failed


def conversion_failure(name: str, error: BaseException) -> dict[str, str]:
    """Who failed conversion ``name`` and how: ``"by": "converter"`` when the exception was raised in the
    converter's or TensorFlow's code (it refused the model: tfjs cannot have it that way, a ``fail``), ``"harness"``
    when it was raised in the harness' own code around them (our export broke: an ``error``)."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    harness_root = str(Path(__file__).resolve().parents[1])
    by = "harness" if frames and str(Path(frames[-1].filename).resolve()).startswith(harness_root) else "converter"
    return {"by": by, "message": f"the {name} conversion failed: {type(error).__name__}: {error}"}


def weight_bytes(model_json: Path) -> int:
    """Total bytes of the weight files listed in ``model_json``'s weights manifest."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    return sum((model_json.parent / path).stat().st_size for group in manifest for path in group["paths"])


def shard_count(model_json: Path) -> int:
    """How many weight files ``model_json`` lists."""
    return sum(len(group["paths"]) for group in json.loads(model_json.read_text())["weightsManifest"])


def _convert(model: Any, target: Path, **options: Any) -> Path:
    target.mkdir()
    return target / convert_layers_model(model, target, **options)


def build_quantized(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray], directory: Path,
                    dtype: str) -> dict[str, Any]:
    """Convert ``model`` with ``dtype`` weight quantization into ``directory/quantized-<dtype>`` and record what
    the quantized check needs: sizes, step, and Keras' outputs with the dequantized weights."""
    from harness.reference.artifacts import load_keras_model

    name = quantized_conversion(dtype)
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


def shard_size(total_bytes: int) -> int:
    """The ``sharded`` conversion's shard size for weights of ``total_bytes``: ``SHARD_BYTES``, smaller for a model
    too small to make ``MIN_SHARDS`` of them, larger for one that would make more than ``MAX_SHARDS`` (a multiple of
    4: a float32 is never split)."""
    small = min(SHARD_BYTES, max(4, total_bytes // MIN_SHARDS // 4 * 4))
    return max(small, -(-total_bytes // (MAX_SHARDS * 4)) * 4)


def _sharded(model: Any, directory: Path) -> dict[str, Any]:
    shard_bytes = shard_size(sum(int(np.prod(w.shape)) * 4 for w in model.weights))
    model_json = _convert(model, directory / "sharded", weight_shard_size_bytes=shard_bytes)
    return {"directory": "sharded", "shard_bytes": shard_bytes, "shards": shard_count(model_json)}


def _graph(model: Any, directory: Path) -> dict[str, Any]:
    """SavedModel (serving signature) -> graph model; records which signature names are Keras' inputs/outputs."""
    import tempfile

    import tensorflow as tf
    from tensorflowjs.converters import convert_tf_saved_model

    module, signatures = serving_module(model)
    input_keys, output_keys = keras_names(model.inputs), list(model.output_names)
    with tempfile.TemporaryDirectory() as saved_model:
        tf.saved_model.save(module, saved_model, signatures=signatures)
        convert_tf_saved_model(saved_model, str(directory / GRAPH_DIRECTORY))
        signature = read_signature(directory / GRAPH_DIRECTORY)
        keyed = all(key in signature.get("inputs", {}) for key in input_keys) and all(
            key in signature.get("outputs", {}) for key in output_keys)
        tensor_names = None if keyed else signature_tensor_names(
            tf.saved_model.load(saved_model).signatures["serving_default"])
    return graph_entry(signature, input_keys, output_keys, tensor_names)


def serving_module(model: Any) -> tuple[Any, dict[str, Any]]:
    """A ``tf.Module`` holding only ``model``'s variables and its inference function, and the signatures to save
    it with: inputs named as Keras names them, outputs keyed by Keras' output names. Saving the Keras model
    itself would also trace every layer's call for Keras' own metadata (25 s instead of 3 s for MobileNetV2),
    which a graph model does not use."""
    import tensorflow as tf

    names = keras_names(model.inputs)
    specs = [tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype, name=name)
             for tensor, name in zip(model.inputs, names)]

    @tf.function(input_signature=specs)
    def serve(*inputs: Any) -> dict[str, Any]:
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(model.output_names, outputs if isinstance(outputs, list) else [outputs]))

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = serve
    return module, {"serving_default": serve}


def read_signature(graph_directory: Path) -> dict[str, Any]:
    """The serving signature a converted graph model's ``model.json`` records."""
    return json.loads((graph_directory / MODEL_JSON).read_text())["signature"]


def signature_tensor_names(serve: Any) -> dict[str, dict[str, str]]:
    """For a loaded serving signature, the graph tensor of each input and output key (``{"inputs": {"input_7":
    "input_7:0"}, "outputs": {"out_a": "Identity:0"}}``): its flattened inputs and outputs follow the keys' sorted
    order, as TensorFlow flattens a dict (the captured variables come after the inputs)."""
    return {"inputs": {key: tensor.name for key, tensor in zip(sorted(serve.structured_input_signature[1]),
                                                               serve.inputs)},
            "outputs": {key: tensor.name for key, tensor in zip(sorted(serve.structured_outputs), serve.outputs)}}


def graph_entry(signature: dict[str, Any], input_keys: list[str], output_keys: list[str],
                tensor_names: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The ``graph`` conversion's manifest entry: for each of the reference's inputs and outputs, its
    signature key and the graph node tfjs feeds or fetches. The converter keys a signature entry by its tensor's
    name instead of the signature's key when the key cannot be told by dtype and shape (two inputs or outputs of one
    shape, tensorflowjs ``_find_signature_def_name``): ``tensor_names`` (``signature_tensor_names``) finds those."""
    def nodes(side: str, keys: list[str]) -> list[dict[str, str]]:
        tensors = signature.get(side, {})
        aliases = (tensor_names or {}).get(side, {})
        found = {key: tensors.get(key) or tensors.get(aliases.get(key, "")) for key in keys}
        missing = [key for key, tensor in found.items() if tensor is None]
        if missing:
            raise ValueError(f"the serving signature has no {side[:-1]} called {missing[0]!r} "
                             f"(it has {sorted(tensors)})")
        return [{"key": key, "node": tensor["name"]} for key, tensor in found.items() if tensor is not None]

    return {"directory": GRAPH_DIRECTORY, "inputs": nodes("inputs", input_keys),
            "outputs": nodes("outputs", output_keys)}
