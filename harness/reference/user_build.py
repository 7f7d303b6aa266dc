"""A reference directory (see ``directory``) for a user's own model: inputs, reference outputs, conversion.

- Keras 2 models (``.h5``, tf_keras SavedModel) are converted to a layers model (optionally also
  quantized); their reference outputs come from Keras.
- TF SavedModels (and Keras 3 files, exported to one) are converted to a graph model; their
  reference outputs come from TensorFlow running the serving signature.
- Converted tfjs models come with the user's inputs and reference outputs (``.npy`` files).

Inputs, when the user gives none, are seeded: integers in ``[0, input_dim)`` for an input that feeds
an Embedding, else uniform floats in ``input_range``, of the model's shapes and dtypes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.reference.conversions import graph_entry, read_signature, signature_tensor_names
from harness.reference.degeneracy import judge_reference
from harness.reference.directory import GRAPH_DIRECTORY, ReferenceModel, load_reference, save_arrays, write_manifest
from harness.reference.formats import ModelFormatError
from harness.reference.user_training import TrainingSetup, generated_training_data, read_training_data


@dataclass(frozen=True)
class InputPlan:
    """How to get the model's inputs: the user's ``.npy`` files, or generated ones."""

    files: tuple[Path, ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()  # per input, without the batch dimension (overrides the model's)
    batch: int = 8
    value_range: tuple[float, float] = (0.0, 1.0)
    seed: int = 0


@dataclass(frozen=True)
class InputSpec:
    """One model input as the harness needs it: name, shape without batch (None where unknown), dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    vocabulary: int | None = None  # an Embedding's input_dim, for an input that feeds one


def make_inputs(specs: list[InputSpec], plan: InputPlan) -> list[np.ndarray]:
    """The user's arrays (checked against ``specs``) or seeded arrays of the model's shapes and dtypes."""
    if plan.files:
        return load_user_arrays(plan.files, specs, "--inputs")
    if plan.shapes and len(plan.shapes) != len(specs):
        raise ModelFormatError(f"--input-shape: given {len(plan.shapes)} shapes, the model has {len(specs)} inputs")
    rng = np.random.default_rng(plan.seed)
    arrays = []
    for i, spec in enumerate(specs):
        shape = plan.shapes[i] if plan.shapes else spec.shape
        known = [int(d) for d in shape if d is not None]
        if len(known) != len(shape):
            raise ModelFormatError(f"input '{spec.name}' has shape {list(spec.shape)} with unknown dimensions: "
                                   "give --input-shape (without the batch dimension) or --inputs")
        full = (plan.batch, *known)
        if spec.vocabulary is not None or np.dtype(spec.dtype).kind in "iu":
            arrays.append(rng.integers(0, spec.vocabulary or 10, size=full).astype(spec.dtype))
        else:
            low, high = plan.value_range
            arrays.append(rng.uniform(low, high, size=full).astype(spec.dtype))
    return arrays


def load_user_arrays(files: tuple[Path, ...], specs: list[InputSpec] | None, option: str) -> list[np.ndarray]:
    """``.npy`` files (no pickles) of finite real numbers, one per input or output; the message names the file and
    option."""
    if specs is not None and len(files) != len(specs):
        raise ModelFormatError(f"{option}: given {len(files)} files, the model has {len(specs)}")
    arrays = []
    for i, path in enumerate(files):
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ModelFormatError(f"{option} {path}: not a readable .npy array: {error}") from error
        if array.dtype.kind not in "fiub":
            raise ModelFormatError(f"{option} {path}: dtype {array.dtype}: a model's arrays must hold real numbers "
                                   "(float, int or bool)")
        bad = ~np.isfinite(array) if array.dtype.kind == "f" else np.zeros(array.shape, bool)
        if bad.any():
            first = [int(i) for i in np.argwhere(bad)[0]]
            raise ModelFormatError(f"{option} {path}: holds {int(bad.sum())} NaN or infinite value(s) (first at "
                                   f"{first}: {array[tuple(first)]}); a reference needs finite numbers")
        spec = specs[i] if specs is not None else None
        if spec is not None and array.shape[1:] != tuple(spec.shape) and None not in spec.shape:
            raise ModelFormatError(f"{option} {path}: shape {list(array.shape)}, input '{spec.name}' takes "
                                   f"[batch, {', '.join(map(str, spec.shape))}]")
        arrays.append(array)
    return arrays


def generated_advice(plan: InputPlan) -> str:
    """What to do when a user's model gives constant outputs on ``plan``'s inputs."""
    low, high = plan.value_range
    where = "the --inputs files" if plan.files else f"seeded inputs in --input-range {low:g},{high:g}"
    return (f"(on {where}) Check the model with its trained weights (a freshly initialised one often answers the "
            "same for every input), give --inputs from real data, or an --input-range that spans what it expects.")


