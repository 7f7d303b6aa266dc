"""The ways from an ONNX model to a TensorFlow SavedModel, tried in order until one holds every Python hop.

onnx2tf converts most graphs as they are. Where it does not, what a user would try next is a prepared copy of
the graph: constants folded (onnxruntime's basic graph optimizer, standard ONNX ops only), or the batch fixed at
the reference's so that shape arithmetic (``Shape -> Gather -> Concat -> Reshape``, which the TorchScript
exporter writes for every ``reshape``/``chunk`` on a dynamic batch) becomes constants, or onnx2tf told to keep
the inputs' layout (``-kat``) where its channels-last decision goes wrong. Switches that fit tfjs are on in
every route: ``-dgc`` splits grouped convolutions, which tfjs has no kernel for.

A route that fails is named with its cause, and the cause with the ONNX node and op it names (and, for a PyTorch
module, the module path and class the node came from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.formats import ModelFormatError


@dataclass(frozen=True)
class OnnxRoute:
    """One way through onnx2tf: how the ONNX graph is prepared and which switches onnx2tf gets."""

    name: str
    what: str  # what it changes, for the preflight row
    fold: bool = False  # constants folded by onnxruntime's basic graph optimizer first
    static_batch: bool = False  # the batch fixed at the reference's (then folded)
    keep_layout: bool = False  # onnx2tf -kat: the inputs keep their ONNX layout

    def switches(self, input_names: list[str], grouped: bool) -> list[str]:
        """onnx2tf's switches for this route (``grouped``: the graph has grouped convolutions)."""
        return ((["-kat", *input_names] if self.keep_layout else []) + (["-dgc"] if grouped else []))


ROUTES = (
    OnnxRoute("onnx2tf", "onnx2tf on the graph as it is"),
    OnnxRoute("onnx2tf-folded", "constants folded first (onnxruntime's basic graph optimizer)", fold=True),
    OnnxRoute("onnx2tf-kept-layout", "the inputs kept in their ONNX layout (onnx2tf -kat)", keep_layout=True),
    OnnxRoute("onnx2tf-static-batch", "the batch fixed at the reference's and constants folded: the converted "
              "model takes that batch only", fold=True, static_batch=True),
)
ROUTE_NAMES = tuple(route.name for route in ROUTES)


def routes_to_try(forced: str | None) -> tuple[OnnxRoute, ...]:
    """Every route in order, or only ``forced`` (``--route``); ``ModelFormatError`` names an unknown one."""
    if forced is None:
        return ROUTES
    chosen = [route for route in ROUTES if route.name == forced]
    if not chosen:
        raise ModelFormatError(f"--route {forced}: no such route for an ONNX or PyTorch model "
                               f"(the routes: {', '.join(ROUTE_NAMES)})")
    return tuple(chosen)


def prepare(path: Path, route: OnnxRoute, batch: int, work: Path) -> Path:
    """The ONNX file onnx2tf converts on ``route``: ``path`` itself, or a prepared copy in ``work``."""
    if not (route.fold or route.static_batch):
        return path
    import onnx
    import onnxruntime as ort

    source = path
    if route.static_batch:
        model = onnx.load(str(path))
        for value in [*model.graph.input, *model.graph.output]:
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].HasField("dim_value"):
                dims[0].dim_value = batch
        source = work / f"{route.name}-static.onnx"
        onnx.save(model, str(source))
    prepared = work / f"{route.name}.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(prepared)
    try:
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception classes
        raise RouteFailed(f"onnxruntime could not prepare the graph: {first_line(error)}") from None
    return prepared


