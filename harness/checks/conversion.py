"""Checks of the other conversions (see ``harness.reference.conversions``):

- ``quantized[uint8]``, ``quantized[uint16]``, ``quantized[float16]``: the browser's outputs equal
  Keras' with the same dequantized weights (float32 tolerance: tfjs dequantizes correctly), and
  are judged against the unquantized Keras model by the derived quantized tolerance; the row
  records the weight size against float32.
- ``sharded``: a model split into several small weight shards loads and matches Keras.
- ``graph-model``: the SavedModel -> graph model conversion, run with ``predict`` (``predictAsync``
  when the graph has control flow, as an LSTM's does: tfjs refuses to run it synchronously) and
  ``executeAsync``; both match Keras, and disposing the outputs gives every tensor back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.browser.page import PageOperation
from harness.checks.context import CheckContext, CheckFunction, check_family
from harness.checks.inference import (
    browser_predictions,
    judge_agreement,
    judge_outputs,
    logits_of,
    prediction_result,
)
from harness.verdict.compare import largest
from harness.results import CheckResult
from harness.verdict.agreement import flips_shown_by
from harness.verdict.known_issues import QUANTIZATION_CHANGES_LABELS, failed_with
from harness.verdict.tolerances import (
    Tolerance,
    model_predict_tolerance,
    predict_tolerance,
    quantized_tolerance,
    widened_by_rounding,
)
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.reference.conversions import QUANTIZATIONS, quantized_conversion, weight_bytes


def conversion_url(context: CheckContext, entry: dict[str, Any]) -> str:
    """Where the page loads a conversion's model.json (a subdirectory of the reference directory)."""
    return f"{context.model_url.removesuffix(context.reference.model_json)}{entry['directory']}/model.json"


def conversion_predictions(context: CheckContext, entry: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, Any]]:
    """A conversion's outputs on the reference inputs (loaded fresh on the page, disposed after), and timing; a graph
    model's conversion (its entry names the nodes it ``feeds`` and ``fetches``) runs with ``GraphModel.predict``."""
    if "feeds" in entry:
        feeds = [{"node": spec["node"], "tensor": encode_tensor(x)}
                 for spec, x in zip(entry["feeds"], context.reference.load_inputs())]
        ran = context.page.call(PageOperation.GRAPH_RUN, conversion_url(context, entry), feeds, entry["fetches"])
        return [decode_tensor(o) for o in ran["predict"]], {}
    model_id = context.page.call(PageOperation.LOAD, conversion_url(context, entry))
    try:
        return browser_predictions(context, model_id)
    finally:
        context.page.call(PageOperation.DISPOSE, model_id)


def check_quantized(context: CheckContext, quantization: str, tolerance: Tolerance | None = None) -> CheckResult:
    """A quantized conversion: dequantized like Keras (float32 tolerance) and close to the unquantized
    model within the derived tolerance (or ``tolerance``, which the teeth tests set)."""
    reference, name = context.reference, quantized_conversion(quantization)
    entry = reference.conversion(name)
    judged_by = tolerance or quantized_tolerance(context.backend, entry["output_effect"], quantization,
                                                 reference.float32_rounding)
    actual, timing = conversion_predictions(context, entry)
    dequantized_tolerance = widened_by_rounding(predict_tolerance(context.backend), context.backend,
                                                entry["float32_rounding"],
                                                "quantized BatchNormalization statistics can make the model "
                                                "far more sensitive to rounding than the float one")
    keras_dequantized = reference.conversion_outputs(name)
    dequantized, dequantized_failures = judge_outputs(context, actual, keras_dequantized, dequantized_tolerance,
                                                      f"{name} vs Keras with the dequantized weights")
    expected = reference.load_outputs()
    against = f"{name} vs the unquantized Keras model"
    comparisons, failures = judge_outputs(context, actual, expected, judged_by, against)
    agreed, disagreements = judge_agreement(context, actual, expected, quantization, against)
    float32_bytes = weight_bytes(reference.directory / reference.model_json)
    result = prediction_result(
        context, comparisons, dequantized_failures + failures + disagreements, judged_by, timing, **agreed,
        quantization=quantization, weight_bytes=entry["weight_bytes"], float32_weight_bytes=float32_bytes,
        size_ratio=entry["weight_bytes"] / float32_bytes, max_step=entry["max_step"],
        output_effect=entry["output_effect"],
        dequantized_max_abs_err=largest(c.max_abs_err for c in dequantized),
        dequantized_atol=dequantized_tolerance.atol,
    )
    ties = model_predict_tolerance(context.backend, reference.float32_rounding)
    if disagreements and not dequantized_failures + failures and flips_shown_by(
            actual, keras_dequantized, expected, ties, logits_of(reference)):
        failed_with(result, QUANTIZATION_CHANGES_LABELS,
                    f"Keras with the same {quantization} weights changes the same labels")
    return result


