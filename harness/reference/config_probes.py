"""Does tfjs read each layer's config as Keras wrote it? A probe per layer, compared field by field.

Each layer of a Keras model becomes a one-layer model topology (its config exactly as Keras wrote
it, fed by inputs of the shapes it sees in the model). The page builds each probe with
``tf.models.modelFromJSON`` and returns what tfjs made of the layer (``getConfig()``) and the
shapes it computes, or the error it raised (``web/preflight.js``). ``config_findings`` compares:

- a layer tfjs refuses to build is a finding with tfjs' own message;
- a layer whose output shapes differ from Keras' is a finding, naming the fields tfjs dropped
  (fields of Keras' config that tfjs' ``getConfig()`` lacks), the likely cause; so is a dropped
  field whose value is not the layer class's Keras default (``default_config``): tfjs, without the
  field, computes what the default computes (Conv2DTranspose's dilation_rate=(1, 1), Conv2D's
  groups=1), so only another value changes the answer;
- each finding carries a route (``ROUTES``), and ``repair``: the fields whose removal is the fix
  when they are provably metadata only (initializers, regularizers and constraints: they shape
  training from scratch, never the arithmetic of a model whose weights are loaded).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.reference.preflight import Problem

PROBE_INPUT = "probe_input_{}"
METADATA_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
# Fields every layer carries whose presence or spelling differs between the libraries without effect.
IGNORED_FIELDS = {"name", "trainable", "dtype", "batch_input_shape", "batch_size", "input_dim", "input_length"}
REJECTED_FIELDS = re.compile(r"Fields? (?P<fields>[\w ,]+?) (?:are|is) invalid for (?P<layer>\w+)")
# Known refusals and silent drops, by (layer class, field): what to do instead.
ROUTES: dict[tuple[str, str], str] = {
    ("GRU", "reset_after"): (
        "tfjs implements only the original GRU (reset_after=False), and Keras 2 defaults to reset_after=True; "
        "the two have different bias shapes, so no repair can map the weights: rebuild the layer with "
        "GRU(..., reset_after=False) and retrain"),
    ("SeparableConv2D", "kernel_initializer"): (
        "tf_keras writes kernel_initializer/regularizer/constraint for SeparableConv2D although it has no "
        "'kernel' (its weights are depthwise and pointwise); tfjs rejects them. They never touch the "
        "arithmetic: --repair removes them from model.json, and every check then proves the repaired model"),
    ("GlobalAveragePooling2D", "keepdims"): (
        "tfjs ignores keepdims and returns [batch, channels]: use GlobalAveragePooling2D() followed by "
        "Reshape((1, 1, channels)), the same arithmetic, and save the model again"),
    ("GlobalMaxPooling2D", "keepdims"): (
        "tfjs ignores keepdims and returns [batch, channels]: use GlobalMaxPooling2D() followed by "
        "Reshape((1, 1, channels)), the same arithmetic, and save the model again"),
}
GENERIC_ROUTE = ("change the layer to a configuration tfjs supports, or implement it as a custom layer "
                 "registered on both sides (--custom-objects and --custom-js)")
RESET_AFTER = re.compile(r"reset_after")


@dataclass(frozen=True)
class LayerProbe:
    """One layer as a one-layer model topology, with the shapes Keras computes for it."""

    layer: str
    class_name: str
    config: dict[str, Any]
    topology: dict[str, Any]
    output_shapes: list[list[int | None]]
    defaults: dict[str, Any] = field(default_factory=dict)  # its class's config with Keras' defaults


@dataclass(frozen=True)
class ConfigFinding(Problem):
    """A ``Problem`` of a layer's config, with the fields whose removal repairs it (empty: no repair)."""

    repair: tuple[str, ...] = field(default=())


def layer_probes(model: Any) -> list[LayerProbe]:
    """A probe for every layer of a tf_keras ``model`` (nested models' layers included, InputLayers not)."""
    return list(_probes(model))