def keras_input_specs(model: Any) -> list[InputSpec]:
    """A Keras 2 model's inputs, with the vocabulary of any Embedding an input feeds directly."""
    import tf_keras as keras

    vocabulary: dict[str, int] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            for node in layer.inbound_nodes:
                for tensor in node.keras_inputs:
                    vocabulary[tensor.name] = layer.input_dim
    return [InputSpec(t.name.split(":")[0], tuple(t.shape[1:]), t.dtype.name, vocabulary.get(t.name))
            for t in model.inputs]


def build_layers_reference(model: Any, directory: Path, name: str, plan: InputPlan, setup: TrainingSetup,
                           custom_objects: dict[str, Any], conversions: tuple[str, ...], train: bool,
                           inner_outputs: tuple[str, ...] = ()) -> ReferenceModel:
    """A Keras 2 ``model`` through the one pipeline (``keras_build``): its inputs and Keras' outputs (and those of
    its layers ``inner_outputs``), the ``conversions`` asked for, and (if ``train``) Keras' training runs with
    ``setup``."""
    from harness.reference.keras_build import TRAINING, KerasSource, build_keras_reference

    specs = keras_input_specs(model)
    inputs = make_inputs(specs, plan)
    data = None
    if train and setup.spec is not None:
        if setup.data_file is not None:
            data = read_training_data(setup.data_file, model, setup.spec)
        else:
            def make_x(rows: int, seed_offset: int) -> list[np.ndarray]:
                return make_inputs(specs, dataclasses.replace(plan, files=(), batch=rows, seed=plan.seed + seed_offset))

            data = generated_training_data(model, setup.spec, make_x)
    source = KerasSource(name, model, inputs, setup.spec, data, custom_objects, generated_advice(plan),
                         {TRAINING: setup.reason} if setup.reason else {}, inner_outputs)
    return build_keras_reference(source, directory, conversions, train)


@dataclass
class ConvertedSavedModel:
    """A SavedModel's serving signature, loaded, and the graph model the converter made of it."""

    serve: Any  # the loaded serving_default signature
    model_json: str  # relative to the reference directory
    input_keys: list[str]
    output_keys: list[str]
    input_shapes: dict[str, tuple[int | None, ...]]
    signature: dict[str, Any]  # as the converted model.json records it

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """TensorFlow's outputs on ``feeds`` (by signature key)."""
        import tensorflow as tf

        return {key: np.asarray(value) for key, value in self.serve(**{k: tf.constant(v) for k, v in feeds.items()})
                .items()}

    def entry(self, input_keys: list[str], output_keys: list[str]) -> dict[str, Any]:
        """The reference manifest's ``graph`` conversion entry."""
        return graph_entry(self.signature, input_keys, output_keys, signature_tensor_names(self.serve))


def convert_saved_model(saved_model: Path, directory: Path) -> ConvertedSavedModel:
    """Load ``saved_model``'s serving signature and convert the SavedModel into ``directory/graph``; a TensorFlow
    op tfjs has no kernel for is an ``UnsupportedModelError``."""
    import tensorflow as tf
    from tensorflowjs.converters import convert_tf_saved_model

    from harness.reference.preflight import converter_problem

    loaded = tf.saved_model.load(str(saved_model))
    if "serving_default" not in loaded.signatures:
        raise ModelFormatError(f"{saved_model}: no 'serving_default' signature (has {sorted(loaded.signatures)})")
    serve = loaded.signatures["serving_default"]
    input_specs = serve.structured_input_signature[1]
    grouped = grouped_convolutions(serve)
    if grouped:
        raise UnsupportedModelError(grouped)
    try:
        convert_tf_saved_model(str(saved_model), str(directory / GRAPH_DIRECTORY))
    except ValueError as error:
        problems = converter_problem(str(error))
        if problems:
            raise UnsupportedModelError(problems) from error
        raise ModelFormatError(f"{saved_model}: the converter refused it: {error}") from error
    return ConvertedSavedModel(serve=serve, model_json=f"{GRAPH_DIRECTORY}/model.json",
                               input_keys=sorted(input_specs), output_keys=sorted(serve.structured_outputs),
                               input_shapes={key: tuple(spec.shape) for key, spec in input_specs.items()},
                               signature=read_signature(directory / GRAPH_DIRECTORY))


GROUPED_CONVOLUTION_HINT = (
    "a grouped convolution (input depth {depth}, filter depth {filter_depth}): tfjs' conv2d needs the filter's depth "
    "to equal the input's and has no grouped convolution; write it as convolutions on slices of the channels "
    "(onnx2tf -dgc does that for an ONNX model)")


