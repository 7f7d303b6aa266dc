"""Keras 3 models as tfjs layers models: a Keras 2 (tf_keras) twin rebuilt from the Keras 3 config.

tfjs-layers reads the Keras 2 form of a model (``batch_input_shape``, dtype names, ``inbound_nodes``
as node lists, weights named ``layer/weight``); Keras 3 writes another (``batch_shape``,
``DTypePolicy`` objects, ``module`` / ``registered_name`` / ``build_config`` fields, call arguments
as ``__keras_tensor__`` objects, weights at storage paths such as ``layers/dense_1/vars/0``). The
twin is the Keras 3 model rebuilt layer by layer in tf_keras, so the converter writes the form
tfjs reads:

- each layer from its Keras 3 config: dtype policies become their names, Keras 3's serialization
  metadata is dropped, and a field tf_keras does not take (a Keras 3 feature) is dropped where its
  value is Keras 3's default for it, null or false (the feature off: Keras 3 then computes as Keras
  2 does), else the twin is refused naming it;
- the graph called again from each layer's ``inbound_nodes``, the weights copied layer by layer
  (shapes checked).

Its training setup is the Keras 3 file's compile config (``user_training.compiled_training_config``).

Each change is listed (the preflight row shows them), and the twin's outputs must match Keras 3's:
a hop of the model's route (``run.route`` judges it).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.reference.directory import (
    GRAPH_DIRECTORY,
    MANIFEST,
    ReferenceModel,
    load_reference,
    save_arrays,
    save_hop,
    write_manifest,
)
from harness.reference.formats import ModelFormatError

# Keras 3's serialization metadata: what an object is, not how it computes.
METADATA = ("module", "registered_name", "build_config", "shared_object_id", "compile_config")
# How tf_keras names a field it does not take (a constructor's TypeError, or Layer's own check).
UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'|Keyword argument not understood:', '(\w+)'"
                        r"|Unrecognized keyword arguments[^\[]*\[?'(\w+)'")
MODEL_CLASSES = ("Sequential", "Functional", "Model")


class TwinRefused(HarnessError):
    """The Keras 3 model has a part with no Keras 2 form tfjs reads: the message names the layer and field."""


@dataclass
class Twin:
    """The tf_keras twin of a Keras 3 model, and the rewrites that made it, one line each."""

    model: Any
    rewrites: list[str] = field(default_factory=list)


def load_keras3_model(path: Path) -> Any:
    """The Keras 3 model at ``path`` (uncompiled: its compile config is read from the file); ``ModelFormatError``
    names the file when Keras 3 cannot load it."""
    import keras  # Keras 3: TF_USE_LEGACY_KERAS only redirects tf.keras

    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # noqa: BLE001 - whatever Keras 3 raises, name the file
        raise ModelFormatError(f"{path}: Keras 3 could not load it: {type(error).__name__}: {error}") from error


def keras2_twin(original: Any) -> Twin:
    """The tf_keras twin of the Keras 3 model ``original``, its weights copied; raises ``TwinRefused`` naming the
    layer and field that has no Keras 2 form."""
    import tf_keras

    rewrites = Rewrites()
    twin = _model(tf_keras, original.get_config(), type(original).__name__, rewrites)
    _copy_weights(original, twin)
    return Twin(twin, rewrites.lines())


class Rewrites:
    """The changes made to the Keras 3 config, grouped: one line per kind of change, naming the layers."""

    def __init__(self) -> None:
        self._groups: dict[str, list[str]] = {}

    def add(self, change: str, where: str) -> None:
        places = self._groups.setdefault(change, [])
        if where not in places:
            places.append(where)

    def lines(self) -> list[str]:
        return [f"{change} ({', '.join(places)})" if places != [""] else change
                for change, places in self._groups.items()]


def _model(tf_keras: Any, config: dict[str, Any], class_name: str, rewrites: Rewrites) -> Any:
    """A tf_keras model from a Keras 3 model config: a Sequential's layer list, or a functional graph."""
    if class_name == "Sequential":
        layers = [_layer(tf_keras, entry, rewrites) for entry in config["layers"]]
        rewrites.add("InputLayer batch_shape -> batch_input_shape", "")
        return tf_keras.Sequential(layers, name=config.get("name"))
    tensors: dict[tuple[str, int], list[Any]] = {}
    for entry in config["layers"]:
        name = entry["name"]
        if entry["class_name"] == "InputLayer":
            tensors[(name, 0)] = [_layer(tf_keras, entry, rewrites)]
            continue
        layer = _layer(tf_keras, entry, rewrites)
        for index, node in enumerate(entry.get("inbound_nodes", [])):
            args = _tensors_in(node.get("args", []), tensors)
            kwargs = _tensors_in(node.get("kwargs", {}), tensors)
            produced = layer(*args, **kwargs)
            tensors[(name, index)] = list(produced) if isinstance(produced, (list, tuple)) else [produced]
    rewrites.add("inbound_nodes: Keras 3 call arguments (__keras_tensor__) -> Keras 2 node lists", "")
    inputs = [tensors[(n, i)][t] for n, i, t in _history_list(config["input_layers"])]
    outputs = [tensors[(n, i)][t] for n, i, t in _history_list(config["output_layers"])]
    return tf_keras.Model(inputs, outputs, name=config.get("name"))