def _probes(model: Any) -> Iterator[LayerProbe]:
    entries = {entry["config"]["name"]: entry for entry in model.get_config()["layers"]}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer" or layer.name not in entries:
            continue
        if hasattr(layer, "layers") and hasattr(layer, "get_config") and "layers" in entries[layer.name]["config"]:
            yield from _probes(layer)
            continue
        probe = _probe(layer, entries[layer.name])
        if probe is not None:
            yield probe


def _shapes(value: Any) -> list[list[int | None]]:
    shapes = value if isinstance(value, list) else [value]
    return [[None if d is None else int(d) for d in shape] for shape in shapes]


def _probe(layer: Any, entry: dict[str, Any]) -> LayerProbe | None:
    try:
        input_shapes = _shapes(layer.get_input_shape_at(0))
        output_shapes = _shapes(layer.get_output_shape_at(0))
        inputs = layer.get_input_at(0)
    except (AttributeError, RuntimeError, ValueError):
        return None  # a layer never called: nothing to probe
    dtypes = [t.dtype.name for t in (inputs if isinstance(inputs, list) else [inputs])]
    names = [PROBE_INPUT.format(i) for i in range(len(input_shapes))]
    kwargs = _node_kwargs(entry)
    layers: list[dict[str, Any]] = [{"class_name": "InputLayer", "name": name, "inbound_nodes": [],
               "config": {"name": name, "batch_input_shape": shape, "dtype": dtype, "sparse": False}}
              for name, shape, dtype in zip(names, input_shapes, dtypes)]
    layers.append({"class_name": entry["class_name"], "name": layer.name, "config": entry["config"],
                   "inbound_nodes": [[[name, 0, 0, kwargs] for name in names]]})
    topology = {"class_name": "Functional", "config": {
        "name": "probe", "layers": layers,
        "input_layers": [[name, 0, 0] for name in names],
        "output_layers": [[layer.name, 0, i] for i in range(len(output_shapes))],
    }}
    return LayerProbe(layer.name, entry["class_name"], entry["config"], topology, output_shapes,
                      default_config(layer))


