"""Inference checks: ``topology`` (weights, shapes, parameter count) and ``predict`` (outputs vs Keras)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.browser.page import BackendPage, PageOperation
from harness.checks.context import CheckContext
from harness.verdict.compare import Comparison, compare_within, format_failure, largest, worst_ratio
from harness.reference.directory import ReferenceFileError, ReferenceModel, tfjs_weight_name
from harness.results import CheckResult
from harness.verdict.agreement import agreement, logits_outputs
from harness.verdict.tolerances import Tolerance, inner_output_tolerance, model_predict_tolerance
from harness.browser.tensors import decode_tensor, encode_tensor

PREDICT_REPEATS = 5  # calls at most: the first, one for repeatability, the others for the latency median
# The later calls beyond the one repeatability needs run only while they take this long together: a small model gets
# all five calls, a model whose call takes seconds (ResNet50 on cpu: 20 s) two.
LATENCY_BUDGET_MS = 2000


def check_topology(context: CheckContext) -> CheckResult:
    """The browser model's weight names and shapes, and its parameter count, equal Keras'."""
    browser = context.page.call(PageOperation.TOPOLOGY, context.page.model(context.model_url))
    expected = {tfjs_weight_name(w.name): list(w.shape) for w in context.reference.weights}
    actual = {w["name"]: list(w["shape"]) for w in browser["weights"]}
    problems = [f"missing in browser: {name} {shape}" for name, shape in expected.items() if name not in actual]
    problems += [f"unexpected in browser: {name} {shape}" for name, shape in actual.items() if name not in expected]
    problems += [
        f"shape of {name}: browser {actual[name]}, keras {shape}"
        for name, shape in expected.items() if name in actual and actual[name] != shape
    ]
    if browser["params"] != context.reference.param_count:
        problems.append(f"parameter count: browser {browser['params']}, keras {context.reference.param_count}")
    details = {"weights": len(actual), "params": browser["params"], "keras_params": context.reference.param_count}
    if problems:
        title = f"{context.reference.name} / topology on {context.backend}"
        return context.result(status="fail", message="\n".join([title, *problems]), details=details)
    return context.result(status="pass", details=details)


def check_predict(context: CheckContext) -> CheckResult:
    """Browser outputs equal Keras outputs within the backend's tolerance, output by output, and so do the
    outputs of the inner layers the reference names (``reference.inner_outputs``)."""
    return compare_predictions(context, context.page.model(context.model_url))


def compare_predictions(context: CheckContext, model_id: int) -> CheckResult:
    """Run the reference inputs through page model ``model_id`` and compare with Keras' outputs and inner outputs.
    The row's errors are the model outputs'; its tolerance ratio is the worst of all."""
    reference = context.reference
    tolerance = model_predict_tolerance(context.backend, reference.float32_rounding)
    names = [entry.name for entry in reference.inner_outputs]
    actual, timing = browser_predictions(context, with_inner_outputs(context.page, reference, model_id))
    count = len(actual) - len(names)
    expected = reference.load_outputs()
    comparisons, failures = judge_outputs(context, actual[:count], expected, tolerance, "predict")
    agreed, disagreements = judge_agreement(context, actual[:count], expected, "float", "predict")
    inner, inner_failures = judge_inner_outputs(context, actual[count:])
    result = prediction_result(context, comparisons, failures + disagreements + inner_failures, tolerance, timing,
                               **agreed,
                               **({"inner_outputs": [_summary(c, n) for c, n in zip(inner, names)]} if names else {}))
    if inner:
        result.tolerance_ratio = worst_ratio([*comparisons, *inner])
    if result.status == "fail":
        _diagnose(context, model_id, tolerance, result)
    return result


def with_inner_outputs(page: BackendPage, reference: ReferenceModel, model_id: int) -> int:
    """The page model whose outputs are page model ``model_id``'s followed by the inner outputs ``reference`` names
    (``model_id`` itself when it names none)."""
    names = [entry.name for entry in reference.inner_outputs]
    return page.call(PageOperation.WITH_INNER_OUTPUTS, model_id, names) if names else model_id


def expected_predictions(reference: ReferenceModel, backend: str) -> list[tuple[np.ndarray, Tolerance]]:
    """What ``predict`` compares on ``backend``, each with its tolerance: Keras' outputs (the backend's predict
    tolerance), then the inner outputs ``reference`` names (``expected_inner_outputs``)."""
    tolerance = model_predict_tolerance(backend, reference.float32_rounding)
    return [(expected, tolerance) for expected in reference.load_outputs()] + expected_inner_outputs(reference, backend)


def expected_inner_outputs(reference: ReferenceModel, backend: str) -> list[tuple[np.ndarray, Tolerance]]:
    """Keras' outputs of each inner layer ``reference`` names, with its tolerance on ``backend`` (widened per channel
    by the layer's own float32 rounding)."""
    return [(expected, inner_output_tolerance(backend, rounding))
            for expected, rounding in zip(reference.load_inner_outputs(), reference.load_inner_rounding())]


def judge_inner_outputs(context: CheckContext, actual: list[np.ndarray]) -> tuple[list[Comparison], list[str]]:
    """The browser's inner outputs against Keras', each by its own per-channel tolerance."""
    reference = context.reference
    comparisons = [compare_within(a, e, t)
                   for a, (e, t) in zip(actual, expected_inner_outputs(reference, context.backend))]
    failures = [format_failure(c, f"{reference.name} / inner output {entry.name} (layer) / predict on "
                                  f"{context.backend}", ("BROWSER", reference.source))
                for c, entry in zip(comparisons, reference.inner_outputs) if not c.ok]
    return comparisons, failures


