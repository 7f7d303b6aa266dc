"""Before converting a Keras model: list what tfjs cannot deserialise, layer by layer, with a hint.

What tfjs can deserialise is asked of the page itself (its ``tf.serialization`` class registry,
after the user's ``--custom-js`` has registered its classes), so the answer is the tfjs version
the check runs, not a list kept here. Ops tfjs lacks in a graph model are reported by the
converter, which refuses them; ``converter_problem`` turns that refusal into the same kind of list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

LAYER_HINTS = {
    "Lambda": "tfjs cannot run Python code: replace the Lambda with built-in layers, or write it as a custom "
              "layer registered on both sides (a Keras custom object and tf.serialization.registerClass in the "
              "JS file given with --custom-js)",
    "TFOpLambda": "a raw TensorFlow op called on a Keras tensor (tf.* in a functional model): tfjs has no such "
                  "layer; use the Keras layer for it, or convert a SavedModel to a graph model instead",
}
CUSTOM_LAYER_HINT = ("not a tfjs layer: implement it in JavaScript (class extending tf.layers.Layer with "
                     "static className = '{name}') and register it with tf.serialization.registerClass in a file "
                     "given with --custom-js")
ACTIVATION_HINT = "tfjs has no activation '{name}': use one it has, or an activation layer registered with --custom-js"
INITIALIZER_HINT = ("tfjs has no initializer '{name}': tfjs deserialises initializers even for trained weights; "
                    "use a built-in one before saving")
UNSUPPORTED_OPS = re.compile(r"Unsupported Ops in the model[^\n:]*:?\s*(?P<ops>.+)", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One thing tfjs cannot deserialise: which layer, what kind of thing, its name, and what to do."""

    layer: str
    kind: str
    name: str
    hint: str

    def __str__(self) -> str:
        where = f"layer '{self.layer}': " if self.layer else ""
        return f"{where}{self.kind} {self.name}: {self.hint}"


def _layers(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every layer entry of a Keras model config, nested models and wrapped layers included."""
    for layer in config.get("layers", []):
        yield layer
        inner = layer.get("config", {})
        if "layers" in inner:
            yield from _layers(inner)
        if isinstance(inner.get("layer"), dict):
            yield inner["layer"]


def _named_objects(layer_config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of each activation and initializer a layer's config refers to."""
    for key, value in layer_config.items():
        if key == "activation" or key.endswith("_activation"):
            name = value if isinstance(value, str) else (value or {}).get("class_name")
            if name:
                yield "activation", name
        elif key.endswith("_initializer") and isinstance(value, dict) and value.get("class_name"):
            yield "initializer", value["class_name"]


def preflight(model_config: dict[str, Any], registered: set[str]) -> list[Problem]:
    """What in ``model_config`` (``model.get_config()`` of a Keras model) is not in tfjs' class registry."""
    problems = []
    for layer in _layers(model_config):
        class_name, config = layer.get("class_name", "?"), layer.get("config", {})
        name = config.get("name", class_name)
        if class_name not in registered:
            hint = LAYER_HINTS.get(class_name, CUSTOM_LAYER_HINT.format(name=class_name))
            problems.append(Problem(name, "layer class", class_name, hint))
        for kind, object_name in _named_objects(config):
            if object_name not in registered:
                template = ACTIVATION_HINT if kind == "activation" else INITIALIZER_HINT
                problems.append(Problem(name, kind, object_name, template.format(name=object_name)))
    return problems


def converter_problem(message: str) -> list[Problem]:
    """The converter's refusal of ops tfjs does not implement, as problems (empty if it is another error)."""
    found = UNSUPPORTED_OPS.search(message)
    if found is None:
        return []
    ops = [op.strip() for op in re.split(r"[,\s]+", found.group("ops")) if op.strip()]
    hint = ("tfjs has no kernel for this TensorFlow op: rewrite that part of the model with ops tfjs supports "
            "(a custom op needs tf.registerOp on the page and the converter's --skip_op_check)")
    return [Problem("", "graph op", op, hint) for op in ops]


KERAS3_MODEL_JSON_HINT = (
    "a Keras 3 model.json (tensorflowjs_converter --input_format=keras_keras writes Keras 3's config, and tfjs-layers "
    "reads Keras 2's): check the .keras file itself, and tfjs-parity rebuilds it in the form tfjs reads (the "
    "repaired model.json it writes is the one to ship)")


def load_refusal(reference: Any, message: str) -> Problem:
    """The preflight problem of a layers model.json that tfjs.loadLayersModel refuses with ``message``, with what to do
    when it is Keras 3's (``generatedBy`` "keras v3...")."""
    path = reference.directory / reference.model_json
    try:
        generated_by = str(json.loads(path.read_text()).get("generatedBy", ""))
    except (OSError, ValueError):
        generated_by = ""
    hint = KERAS3_MODEL_JSON_HINT if generated_by.startswith("keras v3") else (
        "fix the field the message names, or check the Keras model it was converted from")
    first = message.splitlines()[0]
    return Problem(layer="", kind="model.json", name=str(path), hint=f"tf.loadLayersModel refuses it: {first}; {hint}")