def default_config(layer: Any) -> dict[str, Any]:
    """The config of ``layer``'s class built with only its required arguments (taken from the layer's own config):
    every other field at Keras' default, as ``get_config`` writes it; empty when the class cannot be built so (a
    required argument its config does not hold, as a Lambda's function)."""
    parameters = inspect.signature(type(layer).__init__).parameters.values()
    required = [p.name for p in parameters if p.default is p.empty and p.name != "self"
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    config = layer.get_config()
    try:
        built = type(layer)(name=f"{layer.name}_defaults", **{name: config[name] for name in required})
        return _plain(built.get_config())
    except Exception:  # noqa: BLE001 - any class that cannot be built from its required fields alone
        return {}


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as JSON has it (tuples as lists), to compare with a model's config read back."""
    return json.loads(json.dumps(config, default=str))


def _node_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the layer's first call, when they are plain values (not tensors)."""
    nodes = entry.get("inbound_nodes") or []
    if not nodes or not isinstance(nodes[0], list) or not nodes[0]:
        return {}
    kwargs = nodes[0][0][3] if len(nodes[0][0]) > 3 else {}
    return {k: v for k, v in kwargs.items() if not isinstance(v, (list, dict))} if isinstance(kwargs, dict) else {}


def probe_requests(probes: list[LayerProbe]) -> list[dict[str, Any]]:
    """What the page's ``probeLayers`` takes."""
    return [{"layer": probe.layer, "topology": probe.topology} for probe in probes]


def camel_case(snake: str) -> str:
    """tfjs' spelling of a Keras config field: ``kernel_initializer`` -> ``kernelInitializer``."""
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(camel: str) -> str:
    """Keras' spelling of a tfjs config field: ``kernelInitializer`` -> ``kernel_initializer``."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def config_findings(probes: list[LayerProbe], results: list[dict[str, Any]]) -> list[ConfigFinding]:
    """Every layer tfjs refuses, computes differently or reads without a field Keras set, with the route
    (see the module docstring)."""
    findings = []
    for probe, result in zip(probes, results):
        if "error" in result:
            findings.append(_refusal(probe, str(result["error"])))
            continue
        tfjs_shapes = [list(shape) for shape in result.get("outputShapes", [])]
        dropped = dropped_fields(probe.config, result.get("config") or {}, probe.defaults)
        if tfjs_shapes == probe.output_shapes and not dropped:
            continue
        route = ROUTES.get((probe.class_name, dropped[0]), GENERIC_ROUTE) if dropped else GENERIC_ROUTE
        shapes = "" if tfjs_shapes == probe.output_shapes else \
            f"tfjs computes output shape {tfjs_shapes}, Keras {probe.output_shapes}; "
        ignored = f"tfjs ignores {', '.join(f'{f}={_short(probe.config[f])}' for f in dropped)}" if dropped else \
            "no field was dropped"
        findings.append(ConfigFinding(probe.layer, "config", probe.class_name, f"{shapes}{ignored}. Route: {route}"))
    return findings


def dropped_fields(keras_config: dict[str, Any], tfjs_config: dict[str, Any],
                   defaults: dict[str, Any]) -> list[str]:
    """Fields Keras set (to anything but None/False/empty or the class's default, ``defaults``) that tfjs'
    ``getConfig()`` lacks."""
    plain = _plain(keras_config)
    return [key for key, value in plain.items()
            if key not in IGNORED_FIELDS and value not in (None, False, "", [], {})
            and (key not in defaults or defaults[key] != value)
            and camel_case(key) not in tfjs_config and key not in tfjs_config]


def _refusal(probe: LayerProbe, message: str) -> ConfigFinding:
    rejected = REJECTED_FIELDS.search(message)
    fields: list[str] = []
    if rejected:
        fields = [snake_case(f) for f in re.split(r",\s*|\s+and\s+", rejected.group("fields")) if f]
    elif RESET_AFTER.search(message):
        fields = ["reset_after"]
    present = [f for f in fields if f in probe.config]
    route = next((ROUTES[(probe.class_name, f)] for f in present if (probe.class_name, f) in ROUTES), GENERIC_ROUTE)
    repair = tuple(present) if present and all(f.endswith(METADATA_SUFFIXES) for f in present) else ()
    shown = ", ".join(f"{f}={_short(probe.config[f])}" for f in present)
    return ConfigFinding(probe.layer, "config", probe.class_name,
                         f"tfjs refuses it{f' ({shown})' if shown else ''}: {message} Route: {route}", repair)


def _short(value: Any) -> str:
    """A config value for a message: a serialized object by its class name."""
    return str(value["class_name"]) if isinstance(value, dict) and "class_name" in value else repr(value)


def repairs(findings: list[ConfigFinding]) -> dict[str, tuple[str, ...]] | None:
    """The fields to remove, by layer, if every finding is repairable; else None."""
    if not findings or not all(isinstance(f, ConfigFinding) and f.repair for f in findings):
        return None
    return {f.layer: f.repair for f in findings}


def repair_model_json(path: Path, removals: dict[str, tuple[str, ...]]) -> list[str]:
    """Remove ``removals``' fields from the named layers of the tfjs layers model at ``path`` (nested models
    included); returns one line per layer changed."""
    raw = json.loads(path.read_text())
    topology = raw["modelTopology"]
    changes: list[str] = []
    _remove_fields(topology.get("model_config", topology), removals, changes)
    path.write_text(json.dumps(raw))
    return changes


def _remove_fields(model_config: dict[str, Any], removals: dict[str, tuple[str, ...]], changes: list[str]) -> None:
    for layer in model_config.get("config", {}).get("layers", []):
        config = layer.get("config", {})
        if "layers" in config:
            _remove_fields(layer, removals, changes)
        removed = [name for name in removals.get(config.get("name", ""), ()) if name in config]
        for name in removed:
            del config[name]
        if removed:
            changes.append(f"layer '{config['name']}' ({layer.get('class_name')}): removed {', '.join(removed)}")
