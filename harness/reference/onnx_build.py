"""The reference of an ONNX model (``tfjs-parity check model.onnx``), each hop of its route measured.

The route: ONNX -> TensorFlow SavedModel (onnx2tf, in a process of its own) -> tfjs graph model (the
converter) -> the browser. The reference outputs come from onnxruntime (CPU) on seeded inputs of the
model's declared shapes and dtypes (or ``--inputs``). onnx2tf turns channels-first tensors (NCHW)
channels-last (NHWC); the reference's inputs and outputs are stored in the converted model's layout,
and the manifest's ``route`` says which were transposed and keeps the outputs before and after each hop
in Python (onnxruntime -> TensorFlow), for ``run.route`` to judge.

Which route converts the model is ``onnx_routes``' business: they are tried in order until TensorFlow's outputs
hold the onnxruntime -> TensorFlow hop.

The model's own float32 rounding error (its tolerance widening) is onnx's reference evaluator on the model
against the same evaluator on a float64 copy: one implementation, two precisions. (Against onnxruntime's outputs
it would count where onnxruntime computes another thing as rounding: AveragePool with ceil_mode divides the
overhanging window by the whole kernel there, by its part inside the input in PyTorch and the evaluator.)
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.reference.degeneracy import judge_reference
from harness.reference.directory import (
    GRAPH_DIRECTORY,
    ReferenceModel,
    load_reference,
    save_arrays,
    save_hop,
    write_manifest,
)
from harness.reference.formats import ModelFormatError
from harness.reference.onnx_routes import (
    OnnxRoute,
    RouteFailed,
    best_layout,
    first_line,
    grouped_convolution_nodes,
    hop_badness,
    named_node,
    onnx2tf_cause,
    prepare,
    routes_to_try,
    tensorflow_node,
    what_to_try,
)
from harness.reference.preflight import Problem
from harness.reference.user_build import (
    InputPlan,
    InputSpec,
    UnsupportedModelError,
    convert_saved_model,
    generated_advice,
    make_inputs,
)

INSTALL_HINT = ("pip install 'tfjs-parity[onnx]' && pip install --no-deps onnx2tf==1.29.24 (onnx2tf pins exact "
                "versions that clash with TensorFlow's; docs/onnx.md)")
ONNX2TF_CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"
CHANNELS_LAST = {3: (0, 2, 1), 4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}  # NCW, NCHW, NCDHW -> channels last
ROUTES_DIRECTORY = "routes"  # each route's graph model while the routes are tried (the chosen one moves to graph/)
ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 11: "float64"}


class OnnxToolsMissing(HarnessError):
    """onnx, onnxruntime or onnx2tf is not installed."""


@dataclass(frozen=True)
class OnnxTensor:
    """An input or output of the ONNX graph: its name, shape (None where dynamic) and numpy dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def onnx_tensors(path: Path) -> tuple[list[OnnxTensor], list[OnnxTensor]]:
    """The graph's inputs (initializers left out) and outputs."""
    onnx = _require("onnx")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as error:  # noqa: BLE001 - protobuf raises its own DecodeError, the checker its own
        raise ModelFormatError(f"{path}: not a valid ONNX model: {str(error).strip().splitlines()[0]}") from None
    if not model.graph.node:
        raise ModelFormatError(f"{path}: not a valid ONNX model: its graph has no nodes")
    initializers = {i.name for i in model.graph.initializer}

    def tensor(value: Any) -> OnnxTensor:
        kind = value.type.tensor_type
        if kind.elem_type not in ONNX_DTYPES:
            raise ModelFormatError(f"{path}: {value.name!r} has ONNX element type {kind.elem_type}, which the harness "
                                   f"does not generate inputs for (it does {sorted(ONNX_DTYPES.values())})")
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim)
        return OnnxTensor(value.name, dims, ONNX_DTYPES[kind.elem_type])

    inputs = [tensor(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [tensor(v) for v in model.graph.output]


def reference_inputs(path: Path, inputs: list[OnnxTensor], plan: InputPlan) -> list[np.ndarray]:
    """Seeded inputs of the declared shapes and dtypes (a fixed batch dimension is kept; a dynamic one is
    ``plan.batch``), or the user's ``--inputs``; ``ModelFormatError`` names an input whose shape is unknown."""
    batches = {i.shape[0] for i in inputs if i.shape and i.shape[0] is not None}
    if len(batches) > 1:
        raise ModelFormatError(f"{path}: the inputs fix different batch sizes ({sorted(batches)})")
    if batches == {1} and not plan.files:
        raise ModelFormatError(f"{path}: the batch dimension is fixed at 1, so a reference cannot vary across a batch; "
                               "export the model with a dynamic batch axis (torch.onnx.export(..., dynamic_axes="
                               "{'x': {0: 'batch'}})) or a batch of at least 2")
    plan = dataclasses.replace(plan, batch=batches.pop()) if batches else plan
    for tensor in inputs:
        if not tensor.shape:
            raise ModelFormatError(f"{path}: input {tensor.name!r} is a scalar; the harness needs a batch dimension")
    specs = [InputSpec(i.name, i.shape[1:], i.dtype) for i in inputs]
    return make_inputs(specs, plan)


def onnxruntime_outputs(path: Path, names: list[str], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's outputs (CPU provider, every graph output in order) on ``arrays``."""
    ort = _require("onnxruntime")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [np.asarray(o) for o in session.run(None, dict(zip(names, arrays)))]
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception classes
        raise ModelFormatError(f"{path}: onnxruntime cannot run it: {error}") from None


def float32_rounding(path: Path, names: list[str], arrays: list[np.ndarray]) -> float:
    """The largest difference between ``onnx.reference``'s float32 outputs of the model and those of a float64 copy;
    0.0 when either cannot run (an op without an implementation there: the widening is not known)."""
    onnx = _require("onnx")
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(str(path))
    try:
        single_outputs = ReferenceEvaluator(model).run(None, dict(zip(names, arrays)))
    except Exception:  # noqa: BLE001 - an op the evaluator does not implement
        return 0.0
    double, single = onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        if value.type.tensor_type.elem_type == single:
            value.type.tensor_type.elem_type = double
    for i, initializer in enumerate(model.graph.initializer):
        if initializer.data_type == single:
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(initializer).astype(np.float64), initializer.name))
    for node in model.graph.node:  # Cast to float32 and float constants would bring float32 back
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == single:
                attribute.i = double
            elif attribute.name == "value" and attribute.t.data_type == single:
                attribute.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attribute.t).astype(np.float64)))
    try:
        exact = ReferenceEvaluator(model).run(None, {n: a.astype(np.float64) if a.dtype.kind == "f" else a
                                                      for n, a in zip(names, arrays)})
    except Exception:  # noqa: BLE001 - an op with no float64 implementation: the widening is not known
        return 0.0
    return max(float(np.max(np.abs(np.asarray(o, dtype=np.float64) - np.asarray(e, dtype=np.float64))))
               for o, e in zip(single_outputs, exact))


