"""The other conversions of a graph model (SavedModel, Keras 3's SavedModel route, ONNX, PyTorch, a converted
graph model): quantized and sharded, made from its converted ``graph/model.json`` with the converter's own weight
reader and writer (``tensorflowjs.read_weights`` / ``write_weights``: what ``--quantize_*`` and
``--weight_shard_size_bytes`` do), so every route gets them, whatever it was converted from.

A quantized conversion's check needs the model's answer with the dequantized weights: the converted graph
(its ``modelTopology`` is a GraphDef) is run in TensorFlow with the weights tfjs reads back. The same runner must
first reproduce the reference outputs with the float weights; a graph TensorFlow cannot run that way (the converter
fuses ops into forms only tfjs takes) records why, and the quantized checks skip saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.conversions import (
    FLOAT16_RELATIVE_STEP,
    MODEL_JSON,
    QUANTIZATION_LEVELS,
    conversion_failure,
    quantized_conversion,
    shard_count,
    shard_size,
    weight_bytes,
)
from harness.reference.directory import (
    GRAPH_DIRECTORY,
    MANIFEST,
    ReferenceModel,
    load_reference,
    save_arrays,
    write_manifest,
)

# The runner reproduces the reference outputs within this before its dequantized answers are used: the same graph in
# the same TensorFlow (measured: 0 to 6e-8 on the Keras 3 test models; float32 rounding of a reordered sum at most).
RUNNER_AGREEMENT = 1e-5


def add_graph_conversions(reference: ReferenceModel, names: tuple[str, ...]) -> ReferenceModel:
    """``reference`` (a graph model) with the quantized and sharded conversions of ``names`` made next to it, each
    that could not be made recorded (``failed_conversions``, or ``unavailable`` with the reason)."""
    wanted = [name for name in names if name != GRAPH_DIRECTORY]
    if not wanted:
        return reference
    graph_json = reference.directory / reference.model_json
    manifest = json.loads((reference.directory / MANIFEST).read_text())
    feeds, fetches = _nodes(reference)
    inputs, outputs = reference.load_inputs(), reference.load_outputs()
    runner_problem = _runner_problem(graph_json, feeds, fetches, inputs, outputs)
    for name in wanted:
        try:
            if name == "sharded":
                entry = _sharded(graph_json, reference.directory / name)
            elif runner_problem is not None:
                manifest.setdefault("unavailable", {})[name] = runner_problem
                continue
            else:
                entry = _quantized(graph_json, reference.directory, name, feeds, fetches, inputs, outputs,
                                   reference.float32_rounding, [o["key"] for o in fetches])
        except Exception as error:  # noqa: BLE001 - the converter's refusal is the finding, whatever it raises
            manifest.setdefault("failed_conversions", {})[name] = conversion_failure(name, error)
            continue
        manifest["conversions"][name] = {**entry, "feeds": feeds, "fetches": fetches}
    write_manifest(reference.directory, manifest)
    return load_reference(reference.directory)


def _nodes(reference: ReferenceModel) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The graph nodes the reference's inputs feed and its outputs are fetched from (its ``graph`` conversion)."""
    graph = reference.conversion(GRAPH_DIRECTORY)
    return list(graph["inputs"]), list(graph["outputs"])


def rewritten(model_json: Path, target: Path, **write: Any) -> Path:
    """``model_json``'s graph model written again into ``target`` by the converter's weight writer with ``write``'s
    options (``quantization_dtype_map``, ``shard_size_bytes``); its topology and signature unchanged."""
    from tensorflowjs.read_weights import read_weights
    from tensorflowjs.write_weights import write_weights

    document = json.loads(model_json.read_text())
    groups = read_weights(document["weightsManifest"], str(model_json.parent))
    target.mkdir(parents=True)
    document["weightsManifest"] = write_weights(groups, str(target), write_manifest=False, **write)
    (target / MODEL_JSON).write_text(json.dumps(document))
    return target / MODEL_JSON