QUANTIZED_CHECKS: dict[str, CheckFunction] = check_family("quantized", QUANTIZATIONS, check_quantized)


def check_sharded(context: CheckContext) -> CheckResult:
    """The model converted into several small weight shards loads (every shard fetched) and matches Keras."""
    entry = context.reference.conversion("sharded")
    tolerance = model_predict_tolerance(context.backend, context.reference.float32_rounding)
    actual, timing = conversion_predictions(context, entry)
    expected = context.reference.load_outputs()
    comparisons, failures = judge_outputs(context, actual, expected, tolerance, "sharded")
    agreed, disagreements = judge_agreement(context, actual, expected, "float", "sharded")
    failures += disagreements
    if entry["shards"] < 2:
        failures.append(f"{context.reference.name} / sharded: the converter wrote {entry['shards']} shard "
                        f"(shard size {entry['shard_bytes']} bytes); the check needs several")
    return prediction_result(context, comparisons, failures, tolerance, timing, **agreed,
                             shards=entry["shards"], shard_bytes=entry["shard_bytes"])


def check_graph_model(context: CheckContext) -> CheckResult:
    """``tf.loadGraphModel`` of the SavedModel conversion: ``predict`` and ``executeAsync`` match Keras and
    leave ``tf.memory().numTensors`` where it was once their outputs are disposed."""
    entry = context.reference.conversion("graph")
    tolerance = model_predict_tolerance(context.backend, context.reference.float32_rounding)
    feeds = [{"node": spec["node"], "tensor": encode_tensor(x)}
             for spec, x in zip(entry["inputs"], context.reference.load_inputs())]
    ran = context.page.call(PageOperation.GRAPH_RUN, conversion_url(context, entry), feeds, entry["outputs"])
    expected = context.reference.load_outputs()
    comparisons, failures = [], []
    agreed: dict[str, Any] = {}
    for call, label in (("predict", ran["predictMode"]), ("executeAsync", "executeAsync")):
        actual = [decode_tensor(o) for o in ran[call]]
        found, problems = judge_outputs(context, actual, expected, tolerance, f"graph model {label}")
        comparisons += found
        failures += problems
        if call == "predict":
            agreed, disagreements = judge_agreement(context, actual, expected, "float", f"graph model {label}")
            failures += disagreements
    tensors = ran["numTensors"]
    for call, after in ((ran["predictMode"], tensors["afterPredict"]), ("executeAsync", tensors["afterExecuteAsync"])):
        if after != tensors["before"]:
            failures.append(f"{context.reference.name} / graph model {call} on {context.backend}: "
                            f"tf.memory().numTensors is {after} after disposing the outputs, "
                            f"{tensors['before']} before")
    return prediction_result(context, comparisons, failures, tolerance, {}, **agreed, num_tensors=tensors,
                             predict_mode=ran["predictMode"], tolerance_reason=tolerance.reason)


# Each conversion check and the conversion it needs (a reference built without it skips it).
CONVERSION_OF_CHECK: dict[str, str] = {
    **{f"quantized[{q}]": quantized_conversion(q) for q in QUANTIZATIONS},
    "sharded": "sharded",
    "graph-model": "graph",
}