def grouped_convolution_nodes(path: Path) -> list[str]:
    """The ``Conv`` / ``ConvTranspose`` nodes of ``path`` with 1 < group < input channels (tfjs has no kernel for
    them; a group equal to the channels is a depthwise convolution, which it has)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer}
    found = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        shape = weights.get(node.input[1]) if len(node.input) > 1 else None
        channels = (shape[1] * group if node.op_type == "Conv" else shape[0]) if shape else None
        if group > 1 and group != channels:
            found.append(node.name or node.output[0])
    return found


class RouteFailed(Exception):
    """One route did not hold: what went wrong, in one line."""


@dataclass(frozen=True)
class GraphNode:
    """An ONNX node a failure names: its name, op, and the PyTorch module it came from (path and class)."""

    name: str
    op: str
    module: str = ""

    def __str__(self) -> str:
        origin = f", from PyTorch module {self.module}" if self.module else ""
        return f"ONNX node {self.name} ({self.op}{origin})"


def named_node(text: str, path: Path, modules: dict[str, str]) -> str:
    """The ONNX node(s) of ``path`` that ``text`` (a converter's or TensorFlow's message) points at: by its name or
    one of its outputs' (onnx2tf prefixes them, e.g. ``wa/d1/d1.1/Reshape``; the most specific wins), else by the
    TensorFlow op it names (``conv2d_transpose``: the graph's ``ConvTranspose`` nodes); "" when none."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    best: tuple[int, Any] | None = None
    for node in nodes:
        for name in (node.name, *node.output):
            key = name.strip("/")
            if key and _mentions(text, key) and (best is None or len(key) > best[0]):
                best = (len(key), node)
    if best is not None:
        return str(_graph_node(best[1], modules))
    kinds = {onnx_op for tf_op, onnx_op in TF_TO_ONNX_OPS.items() if re.search(rf"\b{tf_op}(_\d+)?\b", text)}
    of_kind = [node for node in nodes if node.op_type in kinds]
    if not of_kind:
        return ""
    named = ", ".join(str(_graph_node(node, modules)) for node in of_kind[:3])
    return named if len(of_kind) == 1 else f"one of {len(of_kind)}: {named}{', ...' if len(of_kind) > 3 else ''}"


# TensorFlow ops (as onnx2tf's TFOpLambda layers and TensorFlow's kernels name them) and the ONNX op they come from
TF_TO_ONNX_OPS = {
    "conv2d_transpose": "ConvTranspose", "conv1d_transpose": "ConvTranspose", "conv3d_transpose": "ConvTranspose",
    "Conv2DCustomBackpropInput": "ConvTranspose", "Conv2DBackpropInput": "ConvTranspose",
    "convolution": "Conv", "conv2d": "Conv", "Conv2D": "Conv", "depthwise_conv2d": "Conv",
    "matmul": "MatMul", "MatMul": "MatMul", "BatchMatMulV2": "MatMul", "einsum": "Einsum",
    "reshape": "Reshape", "Reshape": "Reshape", "transpose": "Transpose", "gather": "Gather",
    "split": "Split", "strided_slice": "Slice", "resize": "Resize", "depth_to_space": "DepthToSpace",
}


def _graph_node(node: Any, modules: dict[str, str]) -> GraphNode:
    return GraphNode(node.name or node.output[0], node.op_type, module_of(node.name, modules))


def _mentions(text: str, key: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", text) is not None


def module_of(node_name: str, modules: dict[str, str]) -> str:
    """``path (Class)`` of the PyTorch module a TorchScript-exported node came from: its name is the module scopes
    then the op (``/d1/d1.1/Reshape``), the innermost scope being the module's full path."""
    for scope in reversed(node_name.strip("/").split("/")[:-1]):
        if scope in modules:
            return f"{scope} ({modules[scope]})"
    return ""


ONNX2TF_FAILURE = re.compile(r"^(?:\w+\.)*(?:\w*Error|\w*Exception): .+$", re.MULTILINE)
UNSUPPORTED_ONNX_OP = re.compile(r"(?P<op>[A-Za-z0-9_]+) OP is not yet implemented")
TERMINAL_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def onnx2tf_cause(output: str) -> str:
    """What onnx2tf's output says failed: the ONNX ops it cannot convert, else its last exception (else its last
    line), with the names in it that say where."""
    text = TERMINAL_COLOURS.sub("", output)
    ops = sorted({found.group("op") for found in UNSUPPORTED_ONNX_OP.finditer(text)})
    if ops:
        return (f"onnx2tf cannot convert the ONNX op{'s' if len(ops) > 1 else ''} {', '.join(ops)} (export the "
                "model without it: another op, or a lower opset)")
    found = ONNX2TF_FAILURE.findall(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    names = re.findall(r"name='([^']+)'", text)  # onnx2tf prints the TensorFlow op it was making
    cause = (found[-1] if found else lines[-1] if lines else "no output").strip()[:400]
    return f"onnx2tf failed: {cause}" + (f" (making {names[-1]})" if names and names[-1] not in cause else "")


def tensorflow_node(error: Exception) -> str:
    """The node TensorFlow's error names (``[[{{node wa/qkv/MatMul}}]]``), or its whole message."""
    found = re.findall(r"\{\{node ([^}]+)\}\}", str(error))
    return " ".join(found) if found else str(error)


def first_line(error: Exception) -> str:
    """An error's first line, without TensorFlow's ``{{function_node __inference_...}}`` prefix."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(error))
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def what_to_try(causes: list[str]) -> str:
    """What a user can change when no route converts the model, from the routes' causes."""
    text = " ".join(causes)
    if "ConvTranspose" in text:
        return ("onnx2tf 1.29 loses the layout of a transposed convolution in some graphs (after a GroupNorm, for "
                "one): export it as nn.Upsample followed by nn.Conv2d, or put the normalisation after it")
    if "onnx2tf cannot convert the ONNX op" in text:
        return "export the model without the op named above (another op, or another opset_version)"
    return ("export with a static batch (no dynamic_axes) or another opset_version, simplify the graph with onnxsim, "
            "or replace the op named above; --route NAME reruns one route")


# The Python-hop tolerance (``verdict.tolerances.PYTHON_HOP_TOLERANCE`` and its widening by the model's float32
# rounding error; a test keeps the numbers in step): a route holds when TensorFlow is within it of onnxruntime.
HOP_ATOL, HOP_RTOL, ROUNDING_MARGIN = 2e-6, 1e-5, 4.0


def hop_badness(produced: np.ndarray, expected: np.ndarray, rounding: float) -> float:
    """The largest error / Python-hop tolerance of ``produced`` against ``expected`` (at most 1 holds)."""
    if produced.shape != expected.shape:
        return float("inf")
    actual, wanted = produced.astype(np.float64), expected.astype(np.float64)
    allowed = HOP_ATOL + ROUNDING_MARGIN * rounding + HOP_RTOL * np.abs(wanted)
    return float(np.max(np.abs(actual - wanted) / allowed)) if actual.size else 0.0


def best_layout(candidates: list[tuple[int, ...] | None], produced: np.ndarray, expected: np.ndarray
                ) -> tuple[int, ...] | None:
    """Of the layouts that fit ``expected`` to ``produced``'s shape, the one whose numbers are closest (a tensor
    whose moved dimensions are all equal fits both ways: its numbers tell)."""
    def error(permutation: tuple[int, ...] | None) -> float:
        moved = expected.transpose(permutation) if permutation else expected
        return float(np.max(np.abs(produced.astype(np.float64) - moved.astype(np.float64)))) if moved.size else 0.0

    return min(candidates, key=error)