def _history_list(raw: list[Any]) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers``: ``[name, node, index]`` or a list of them."""
    return [tuple(raw)] if raw and isinstance(raw[0], str) else [tuple(item) for item in raw]  # type: ignore[misc]


def _tensors_in(value: Any, tensors: dict[tuple[str, int], list[Any]]) -> Any:
    """A node's call arguments with each ``__keras_tensor__`` replaced by the twin's tensor it names."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer, node, index = value["config"]["keras_history"]
        return tensors[(layer, node)][index]
    if isinstance(value, dict):
        return {key: _tensors_in(item, tensors) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tensors_in(item, tensors) for item in value]
    return value


def _layer(tf_keras: Any, entry: dict[str, Any], rewrites: Rewrites) -> Any:
    """The tf_keras layer of one Keras 3 layer entry (a nested model rebuilt as a model)."""
    class_name, name = entry["class_name"], entry.get("config", {}).get("name", entry.get("name", ""))
    if class_name in MODEL_CLASSES:
        return _model(tf_keras, entry["config"], class_name, rewrites)
    config = _cleaned(entry["config"], rewrites, name)
    if class_name == "InputLayer":
        shape = config.pop("batch_shape", None) or config.pop("batch_input_shape", None)
        return tf_keras.Input(batch_shape=shape, dtype=config.get("dtype"), name=config.get("name"),
                              sparse=config.get("sparse", False), ragged=config.get("ragged", False))
    defaults = _keras3_defaults(class_name)
    while True:
        try:
            layer = tf_keras.layers.deserialize({"class_name": class_name, "config": config})
        except (TypeError, ValueError) as error:
            unknown = _unexpected(str(error))
            if unknown is None:
                raise TwinRefused(f"layer '{name}' ({class_name}): tf_keras cannot build it from its Keras 3 "
                                  f"config: {error}") from None
            _drop(config, unknown, defaults, class_name, name, rewrites)
            continue
        _note_renamed_activations(entry["config"], layer, name, rewrites)
        return layer