def grouped_convolutions(serve: Any) -> list[Any]:
    """The convolutions of a SavedModel's serving signature whose filter depth differs from their input's depth
    (grouped: TensorFlow runs them, tfjs throws), as preflight problems naming the node."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from harness.reference.preflight import Problem

    found = []
    for op in convert_variables_to_constants_v2(serve).graph.get_operations():
        if op.type not in ("Conv2D", "Conv3D"):
            continue
        channels_first = op.get_attr("data_format") in (b"NCHW", b"NCDHW")
        depth = op.inputs[0].shape[1 if channels_first else -1]
        filter_depth = op.inputs[1].shape[-2]
        if depth is not None and filter_depth is not None and depth != filter_depth:
            found.append(Problem("", "graph op", op.type, f"node {op.name}: " + GROUPED_CONVOLUTION_HINT.format(
                depth=depth, filter_depth=filter_depth)))
    return found


def build_graph_reference(saved_model: Path, directory: Path, name: str, plan: InputPlan) -> ReferenceModel:
    """Convert a TF SavedModel (serving signature) into ``directory/graph`` with TF's outputs as the reference."""
    converted = convert_saved_model(saved_model, directory)
    input_specs = converted.serve.structured_input_signature[1]
    specs = [InputSpec(key, tuple(input_specs[key].shape[1:]), input_specs[key].dtype.name)
             for key in converted.input_keys]
    inputs = make_inputs(specs, plan)
    produced = converted.run({spec.name: x for spec, x in zip(specs, inputs)})
    outputs = [produced[key] for key in converted.output_keys]
    weak = judge_reference(outputs, converted.output_keys, name, generated_advice(plan))
    write_manifest(directory, {
        **({"weak_reference": weak} if weak else {}),
        "name": name,
        "model_json": converted.model_json,
        "inputs": save_arrays(directory, "input", [s.name for s in specs], inputs),
        "outputs": save_arrays(directory, "output", converted.output_keys, [o.astype(np.float32) for o in outputs]),
        "weights": [],
        "param_count": 0,
        "conversions": {"graph": converted.entry([s.name for s in specs], converted.output_keys)},
    })
    return load_reference(directory)


def build_tfjs_reference(model_json_path: Path, directory: Path, name: str, inputs: tuple[Path, ...],
                         expected: tuple[Path, ...]) -> ReferenceModel:
    """An already converted tfjs model (layers or graph) with the user's inputs and reference outputs, copied
    into ``directory``. A layers model's ``topology`` is checked against the weights its manifest lists; a
    graph model's inputs and outputs are its signature's, in key order."""
    from harness.reference.artifacts import (
        ArtifactError,
        check_weight_files,
        copy_model_files,
        non_finite_weight,
        read_model_json,
    )
    from harness.reference.conversions import CONVERSIONS
    from harness.reference.keras_build import TRAINING

    if not inputs or not expected:
        raise ModelFormatError(f"{model_json_path.parent}: a converted tfjs model needs --inputs and --expected "
                               "(.npy files: inputs, and the outputs the original model gave for them)")
    raw = read_model_json(model_json_path)
    check_weight_files(model_json_path, raw)
    non_finite = non_finite_weight(model_json_path, raw)
    if non_finite:
        raise ArtifactError(f"{model_json_path}: {non_finite}: a model's weights must be finite numbers")
    graph = raw.get("format") == "graph-model"
    copy_model_files(model_json_path, directory / GRAPH_DIRECTORY if graph else directory)
    weights = [{"name": w["name"], "shape": w["shape"]}
               for group in raw.get("weightsManifest", []) for w in group["weights"]]
    input_arrays = load_user_arrays(inputs, None, "--inputs")
    output_arrays = [a.astype(np.float32) for a in load_user_arrays(expected, None, "--expected")]
    weak = judge_reference(output_arrays, [str(path) for path in expected], name,
                      "--expected must be what the original model gave for --inputs, on a batch of varied real samples")
    input_names = [f"input_{i}" for i in range(len(inputs))]
    output_names = [f"output_{i}" for i in range(len(expected))]
    conversions = {}
    unavailable = {} if graph else {
        TRAINING: "an already converted tfjs model: no Keras model to compute the training reference with",
        **{name: "an already converted tfjs model: no Keras model to convert other ways" for name in CONVERSIONS},
    }
    if graph:
        signature = raw.get("signature") or {}
        input_names, output_names = sorted(signature.get("inputs", {})), sorted(signature.get("outputs", {}))
        if len(input_names) != len(input_arrays) or len(output_names) != len(output_arrays):
            raise ModelFormatError(f"{model_json_path}: its signature has inputs {input_names} and outputs "
                                   f"{output_names}; give one --inputs and one --expected file for each, in that order")
        conversions["graph"] = graph_entry(signature, input_names, output_names)
    write_manifest(directory, {
        **({"weak_reference": weak} if weak else {}),
        "name": name,
        "model_json": f"{GRAPH_DIRECTORY}/model.json" if graph else "model.json",
        "inputs": save_arrays(directory, "input", input_names, input_arrays),
        "outputs": save_arrays(directory, "output", output_names, output_arrays),
        "weights": [] if graph else weights,
        "param_count": 0 if graph else int(sum(np.prod(w["shape"], dtype=np.int64) for w in weights)),
        "conversions": conversions,
        "unavailable": unavailable,
    })
    return load_reference(directory)


class UnsupportedModelError(HarnessError):
    """Preflight found layers, activations, initializers or ops tfjs cannot deserialise or run."""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = problems
        super().__init__("tfjs cannot run this model as it is:\n" + "\n".join(f"  - {p}" for p in problems))