def onnx_to_saved_model(path: Path, inputs: list[OnnxTensor], arrays: list[np.ndarray], target: Path,
                        switches: list[str]) -> None:
    """onnx2tf with ``switches``, in a process of its own and a private working directory, its trial runs on the
    reference's input shapes; ``RouteFailed`` says what failed (an op it cannot convert, or its last error)."""
    _require("onnx2tf")
    shapes = [f"{i.name}:{','.join(str(d) for d in a.shape)}" for i, a in zip(inputs, arrays)]
    with tempfile.TemporaryDirectory(prefix="tfjs-parity-onnx2tf-") as work:
        # onnx2tf checks 4-D image inputs on sample images it downloads into its working directory unless they
        # are there; no machine here reaches GitHub, so seeded images stand in (they only feed its own check).
        np.save(Path(work) / ONNX2TF_CALIBRATION,
                np.random.default_rng(0).uniform(0.0, 1.0, (20, 128, 128, 3)).astype(np.float32))
        # onnx2tf settles some layouts by matching its TensorFlow ops' outputs to onnxruntime's on trial inputs,
        # of batch 1 unless told (-sh; -ois applies only through onnxsim, which -nuo turns off). With batch 1 a
        # Flatten after global pooling matched "flatten the batch in" wherever the two agreed to the bit (seen
        # on an AMD EPYC): the model then took a batch of 1 only.
        done = subprocess.run([sys.executable, "-m", "onnx2tf", "-i", str(path.resolve()), "-o", str(target),
                               "-nuo", "-n", "-sh", *shapes, *switches], cwd=work, capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0 or not (target / "saved_model.pb").is_file():
        raise RouteFailed(onnx2tf_cause(done.stdout + done.stderr))


def layouts_that_fit(onnx_shape: tuple[int, ...], tf_shape: tuple[int | None, ...]) -> list[tuple[int, ...] | None]:
    """The permutations that take an ONNX tensor to the converted model's layout: None (the same) and the
    channels-last one, each where the shape fits (both when the moved dimensions are equal);
    ``ModelFormatError`` when neither does."""
    def fits(shape: tuple[int, ...]) -> bool:
        return len(shape) == len(tf_shape) and all(t is None or t == d for d, t in zip(shape, tf_shape))

    permutation = CHANNELS_LAST.get(len(onnx_shape))
    found = ([None] if fits(tuple(onnx_shape)) else []) + (
        [permutation] if permutation and fits(tuple(onnx_shape[i] for i in permutation)) else [])
    if not found:
        raise ModelFormatError(f"onnx2tf changed a tensor's shape from {list(onnx_shape)} to {list(tf_shape)}, which "
                               "is not a channels-last transposition the harness can undo")
    return found


@dataclass(frozen=True)
class Upstream:
    """Where an ONNX model came from, when the harness exported it: that framework's inputs and outputs (the
    reference, in the ONNX layout), the hop's name (``torch_build``) and its modules (path -> class), which name
    the module an ONNX node came from."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    runtime: str  # what computed the reference outputs, e.g. "PyTorch (eval mode)"
    hop: str  # e.g. "PyTorch -> onnxruntime (torch.onnx.export)"
    modules: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class RouteRun:
    """A route that converted and ran: TensorFlow's outputs in the converted layout, onnxruntime's moved to it,
    the layouts, and how far the two are apart (error / the Python-hop tolerance)."""

    route: OnnxRoute
    in_keys: list[str]
    out_keys: list[str]
    in_layouts: list[tuple[int, ...] | None]
    out_layouts: list[tuple[int, ...] | None]
    tf_inputs: list[np.ndarray]
    produced: list[np.ndarray]
    entry: dict[str, Any]
    badness: float


def build_onnx_reference(path: Path, directory: Path, name: str, plan: InputPlan,
                         upstream: Upstream | None = None, route: str | None = None) -> ReferenceModel:
    """``directory`` with the graph model onnx2tf and the converter make of ``path``, and the reference (in the
    converted model's layout): onnxruntime's outputs, or ``upstream``'s on its inputs. The routes
    (``onnx_routes``) are tried in order, or only ``route``, until one holds the onnxruntime -> TensorFlow hop;
    when none converts, ``UnsupportedModelError`` names each route's cause. The manifest's ``route`` holds the
    routes tried and the outputs before and after each Python-side hop, in order."""
    inputs, outputs = onnx_tensors(path)
    arrays = upstream.inputs if upstream else reference_inputs(path, inputs, plan)
    from_onnxruntime = onnxruntime_outputs(path, [i.name for i in inputs], arrays)
    expected = upstream.outputs if upstream else from_onnxruntime
    weak = judge_reference(expected, [o.name for o in outputs], name, generated_advice(plan))
    rounding = float32_rounding(path, [i.name for i in inputs], arrays)
    modules = upstream.modules if upstream else {}
    runtime = upstream.runtime if upstream else "onnxruntime (CPU)"
    grouped = grouped_convolution_nodes(path)
    tried: list[dict[str, str]] = []
    runs: list[RouteRun] = []
    for candidate in routes_to_try(route):
        try:
            run = _run_route(candidate, path, inputs, outputs, arrays, [from_onnxruntime, expected], directory, grouped,
                             modules, rounding)
        except RouteFailed as failure:
            tried.append({"route": candidate.name, "cause": str(failure)})
            continue
        runs.append(run)
        if run.badness <= 1.0:
            break
        witnesses = f"onnxruntime's and {runtime}'s" if upstream else "onnxruntime's"
        tried.append({"route": candidate.name, "cause": f"TensorFlow's outputs drift from {witnesses}: "
                                                       f"{run.badness:.2g} of the Python-hop tolerance"})
    if not runs:
        shutil.rmtree(directory / ROUTES_DIRECTORY, ignore_errors=True)  # what the failed routes left
        raise UnsupportedModelError([Problem("", "route", t["route"], t["cause"]) for t in tried] + [
            Problem("", "what", "to try", what_to_try([t["cause"] for t in tried]))])
    chosen = min(runs, key=lambda r: r.badness)  # the one that holds, else the closest: preflight names the drift
    _keep_graph(directory, chosen.route)

    def converted_layout(arrays: list[np.ndarray]) -> list[np.ndarray]:
        return [a.transpose(p) if p else a for a, p in zip(arrays, chosen.out_layouts)]

    in_keys, out_keys = chosen.in_keys, chosen.out_keys
    hops = [save_hop(directory, 1, "onnxruntime -> TensorFlow (onnx2tf)", out_keys, chosen.produced,
                 converted_layout(from_onnxruntime))]
    if upstream:
        hops.insert(0, save_hop(directory, 0, upstream.hop, out_keys, converted_layout(from_onnxruntime),
                            converted_layout(upstream.outputs)))
    write_manifest(directory, {
        **({"weak_reference": weak} if weak else {}),
        "name": name,
        "model_json": f"{GRAPH_DIRECTORY}/model.json",
        "inputs": save_arrays(directory, "input", in_keys,
                              [_for_tfjs(a, k, path) for a, k in zip(chosen.tf_inputs, in_keys)]),
        "outputs": save_arrays(directory, "output", out_keys,
                               [r.astype(np.float32) for r in converted_layout(expected)]),
        "weights": [],
        "param_count": 0,
        "float32_rounding": rounding,
        "conversions": {"graph": chosen.entry},
        "route": {
            "from": "pytorch" if upstream else "onnx",
            "runtime": runtime,
            "name": chosen.route.name,
            "what": chosen.route.what + ("; grouped convolutions split (onnx2tf -dgc)" if grouped else ""),
            "tried": [t for t in tried if t["route"] != chosen.route.name],
            "transposed": [f"{kind} {key}: {_layout_name(p)}" for kind, keys, layouts in
                           (("input", in_keys, chosen.in_layouts), ("output", out_keys, chosen.out_layouts))
                           for key, p in zip(keys, layouts) if p],
            "hops": hops,
        },
    })
    return load_reference(directory)


def _run_route(route: OnnxRoute, path: Path, inputs: list[OnnxTensor], outputs: list[OnnxTensor],
               arrays: list[np.ndarray], witnesses: list[list[np.ndarray]], directory: Path, grouped: list[str],
               modules: dict[str, str], rounding: float) -> RouteRun:
    """Convert ``path`` on ``route`` into ``directory/routes/NAME/graph`` and run TensorFlow's SavedModel on the
    reference inputs, judged against the closest of ``witnesses`` (onnxruntime's outputs and the reference's: a
    route holds when it computes what the ONNX file does, or what the model does where onnxruntime computes
    another thing); ``RouteFailed`` names what failed and where (the ONNX node, op and PyTorch module)."""
    with tempfile.TemporaryDirectory(prefix="tfjs-parity-onnx-") as work:
        prepared = prepare(path, route, arrays[0].shape[0], Path(work))
        saved_model = Path(work) / "saved_model"
        try:
            onnx_to_saved_model(prepared, inputs, arrays, saved_model,
                                route.switches([i.name for i in inputs], bool(grouped)))
        except RouteFailed as failure:
            raise RouteFailed(_located(str(failure), prepared, modules)) from None
        try:
            converted = convert_saved_model(saved_model, directory / ROUTES_DIRECTORY / route.name)
        except UnsupportedModelError as error:
            raise RouteFailed("; ".join(str(p) for p in error.problems)) from None
        except ModelFormatError as error:
            raise RouteFailed(str(error)) from None
        in_keys = _match(converted.input_keys, [i.name for i in inputs], path, "input")
        out_keys = _match(converted.output_keys, [o.name for o in outputs], path, "output")
        choices = [layouts_that_fit(a.shape, converted.input_shapes[k]) for a, k in zip(arrays, in_keys)]
        runs, refusals = [], []
        for in_layouts in itertools.islice(itertools.product(*choices), 16):  # an ambiguous input: both ways
            tf_inputs = [a.transpose(p) if p else a for a, p in zip(arrays, in_layouts)]
            try:
                found = converted.run(dict(zip(in_keys, tf_inputs)))
            except Exception as error:  # noqa: BLE001 - TensorFlow raises its own kinds
                refusals.append(error)
                continue
            produced = [found[k] for k in out_keys]
            for expected in witnesses:
                out_layouts = [best_layout(layouts_that_fit(e.shape, p.shape), p, e)
                               for e, p in zip(expected, produced)]
                moved = [e.transpose(q) if q else e for e, q in zip(expected, out_layouts)]
                runs.append(RouteRun(route, in_keys, out_keys, list(in_layouts), out_layouts, tf_inputs, produced,
                                     converted.entry(in_keys, out_keys),
                                     max(hop_badness(p, m, rounding) for p, m in zip(produced, moved))))
    if not runs:
        refusal = refusals[0]
        raise RouteFailed(_located(f"TensorFlow cannot run the SavedModel onnx2tf made: {type(refusal).__name__}: "
                                   f"{first_line(refusal)}", path, modules, tensorflow_node(refusal)))
    return min(runs, key=lambda r: r.badness)


def _located(failure: str, path: Path, modules: dict[str, str], text: str | None = None) -> str:
    """``failure`` with the ONNX node it names (in ``text``, default the failure itself), its op and module."""
    where = named_node(text or failure, path, modules)
    return f"{failure} (at {where})" if where else failure


def _keep_graph(directory: Path, route: OnnxRoute) -> None:
    """Move the chosen route's graph model to ``directory/graph`` and drop the other routes' copies."""
    routes = directory / ROUTES_DIRECTORY
    shutil.move(str(routes / route.name / GRAPH_DIRECTORY), str(directory / GRAPH_DIRECTORY))
    shutil.rmtree(routes)


def _for_tfjs(array: np.ndarray, key: str, path: Path) -> np.ndarray:
    """An input as tfjs takes it: int64 (ONNX's usual index type) becomes int32, as the converter makes the graph's
    int64 tensors int32; ``ModelFormatError`` when a value does not fit."""
    if array.dtype != np.int64:
        return array
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        raise ModelFormatError(f"{path}: input {key!r} holds int64 values beyond int32, which tfjs cannot take")
    return array.astype(np.int32)


def _layout_name(permutation: tuple[int, ...]) -> str:
    return {3: "NCW -> NWC", 4: "NCHW -> NHWC", 5: "NCDHW -> NDHWC"}[len(permutation)]


def _match(keys: list[str], names: list[str], path: Path, side: str) -> list[str]:
    """The signature key of each ONNX tensor name (onnx2tf replaces characters TensorFlow does not allow)."""
    normal = {re.sub(r"[^A-Za-z0-9]", "_", key).strip("_").lower(): key for key in keys}
    found = [normal.get(re.sub(r"[^A-Za-z0-9]", "_", n).strip("_").lower()) for n in names]
    if None in found:
        if len(keys) == len(names) == 1:
            return keys
        raise ModelFormatError(f"{path}: the converted model's {side}s {sorted(keys)} do not match the ONNX {side}s "
                               f"{names}")
    return [key for key in found if key is not None]


def _require(module: str) -> Any:
    """Import one of the ONNX tools, or say how to install them."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise OnnxToolsMissing(f"checking an ONNX model needs {module}, which is not installed: {INSTALL_HINT}") \
            from None