def _cleaned(value: Any, rewrites: Rewrites, where: str) -> Any:
    """``value`` with dtype policies as their names and Keras 3's serialization metadata dropped."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        rewrites.add("dtype: DTypePolicy object -> its name", "")
        return value["config"]["name"]
    if isinstance(value, dict):
        dropped = [key for key in value if key in METADATA]
        for key in dropped:
            rewrites.add(f"dropped Keras 3 metadata {key}", "")
        return {key: _cleaned(item, rewrites, where) for key, item in value.items() if key not in METADATA}
    if isinstance(value, list):
        return [_cleaned(item, rewrites, where) for item in value]
    return value


def _unexpected(message: str) -> str | None:
    found = UNEXPECTED.search(message)
    return next((group for group in found.groups() if group), None) if found else None


def _keras3_defaults(class_name: str) -> dict[str, Any]:
    """The defaults of Keras 3's layer class ``class_name``'s constructor (empty if Keras 3 has no such class)."""
    import keras

    cls = getattr(keras.layers, class_name, None)
    if cls is None:
        return {}
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _drop(config: dict[str, Any], key: str, defaults: dict[str, Any], class_name: str, name: str,
          rewrites: Rewrites) -> None:
    """Drop field ``key`` tf_keras does not take: from the layer's config when its value is Keras 3's default for it,
    else from the serialized object (an initializer, regularizer...) that holds it; ``TwinRefused`` otherwise."""
    if key in config:
        value = config[key]
        if key in defaults and value == defaults[key] or value is None or value is False:
            config.pop(key)
            rewrites.add(f"dropped {key}={_shown(value)} (off, Keras 3's default; tfjs has no such field)", name)
            return
        raise TwinRefused(f"layer '{name}' ({class_name}): field {key}={_shown(value)} has no Keras 2 form (tfjs "
                          "reads Keras 2 configs, where it computes as Keras 3's default)")
    for holder_key, holder in _serialized_objects(config):
        if key in holder.get("config", {}):
            value = holder["config"].pop(key)
            rewrites.add(f"dropped {holder_key} field {key}={_shown(value)} (weights are copied, not initialised)",
                         name)
            return
    raise TwinRefused(f"layer '{name}' ({class_name}): tf_keras does not take {key}, and it is in no field of its "
                      "config")


def _serialized_objects(config: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, value in config.items():
        if isinstance(value, dict) and "class_name" in value and isinstance(value.get("config"), dict):
            yield key, value


def _shown(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)


def _note_renamed_activations(original: dict[str, Any], layer: Any, name: str, rewrites: Rewrites) -> None:
    """A Keras 3 activation tf_keras writes under another name (``silu`` -> ``swish``): the same function."""
    rebuilt = layer.get_config()
    for key, value in original.items():
        if (key == "activation" or key.endswith("_activation")) and isinstance(value, str) \
                and rebuilt.get(key) not in (None, value):
            rewrites.add(f"{key} {value} -> {rebuilt[key]} (the same function under the name tfjs knows)", name)


def _copy_weights(original: Any, twin: Any) -> None:
    """Each Keras 3 layer's weights into the twin's layer of that name; shapes must agree."""
    for layer in original.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        target = twin.get_layer(layer.name)
        shapes = [tuple(w.shape) for w in target.get_weights()]
        if shapes != [tuple(w.shape) for w in weights]:
            raise TwinRefused(f"layer '{layer.name}' ({type(layer).__name__}): Keras 3 holds weights of shapes "
                              f"{[tuple(w.shape) for w in weights]}, the Keras 2 layer {shapes}")
        target.set_weights(weights)


ROUTE = "keras3-layers"
ROUTE_WHAT = ("Keras 3 model rebuilt as a Keras 2 (tf_keras) twin tfjs-layers reads, converted as a layers model; "
              "every check a Keras 2 model gets")
TWIN_HOP = "Keras 3 -> Keras 2 twin (tf_keras)"


def as_keras3_reference(reference: ReferenceModel, original: Any, rewrites: list[str]) -> ReferenceModel:
    """``reference`` (built from the twin) with Keras 3's outputs on its inputs as the reference outputs, and its route:
    the twin's outputs are the hop after Keras 3, so a rewrite that changes the answer is caught before the browser
    (``run.route``)."""
    inputs = reference.load_inputs()
    predicted = original.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    keras3 = [np.asarray(a, dtype=np.float32) for a in (predicted if isinstance(predicted, list) else [predicted])]
    manifest = json.loads((reference.directory / MANIFEST).read_text())
    keys = [entry["name"] for entry in manifest["outputs"]]
    twin = reference.load_outputs()
    manifest["outputs"] = save_arrays(reference.directory, "output", keys, keras3)
    manifest["route"] = {"from": "keras3", "runtime": "Keras 3", "name": ROUTE, "what": ROUTE_WHAT, "tried": [],
                         "transposed": [], "rewrites": rewrites,
                         "hops": [save_hop(reference.directory, 0, TWIN_HOP, keys, twin, keras3)]}
    write_manifest(reference.directory, manifest)
    return load_reference(reference.directory)


def with_keras3_graph(reference: ReferenceModel, path: Path) -> ReferenceModel:
    """``reference`` (the twin's) with its ``graph`` conversion made from Keras 3's own export of ``path``
    (``model.export()``, what a Keras 3 user converts to a graph model), not from the twin's: ``graph-model`` judges the
    graph a user would ship. An export or conversion that fails is that conversion's failure."""
    import shutil
    import tempfile

    from harness.reference.conversions import conversion_failure
    from harness.reference.formats import export_keras3_savedmodel
    from harness.reference.user_build import UnsupportedModelError, convert_saved_model

    manifest = json.loads((reference.directory / MANIFEST).read_text())
    if GRAPH_DIRECTORY not in manifest["conversions"]:
        return reference
    shutil.rmtree(reference.directory / GRAPH_DIRECTORY)
    inputs = [entry["name"] for entry in manifest["inputs"]]
    try:
        with tempfile.TemporaryDirectory() as exported:
            export_keras3_savedmodel(path, Path(exported) / "saved_model")
            converted = convert_saved_model(Path(exported) / "saved_model", reference.directory)
            positional = [f"output_{i}" for i in range(len(manifest["outputs"]))]  # a list of outputs, in order
            outputs = positional if set(converted.output_keys) == set(positional) else [
                entry["name"] for entry in manifest["outputs"]]
            manifest["conversions"][GRAPH_DIRECTORY] = converted.entry(inputs, outputs)
    except (ModelFormatError, UnsupportedModelError) as refused:  # Keras 3 or the converter refused the model
        del manifest["conversions"][GRAPH_DIRECTORY]
        manifest["failed_conversions"][GRAPH_DIRECTORY] = {
            "by": "converter", "message": f"the {GRAPH_DIRECTORY} conversion failed: {refused}"}
    except Exception as error:  # noqa: BLE001 - whatever breaks, the other checks go on; the row says who broke
        del manifest["conversions"][GRAPH_DIRECTORY]
        manifest["failed_conversions"][GRAPH_DIRECTORY] = conversion_failure(GRAPH_DIRECTORY, error)
    write_manifest(reference.directory, manifest)
    return load_reference(reference.directory)


def on_the_savedmodel_route(reference: ReferenceModel, cause: str) -> ReferenceModel:
    """A Keras 3 model's graph-model ``reference`` (exported with ``model.export()``), its route saying why the
    layers route was not taken (``cause``)."""
    manifest = json.loads((reference.directory / MANIFEST).read_text())
    manifest["route"] = {"from": "keras3", "runtime": "Keras 3 (its exported SavedModel)", "name": "savedmodel",
                         "what": "exported with model.export() to a SavedModel and converted to a graph model: "
                                 "inference only", "tried": [{"route": ROUTE, "cause": cause}], "transposed": [],
                         "hops": []}
    write_manifest(reference.directory, manifest)
    return load_reference(reference.directory)
