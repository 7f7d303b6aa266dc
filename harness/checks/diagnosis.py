"""First-failing-layer diagnosis: when ``predict`` fails, which layer's activations leave tolerance first.

The page builds a probe model exposing every layer's output (``parity.models.layerOutputs``), Keras
does the same on the converted model read back in Python, and the layers are compared in Keras'
layer order (topological) on the first ``DIAGNOSIS_ROWS`` reference samples. Each layer is judged by
the backend's predict tolerance widened per channel by that layer's own float32 rounding (Keras float32
against float64, as inner outputs are: ``tolerances.inner_output_tolerance``): deep in mobilenet_v2
the activations carry more rounding than its outputs, and the model's tolerance would name a layer
where nothing is wrong.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from harness.reference.artifacts import load_keras_model
from harness.browser.page import PageOperation
from harness.checks.context import CheckContext
from harness.verdict.compare import Comparison, compare_within, worst_ratio
from harness.verdict.tolerances import Tolerance, inner_output_tolerance
from harness.browser.tensors import decode_tensor, encode_tensor

DIAGNOSIS_ROWS = 2  # samples compared layer by layer: enough to localise, small enough for mobilenet_v2


def keras_layer_outputs(model: Any, inputs: list[np.ndarray]) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Each layer's activations in Keras, named as ``layerOutputs`` names them on the page, with their float32
    rounding per channel (None when the model cannot be rebuilt in float64)."""
    import tf_keras

    from harness.reference.rounding import float64_outputs, rounding_by_channel

    names, symbolic = [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer" or len(layer._inbound_nodes) != 1:
            continue
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for k, output in enumerate(outputs):
            names.append(layer.name if len(outputs) == 1 else f"{layer.name}[{k}]")
            symbolic.append(output)
    layers = tf_keras.Model(model.inputs, symbolic)
    values = layers.predict(inputs, verbose=0)
    values = values if isinstance(values, list) else [values]
    try:
        rounding: list[np.ndarray | None] = [rounding_by_channel(f, e) if f.dtype.kind == "f" and f.ndim else None
                                             for f, e in zip(values, float64_outputs(layers, inputs))]
    except Exception:  # noqa: BLE001 - a model that cannot be rebuilt in float64 is judged by the model's tolerance
        rounding = [None] * len(values)
    return list(zip(names, values, rounding))


def first_failing_layer(context: CheckContext, model_id: int, tolerance: Tolerance) -> dict[str, Any]:
    """The first layer (in Keras' order) whose page activations leave ``tolerance``, its error, and the error
    of the layer before it (``{"layer": None}`` when every layer is within tolerance); and ``curve``, every compared
    layer's largest error over its allowance (1 is at the tolerance's limit), in order: how the error grows."""
    inputs = [x[:DIAGNOSIS_ROWS] for x in context.reference.load_inputs()]
    page = {entry["name"]: decode_tensor(entry["tensor"])
            for entry in context.page.call(PageOperation.LAYER_OUTPUTS, model_id, [encode_tensor(x) for x in inputs])}
    files = load_keras_model(context.reference.directory / context.reference.model_json)
    keras = keras_layer_outputs(files, inputs)
    previous: dict[str, Any] | None = None
    first: dict[str, Any] | None = None
    curve: list[dict[str, Any]] = []
    for name, expected, rounding in keras:
        if name not in page:
            continue
        judged_by = tolerance if rounding is None else layer_tolerance(tolerance, context.backend, rounding)
        comparison = compare_within(page[name], expected.astype(page[name].dtype, copy=False), judged_by)
        curve.append({"layer": name, "ratio": worst_ratio([comparison]), "max_abs_err": comparison.max_abs_err})
        entry = _entry(name, comparison)
        if first is None and not comparison.ok:
            first = {"layer": name, **entry, "previous": previous, "layers_compared": len(curve)}
        elif first is None:
            previous = {"layer": name, **entry}
    if first is not None:
        return {**first, "curve": curve}
    return {"layer": None, "layers_compared": len(curve), "curve": curve,
            "files_give_the_reference": _files_agree(files, inputs, context, tolerance)}


def layer_tolerance(tolerance: Tolerance, backend: str, rounding: np.ndarray) -> Tolerance:
    """``tolerance`` (the model's) plus, per channel, the layer's own float32 rounding allowance on ``backend``."""
    inner = inner_output_tolerance(backend, rounding)
    return replace(tolerance, channel_atol=inner.channel_atol,
                   reason=f"{tolerance.reason}; + per channel the layer's own float32 rounding")


def _files_agree(files: Any, inputs: list[np.ndarray], context: CheckContext, tolerance: Tolerance) -> bool:
    """Whether Keras running the model files the page loaded gives the reference outputs on ``inputs``: if not,
    the files are not the reference's model (changed weights or config), whatever the backend does."""
    outputs = files.predict(inputs, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    expected = [y[:DIAGNOSIS_ROWS] for y in context.reference.load_outputs()]
    return all(compare_within(o, e.astype(o.dtype, copy=False), tolerance).ok for o, e in zip(outputs, expected))


def _entry(name: str, comparison: Comparison) -> dict[str, Any]:
    worst = comparison.worst
    return {"max_abs_err": comparison.max_abs_err, "problem": comparison.problem,
            "worst": None if worst is None else {"index": list(worst.index), "browser": worst.actual,
                                                 "keras": worst.expected}}


def describe(diagnosis: dict[str, Any], tolerance: Tolerance) -> str:
    """One paragraph for the check's message."""
    if diagnosis["layer"] is None:
        text = (f"Layer by layer ({diagnosis['layers_compared']} layers, first {DIAGNOSIS_ROWS} samples): every "
                "layer is within tolerance of Keras running the same model files")
        if diagnosis.get("files_give_the_reference") is False:
            return text + (", but those files do not give the reference outputs in Keras either: the model files "
                           "(weights or config) are not the reference's model.")
        return text + ", so the difference shows only on other samples."
    error = diagnosis["problem"] or f"max abs error {diagnosis['max_abs_err']:.3g}"
    text = (f"First layer out of tolerance: {diagnosis['layer']} ({error}; atol {tolerance.atol:g}, "
            f"rtol {tolerance.rtol:g}, plus per channel the layer's own float32 rounding)")
    before = diagnosis["previous"]
    if before is None:
        return text + "; it is the first layer."
    return text + f"; the layer before it, {before['layer']}, was within: max abs error {before['max_abs_err']:.3g}."