def run_graph_model(model_json: Path, feeds: list[dict[str, str]], fetches: list[dict[str, str]],
                    inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The converted graph model at ``model_json`` run in TensorFlow (its GraphDef with the weights tfjs reads,
    dequantized), fed ``inputs`` at ``feeds``' nodes; the outputs at ``fetches``' nodes."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2
    from tensorflowjs.read_weights import read_weights

    document = json.loads(model_json.read_text())
    graph_def = json_format.ParseDict(document["modelTopology"], graph_pb2.GraphDef())
    weights = {weight["name"]: weight["data"] for group in read_weights(document["weightsManifest"],
                                                                        str(model_json.parent)) for weight in group}
    for node in graph_def.node:
        if node.name in weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name]))
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        ran = session.run([_tensor(f["node"]) for f in fetches],
                          {_tensor(f["node"]): x for f, x in zip(feeds, inputs)})
    return [np.asarray(a) for a in ran]


def _tensor(node: str) -> str:
    return node if ":" in node else f"{node}:0"


def _runner_problem(model_json: Path, feeds: list[dict[str, str]], fetches: list[dict[str, str]],
                    inputs: list[np.ndarray], outputs: list[np.ndarray]) -> str | None:
    """Why the converted graph cannot stand for the model in TensorFlow (so a quantized conversion has no answer with
    its dequantized weights), or None when it reproduces ``outputs``."""
    try:
        ran = run_graph_model(model_json, feeds, fetches, inputs)
    except Exception as error:  # noqa: BLE001 - whatever TensorFlow says, the quantized check cannot be judged
        return (f"no answer with the dequantized weights: TensorFlow cannot run the converted graph "
                f"({type(error).__name__}: {_what_failed(str(error))})")
    worst = max(float(np.max(np.abs(a.astype(np.float64) - e))) if a.size else 0.0 for a, e in zip(ran, outputs))
    if worst > RUNNER_AGREEMENT:
        return (f"no answer with the dequantized weights: TensorFlow running the converted graph differs from the "
                f"reference by {worst:.2g} with the float weights")
    return None


def _what_failed(message: str) -> str:
    """The line of a TensorFlow error that says what failed (not its "Graph execution error:" or node lines)."""
    said = [line.strip() for line in message.splitlines() if line.strip() and not line.startswith(
        ("Graph execution error", "Detected at node", "Node:", "Original stack", "\t", " ", "[["))]
    return said[0] if said else message.strip()[:200]


def _sharded(model_json: Path, target: Path) -> dict[str, Any]:
    shard_bytes = shard_size(weight_bytes(model_json))
    written = rewritten(model_json, target, shard_size_bytes=shard_bytes)
    return {"directory": target.name, "shard_bytes": shard_bytes, "shards": shard_count(written)}


def _quantized(model_json: Path, directory: Path, name: str, feeds: list[dict[str, str]],
               fetches: list[dict[str, str]], inputs: list[np.ndarray], outputs: list[np.ndarray],
               float32_rounding: float, keys: list[str]) -> dict[str, Any]:
    dtype = name.removeprefix(quantized_conversion(""))
    written = rewritten(model_json, directory / name, quantization_dtype_map={dtype: True})
    dequantized = run_graph_model(written, feeds, fetches, inputs)
    effect = max(float(np.max(np.abs(d.astype(np.float64) - f))) if d.size else 0.0
                 for d, f in zip(dequantized, outputs))
    return {
        "directory": name,
        "quantization": dtype,
        "weight_bytes": weight_bytes(written),
        "max_step": _max_step(model_json, dtype),
        "output_effect": effect,
        "float32_rounding": float32_rounding,
        "outputs": save_arrays(directory / name, "dequantized_output", keys,
                               [d.astype(np.float32) for d in dequantized]),
    }


def _max_step(model_json: Path, dtype: str) -> float:
    """The largest quantization step over the graph's float weights: (max - min) / levels, or float16 rounding."""
    from tensorflowjs.read_weights import read_weights

    document = json.loads(model_json.read_text())
    steps = [0.0]
    for group in read_weights(document["weightsManifest"], str(model_json.parent)):
        for weight in group:
            values = np.asarray(weight["data"])
            if values.dtype.kind != "f" or not values.size:
                continue
            values = values.astype(np.float64)
            steps.append(float(np.max(np.abs(values))) * FLOAT16_RELATIVE_STEP if dtype == "float16"
                         else float(values.max() - values.min()) / QUANTIZATION_LEVELS[dtype])
    return max(steps)
