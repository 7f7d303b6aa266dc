"""The model formats ``tfjs-parity check`` takes, one record each: what the MODEL path holds (``formats.detect_format``
tells them apart), how its reference is built, and which checks apply to it. ``run.model_check`` asks this registry;
a new format is a record here, its detection in ``formats.detect_format``, and its builder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.reference.directory import ReferenceModel
from harness.reference.formats import ModelFormatError, export_keras3_savedmodel, torch_model
from harness.reference.user_build import InputPlan, build_graph_reference, build_tfjs_reference

# (the MODEL path, the reference directory to fill, the rows' name, the inputs, the user's --expected outputs, the
# route the user forced with --route, if any)
ReferenceBuild = Callable[[Path, Path, str, InputPlan, tuple[Path, ...], str | None], ReferenceModel]

EVERY_CHECK = "every check: inference, conversions, training (with a training setup) and storage"
GRAPH_CHECKS = ("graph-model, its quantized and sharded conversions, save-load and model-management, memory and speed: "
                "tfjs trains layers models only")


@dataclass(frozen=True)
class ModelFormat:
    """One kind of MODEL: how it is recognised, how its reference is built, and which checks apply."""

    name: str
    holds: str  # what the path holds, as detection sees it
    checks: str  # which checks apply, in words
    # None: a Keras 2 model, loaded with tf_keras and built through the layers pipeline (preflight, layer probes,
    # ``user_build.build_layers_reference``); else the builder of its reference (for keras3: of its SavedModel route,
    # taken with --via-savedmodel or when the layers route is refused).
    build: ReferenceBuild | None = None


def _tfjs(path: Path, directory: Path, name: str, inputs: InputPlan, expected: tuple[Path, ...],
          _route: str | None) -> ReferenceModel:
    model_json = path if path.name == "model.json" else path / "model.json"
    return build_tfjs_reference(model_json, directory, name, inputs.files, expected)


def _savedmodel(path: Path, directory: Path, name: str, inputs: InputPlan, _expected: tuple[Path, ...],
                _route: str | None) -> ReferenceModel:
    return build_graph_reference(path, directory, name, inputs)


def _keras3(path: Path, directory: Path, name: str, inputs: InputPlan, _expected: tuple[Path, ...],
            _route: str | None) -> ReferenceModel:
    with tempfile.TemporaryDirectory() as exported:
        export_keras3_savedmodel(path, Path(exported) / "saved_model")
        return build_graph_reference(Path(exported) / "saved_model", directory, name, inputs)


def _onnx(path: Path, directory: Path, name: str, inputs: InputPlan, _expected: tuple[Path, ...],
          route: str | None) -> ReferenceModel:
    from harness.reference.onnx_build import build_onnx_reference

    return build_onnx_reference(path, directory, name, inputs, route=route)


def _torch(path: Path, directory: Path, name: str, inputs: InputPlan, _expected: tuple[Path, ...],
           route: str | None) -> ReferenceModel:
    from harness.reference.torch_build import build_torch_reference

    found = torch_model(path)
    if found is None:
        raise ModelFormatError(f"{path}: not FILE.py:FACTORY naming an existing file")
    return build_torch_reference(*found, directory, name, inputs, route)


MODEL_FORMATS: dict[str, ModelFormat] = {f.name: f for f in (
    ModelFormat("keras-h5", "a Keras 2 .h5 file with its architecture (model_config)", EVERY_CHECK),
    ModelFormat("tf-keras-savedmodel", "a tf_keras SavedModel directory (it has keras_metadata.pb)", EVERY_CHECK),
    ModelFormat("tf-savedmodel", "any other TF SavedModel directory: its serving signature, converted to a graph model",
                GRAPH_CHECKS, _savedmodel),
    ModelFormat("keras3", "a Keras 3 .keras file (or an .h5 Keras 3 wrote): rebuilt as a Keras 2 twin and converted "
                "as a layers model (reference.keras3_twin); with --via-savedmodel, or where the twin is refused, "
                "exported with model.export() to a SavedModel and converted to a graph model", EVERY_CHECK, _keras3),
    ModelFormat("tfjs-layers", "a converted tfjs layers model (its directory or model.json), with --inputs and "
                "--expected", "topology, predict and storage (no Keras model to convert again or train)", _tfjs),
    ModelFormat("tfjs-graph", "a converted tfjs graph model (its directory or model.json), with --inputs and "
                "--expected", GRAPH_CHECKS, _tfjs),
    ModelFormat("onnx", "an .onnx file: onnxruntime's outputs are the reference, onnx2tf and the converter make the "
                "graph model", GRAPH_CHECKS, _onnx),
    ModelFormat("torch", "FILE.py:FACTORY, a function returning a PyTorch module and example inputs: PyTorch's "
                "outputs are the reference, the module goes the ONNX route", GRAPH_CHECKS, _torch),
)}