def _diagnose(context: CheckContext, model_id: int, tolerance: Tolerance, result: CheckResult) -> None:
    """Name the first layer whose activations leave tolerance in ``result`` (its message and details)."""
    from harness.checks.diagnosis import describe, first_failing_layer

    try:
        diagnosis = first_failing_layer(context, model_id, tolerance)
        summary = describe(diagnosis, tolerance)
    except Exception as error:  # noqa: BLE001 - the failure stands whatever breaks the diagnosis; say why
        diagnosis = {"layer": None, "error": str(error)}
        summary = f"Layer-by-layer diagnosis failed: {error}"
    result.details["first_failing_layer"] = diagnosis
    result.message = f"{result.message}\n\n{summary}"


def browser_predictions(context: CheckContext, model_id: int) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Page model ``model_id``'s outputs on the reference inputs, and its timing and repeatability."""
    inputs = [encode_tensor(x) for x in context.reference.load_inputs()]
    ran = context.page.call(PageOperation.PREDICT, model_id, inputs, PREDICT_REPEATS, LATENCY_BUDGET_MS)
    timing = {"first_ms": ran["firstMs"], "median_ms": ran["medianMs"], "calls": ran["calls"],
              "repeatable": ran["repeatable"]}
    compiled = ran.get("compile")
    if compiled:  # WebGL: the first call's shader compilation, timed apart (its share of first_ms)
        timing["compile"] = {"ms": compiled.get("compileMs"), "programs": compiled.get("programs"),
                             "error": compiled.get("error")}
    return [decode_tensor(o) for o in ran["outputs"]], timing


def judge_outputs(context: CheckContext, actual: list[np.ndarray], expected: list[np.ndarray], tolerance: Tolerance,
                  what: str) -> tuple[list[Comparison], list[str]]:
    """Each output against its reference; the failure messages name model, output, ``what`` and backend."""
    reference = context.reference
    if len(actual) != len(expected):
        return [], [f"{reference.name} / {what} on {context.backend}: browser returned {len(actual)} outputs, "
                    f"expected {len(expected)}"]
    comparisons = [compare_within(a, e, tolerance) for a, e in zip(actual, expected)]
    failures = [
        format_failure(c, f"{reference.name} / output {i} ({entry.name}) / {what} on {context.backend}",
                       ("BROWSER", reference.source))
        for i, (c, entry) in enumerate(zip(comparisons, reference.outputs)) if not c.ok
    ]
    return comparisons, failures


def judge_agreement(context: CheckContext, actual: list[np.ndarray], expected: list[np.ndarray], variant: str,
                    what: str) -> tuple[dict[str, Any], list[str]]:
    """Task-level agreement (``verdict.agreement``) of each classification output with Keras', judged by the least
    top-1 agreement ``variant`` needs: the row's details (``agreement`` per classification output and ``min_top1``;
    nothing when no output is a classification) and the failures."""
    reference = context.reference
    ties = model_predict_tolerance(context.backend, reference.float32_rounding)
    minimum = context.options.min_top1[variant]
    found, failures = [], []
    for i, (a, e, entry, scores) in enumerate(zip(actual, expected, reference.outputs, logits_of(reference))):
        result = agreement(a, e, ties, scores)
        if result is None:
            continue
        found.append({"output": entry.name, **result.to_dict()})
        problem = result.problem(minimum, f"{reference.name} / output {i} ({entry.name}) / {what} on "
                                          f"{context.backend}")
        if problem:
            failures.append(problem)
    return ({"agreement": found, "min_top1": minimum} if found else {}), failures


def logits_of(reference: ReferenceModel) -> list[bool]:
    """For each output, whether the model's compile config (its training reference, if recorded) computes a
    crossentropy from it as logits: its labels are then compared too."""
    try:
        loss = reference.training().get("compile")["loss"]
    except (ReferenceFileError, KeyError, TypeError):
        return [False] * len(reference.outputs)
    logits = logits_outputs(loss, [entry.name for entry in reference.outputs])
    return [entry.name in logits for entry in reference.outputs]


def prediction_result(context: CheckContext, comparisons: list[Comparison], failures: list[str], tolerance: Tolerance,
                      timing: dict[str, Any], **details: Any) -> CheckResult:
    """The row for a prediction comparison: errors, tolerance, worst element, per-output summaries, timing."""
    reference = context.reference
    if timing.get("repeatable") is False:
        failures = [*failures, f"{reference.name} / {context.check} on {context.backend}: repeated calls gave "
                               "different outputs"]
    return context.result(
        status="fail" if failures else "pass",
        message="\n\n".join(failures),
        max_abs_err=largest(c.max_abs_err for c in comparisons),
        max_rel_err=largest(c.max_rel_err for c in comparisons),
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        tolerance_ratio=worst_ratio(comparisons),
        details={
            **timing,
            "elements": sum(c.elements for c in comparisons),
            "error_decades": [sum(counts) for counts in zip(*(c.error_decades for c in comparisons))],
            **(_worst(comparisons, reference) if comparisons else {"worst": None}),
            "outputs": [_summary(c, e.name) for c, e in zip(comparisons, reference.outputs)],
            **details,
        },
    )


def _summary(comparison: Comparison, name: str) -> dict[str, Any]:
    summary = comparison.to_dict()
    summary["name"] = name
    return summary


def _worst(comparisons: list[Comparison], reference: Any) -> dict[str, Any]:
    """The worst element over all outputs: the one nearest to (or furthest past) its allowance."""
    index = max(range(len(comparisons)), key=lambda i: comparisons[i].badness)
    worst = comparisons[index].worst
    if worst is None:
        return {"worst": None}
    return {"worst": {"output": reference.outputs[index].name, "index": list(worst.index),
                      "browser": worst.actual, "keras": worst.expected}}
