"""A graph model node by node: every node's output in tfjs (``execute`` with node names) against TensorFlow's, as
Polygraphy marks all outputs; then the first diverging node alone, fed TensorFlow's own values of its inputs.

TensorFlow runs the very graph tfjs runs: the converted ``model.json``'s GraphDef with its weights put back into
the Const nodes it stripped them from, imported and run node by node. An op TensorFlow does not know (the converter
adds a few of its own, such as ``FusedDepthwiseConv2dNative``) means no node-by-node comparison, and the report says
so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NOT_COMPARED = ("Const", "Placeholder", "NoOp")


@dataclass
class GraphNodes:
    """The nodes compared, in an order where each comes after its inputs, and each node's inputs and op."""

    order: list[str]
    inputs: dict[str, list[str]]
    ops: dict[str, str]


def read_nodes(model_json: Path) -> GraphNodes:
    """``model_json``'s nodes that compute (not constants or placeholders), inputs first."""
    nodes = json.loads(model_json.read_text())["modelTopology"]["node"]
    inputs = {node["name"]: [name.split(":")[0] for name in node.get("input", []) if not name.startswith("^")]
              for node in nodes}
    ops = {node["name"]: node["op"] for node in nodes}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        stack = [(name, False)]
        while stack:
            current, ready = stack.pop()
            if ready:
                order.append(current)
                continue
            if current in seen:
                continue
            seen.add(current)
            stack.append((current, True))
            stack += [(parent, False) for parent in reversed(inputs.get(current, [])) if parent not in seen]

    for node in nodes:
        visit(node["name"])
    return GraphNodes([name for name in order if ops.get(name) not in NOT_COMPARED], inputs, ops)


def fixed_batches(model_json: Path) -> dict[str, int]:
    """The placeholders of ``model_json``'s graph whose batch dimension is fixed, and its size (a graph converted
    on a route that fixed the batch takes that batch only)."""
    nodes = json.loads(model_json.read_text())["modelTopology"]["node"]
    fixed = {}
    for node in nodes:
        dims = node.get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])
        if node["op"] == "Placeholder" and dims and int(dims[0].get("size", -1)) > 0:
            fixed[node["name"]] = int(dims[0]["size"])
    return fixed


def tensorflow_graph(model_json: Path) -> Any:
    """The converted graph as a TensorFlow ``GraphDef``, its weights back in their Const nodes."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflowjs.read_weights import read_weights

    raw = json.loads(model_json.read_text())
    graph = json_format.ParseDict(raw["modelTopology"], tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
    weights = {entry["name"]: entry["data"]
               for entry in read_weights(raw["weightsManifest"], str(model_json.parent), flatten=True)}
    for node in graph.node:
        if node.op == "Const" and node.name in weights:
            # in the Const node's own dtype: the converter stores int64 weights as int32 (and TensorFlow aborts the
            # process, not raises, on a Const whose tensor is not of its dtype)
            dtype = tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(weights[node.name]).astype(dtype)))
    return graph


def tensorflow_values(model_json: Path, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """TensorFlow's output 0 of each node of ``names`` on ``feeds`` (by node name); a ``ValueError`` names the ops
    TensorFlow does not know, if the graph has any."""
    import tensorflow as tf

    unknown = unknown_ops(model_json)
    if unknown:
        raise ValueError(f"TensorFlow has no op {', '.join(unknown)} (the converter's own), so it cannot run the "
                         "converted graph node by node")
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(tensorflow_graph(model_json), name="")
        fetches = {name: graph.get_tensor_by_name(f"{name}:0") for name in names}
        with tf.compat.v1.Session(graph=graph) as session:
            values = session.run(fetches, {graph.get_tensor_by_name(f"{node}:0"): value
                                           for node, value in feeds.items()})
    return {name: np.asarray(value) for name, value in values.items()}


def unknown_ops(model_json: Path) -> list[str]:
    """The ops of ``model_json``'s graph TensorFlow does not know (the converter's own fused ops)."""
    from tensorflow.python.framework import op_def_registry

    nodes = json.loads(model_json.read_text())["modelTopology"]["node"]
    return sorted({node["op"] for node in nodes if op_def_registry.get(node["op"]) is None})
