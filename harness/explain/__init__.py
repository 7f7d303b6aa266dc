"""Why a numeric check failed, what avoids it, and a repro to file upstream.

Run after the checks, on each ``predict`` row that failed without a known issue explaining it:

1. the cause (``isolation``): the first layer out of tolerance (the diagnosis ``predict`` already
   made) alone on Keras' own inputs, on every backend of the run: out of tolerance given identical
   inputs is a kernel problem, and ``ops`` names the kernel inside the layer; within it, the error
   grew over depth (the diagnosis' per-layer curve shows how);
2. a workaround (``workaround``): the backends and variant flags on which the check passes;
3. a repro (``repro``): the smallest model that still fails, runnable in a browser without the
   harness, with ``ISSUE.md`` for tfjs' bug template, proven in the same browser.

The row keeps it all in ``details["explanation"]``, whose ``lines`` (cause, workaround, repro) end
the row's message and are what the terminal and ``parity.html`` show first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.browser.page import BrowserError, PageOperation, or_thrown
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.explain.graph_nodes import fixed_batches, read_nodes, tensorflow_values
from harness.verdict.compare import Comparison, compare_within, worst_ratio
from harness.checks import CHECKS, CheckContext
from harness.checks.diagnosis import DIAGNOSIS_ROWS, first_failing_layer, layer_tolerance
from harness.checks.training import encoded_job, training_job
from harness.explain.isolation import AloneResult, keras_layer_inputs, run_alone
from harness.explain.ops import KernelRunner, first_op_out, judge_kernel, judge_kernels
from harness.explain.repro import (
    ReproModel,
    graph_repro,
    layers_repro,
    prove_repro,
    repro_directory,
    write_repro,
)
from harness.explain.tf_kernels import twin_outputs
from harness.explain.trained import only_predictions_differ, trained_reference, training_differs
from harness.explain.workaround import describe, find_workaround, workaround_line
from harness.reference.artifacts import load_keras_model
from harness.reference.directory import ReferenceModel
from harness.results import CheckResult
from harness.verdict.tolerances import Tolerance, model_predict_tolerance

# How much of a failed training run the explanation records kernel by kernel: the first epoch's first batches, and
# the most base64 bytes of their kernels' inputs and outputs the page keeps (a differing kernel shows in the first
# steps: each step's kernels are judged on their own inputs, so a later step adds only what changed).
TRAINING_KERNEL_BATCHES = 3
TRAINING_KERNEL_BYTES = 64 * 2**20

# Numeric checks explained: predict, the conversions (a quantized or sharded model's layers against Keras running the
# same files: the dequantized weights), the graph model (node by node), and the training checks whose Keras run
# records the predictions after training (``trained``).
EXPLAINED_CHECKS = ("predict", "quantized[uint8]", "quantized[uint16]", "quantized[float16]", "sharded", "graph-model",
                    "fit", "fit-worker")


def needs_explaining(row: CheckResult) -> bool:
    """Whether ``row`` is a numeric failure this module explains (not one a known issue already explains, nor one
    whose numbers are all within tolerance and whose labels changed: no layer is out of tolerance to look for)."""
    labels_only = row.tolerance_ratio is not None and row.tolerance_ratio <= 1 and "agreement" in row.details
    return (row.status == "fail" and row.check in EXPLAINED_CHECKS and "known_issue" not in row.details
            and "explanation" not in row.details and not labels_only)


@dataclass
class _Cause:
    """What a cause search found: the report's entry, and the repro's model (None: nothing to isolate)."""

    entry: dict[str, Any]
    repro: ReproModel | None = None
    tolerance: Tolerance | None = None  # what the repro judges by


def explain(session: Any, row: CheckResult, reference: ReferenceModel, backends: tuple[str, ...],
            rows: list[CheckResult], out: Path | None, tolerance: Tolerance | None = None) -> dict[str, Any]:
    """Explain failed ``row`` of ``reference`` (``session``: a ``ParitySession``; ``backends``: the run's;
    ``rows``: the run's rows, whose statuses count for the workaround; ``out``: the report directory, where the
    repro goes, None for none); ``tolerance``: what the check judged by (default: the backend's predict tolerance
    for the model). Adds ``details["explanation"]`` and three lines to the message; returns the explanation."""
    tolerance = tolerance or model_predict_tolerance(row.backend, reference.float32_rounding)
    try:
        if row.check == "graph-model":
            cause = _graph_cause(session, row, reference, backends, tolerance)
        elif CHECKS[row.check].training is not None:
            cause = _training_cause(session, row, reference, backends, out)
        else:
            cause = _layer_cause(session, row, reference, backends, tolerance)
    except Exception as error:  # noqa: BLE001 - the failure stands whatever breaks its explanation; say why
        cause = _Cause({"kind": "unexplained",
                        "cause": f"the cause could not be found: {type(error).__name__}: {error}"})
    explanation = cause.entry
    measured = {r.backend: r.status for r in rows if (r.model, r.check) == (row.model, row.check)}
    found = find_workaround(row.backend, measured, lambda backend: session.run_check(
        row.check, reference, backend, quiet=True).status)
    explanation["workaround"] = {**found, "line": workaround_line(found)}
    row.details["explanation"] = explanation
    repro_line = ("none (a difference in training, not in one layer's inference)" if explanation["kind"] == "training"
                  else "none (no layer to isolate)")
    if out is not None and cause.repro is not None:
        try:
            explanation["repro"] = _repro(session, row, reference, cause, out, found["passes"])
            repro_line = explanation["repro"]["line"]
        except Exception as error:  # noqa: BLE001 - the failure stands whatever breaks its repro; say why
            repro_line = f"could not be written: {type(error).__name__}: {error}"
            explanation["repro"] = {"error": repro_line}
    explanation["lines"] = [f"Cause: {explanation['cause']}", f"Workaround: {explanation['workaround']['line']}",
                            f"Repro: {repro_line}"]
    row.message += "\n\n" + "\n".join(explanation["lines"])
    return explanation


def _repro(session: Any, row: CheckResult, reference: ReferenceModel, cause: _Cause, out: Path,
           passes: list[str]) -> dict[str, Any]:
    """Write the repro and prove it in the session's browser."""
    assert cause.repro is not None and cause.tolerance is not None
    directory = write_repro(repro_directory(out, row), row, cause.repro, cause.tolerance, session)
    passing = next((b for b in passes if describe(b) == b), passes[0] if passes else None)
    proof = prove_repro(directory, row, passing, session)
    shown = f"{directory} ({'reproduces' if proof['reproduces'] else 'DOES NOT reproduce'} in this browser: " + \
        ", ".join(f"{'fails' if r.get('pass') is False else 'passes' if r.get('pass') else 'error'} on {b}"
                  for b, r in proof["runs"].items()) + ")"
    return {"path": str(directory), "relative": str(directory.relative_to(out)), **proof, "line": shown}


def _diagnosis(session: Any, row: CheckResult, reference: ReferenceModel, tolerance: Tolerance) -> dict[str, Any]:
    """The layer-by-layer diagnosis ``predict`` makes, for a check that does not make it (the conversions)."""
    page = session.page(row.backend)
    url = session.model_url(reference)
    context = CheckContext(row.check, row.backend, page, reference, url, session.server)
    return first_failing_layer(context, page.model(url), tolerance)


def _kernel_expected(kernel: dict[str, Any] | None) -> np.ndarray | None:
    """TensorFlow's output of a recorded kernel (None without a twin)."""
    if kernel is None:
        return None
    twin = twin_outputs(kernel["name"], {e["key"]: decode_tensor(e["tensor"]) for e in kernel["inputs"]},
                        kernel["attrs"])
    return None if twin is None else np.asarray(twin[0][0])


def _layer_cause(session: Any, row: CheckResult, reference: ReferenceModel, backends: tuple[str, ...],
                 tolerance: Tolerance) -> _Cause:
    """A layers model's cause: the first layer out of tolerance alone on every backend, then its kernels. For a
    conversion, its own model files are the model (their layers against Keras running the same files)."""
    conversion = CHECKS[row.check].conversion
    if conversion is not None:
        reference = replace(reference, model_json=f"{reference.conversion(conversion)['directory']}/model.json")
    diagnosis = row.details.get("first_failing_layer") or _diagnosis(session, row, reference, tolerance)
    curve = diagnosis.get("curve") or []
    layer = diagnosis.get("layer")
    if layer is None:
        return _Cause({"kind": "unexplained", "curve": curve,
                       "cause": "no layer is out of tolerance on the diagnosis' samples (see the layer-by-layer lines "
                                "above)"})
    files = load_keras_model(reference.directory / reference.model_json)
    given = keras_layer_inputs(files, layer, reference.load_inputs())
    def alone_on(backend: str, judged_by: Tolerance) -> AloneResult:
        page = session.page(backend)
        return run_alone(page, page.model(session.model_url(reference)), given, judged_by,
                         record=backend == row.backend)

    alone: dict[str, AloneResult] = {}
    for backend in dict.fromkeys([row.backend, *backends]):
        judged_by = tolerance if backend == row.backend else model_predict_tolerance(backend,
                                                                                     reference.float32_rounding)
        outcome = or_thrown(alone_on, backend, judged_by)
        alone[backend] = (AloneResult(backend, _threw(outcome, given.outputs[0], judged_by))
                          if isinstance(outcome, BrowserError) else outcome)
    entry: dict[str, Any] = {"layer": layer, "curve": curve,
                             "layer_alone": {b: result.summary() for b, result in alone.items()}}
    own = alone[row.backend]
    if own.comparison.ok:
        ratio = entry["layer_alone"][row.backend]["ratio"] or 0.0
        worst = max(curve, key=lambda point: point["ratio"] or 0.0) if curve else {"layer": layer, "ratio": None}
        return _Cause({**entry, "kind": "accumulated",
                "cause": f"error accumulated over depth: every layer is within tolerance alone (layer {layer}, the "
                         f"first out of tolerance in the model, is at {ratio:.2g} of it alone on {row.backend} given "
                         f"Keras' inputs); the error grows with depth, to {worst['ratio'] or 0:.3g}x the tolerance at "
                         f"{worst['layer']}"}, layers_repro(files, reference, None, None, None), tolerance)
    in_order = list(dict.fromkeys([*backends, row.backend]))
    verdicts = judge_kernels(own.kernels, row.backend, *_kernel_reference(session, row.backend))
    op = first_op_out(verdicts)
    kernel = None if op is None else own.kernels[op.position]
    op_text = (f"; inside it, tfjs' {op.kernel} kernel differs from {op.against} on the same inputs "
               f"{_by(op.comparison)}" if op is not None else
               "; each of its kernels alone is within tolerance of TensorFlow (the layer composes them differently)")
    return _Cause({**entry, "kind": "kernel", "ops": [v.summary() for v in verdicts],
                   "op": None if op is None else op.summary(),
                   "cause": f"a kernel problem: given identical inputs, layer {layer} "
                            f"{_alone_outcome({b: alone[b].comparison for b in in_order}, row.backend)}{op_text}"},
                  layers_repro(files, reference, given, kernel, _kernel_expected(kernel)),
                  tolerance if given.rounding is None else layer_tolerance(tolerance, row.backend, given.rounding))


def _kernel_reference(session: Any, backend: str) -> tuple[str, KernelRunner]:
    """The backend a recorded kernel without a TensorFlow twin is rerun on (cpu, or wasm when cpu is the one failing),
    and the runner that reruns it there."""
    reference_backend = "wasm" if backend.split(":")[-1].startswith("cpu") else "cpu"
    return reference_backend, lambda name, inputs, attrs: session.page(reference_backend).call(
        PageOperation.KERNEL_ALONE, name, inputs, attrs)


def _training_cause(session: Any, row: CheckResult, reference: ReferenceModel, backends: tuple[str, ...],
                    out: Path | None) -> _Cause:
    """A training check's cause: training itself differs (history, weights), then named down to the first kernel of
    the first training steps that computes differently on its own inputs; or only the predictions after training,
    which are then explained on Keras' trained model as a failed predict is."""
    if not only_predictions_differ(row.details):
        differs = f"training itself differs from Keras': {training_differs(row.details)}"
        found = or_thrown(_training_kernel, session, row, reference)
        if isinstance(found, BrowserError):  # the difference stands; say why its kernels could not be recorded
            return _Cause({"kind": "training", "cause": f"{differs}; its kernels could not be recorded: {found}"})
        return _Cause({"kind": "training", **found, "cause": f"{differs}; {found['cause']}"})
    if out is None:
        return _Cause({"kind": "unexplained", "cause": "the predictions after training differ (no report directory "
                                                       "to build the trained model in)"})
    run = CHECKS[row.check].training or row.check
    trained = trained_reference(reference, run, out)
    tolerance = model_predict_tolerance(row.backend, trained.float32_rounding)
    cause = _layer_cause(session, replace(row, details={}), trained, backends, tolerance)
    cause.entry["trained_model"] = str(trained.directory)
    cause.entry["cause"] = (f"training matches Keras' (history and final weights), but the trained model predicts "
                            f"differently; on Keras' trained weights, {cause.entry['cause']}")
    return cause


def _training_kernel(session: Any, row: CheckResult, reference: ReferenceModel) -> dict[str, Any]:
    """The first kernel of the first epoch's first ``TRAINING_KERNEL_BATCHES`` training steps (``fit`` on
    ``row.backend``'s page, recorded kernel by kernel) that differs from its reference on its own inputs: the
    explanation's ``op`` and ``kernels`` entries and the cause's words."""
    job = {**training_job(reference.training(), session.model_url(reference), "fit"), "epochs": 1,
           "recordKernels": {"batches": TRAINING_KERNEL_BATCHES, "maxBytes": TRAINING_KERNEL_BYTES}}
    ran = session.page(row.backend).call(PageOperation.TRAIN, encoded_job(job))
    kernels = ran["kernels"]
    reference_backend, rerun = _kernel_reference(session, row.backend)
    verdicts = judge_kernels(kernels, row.backend, reference_backend, rerun)
    op = first_op_out(verdicts)
    batches = len({kernel["batch"] for kernel in kernels})
    recorded = {"batches": batches, "recorded": len(kernels), "compared": len(verdicts),
                "truncated": ran["kernelsTruncated"]}
    steps = (f"{batches} training step(s) recorded kernel by kernel on {row.backend}"
             f"{' (cut short at the recording limit)' if ran['kernelsTruncated'] else ''}")
    if not verdicts:
        return {"kernels": recorded, "cause": f"over the first {steps}, no kernel could be judged against a reference"}
    if op is None:
        return {"kernels": recorded, "cause": f"over the first {steps}, every kernel ({len(verdicts)} compared) is "
                                              "within tolerance of its reference on its own inputs: the difference "
                                              "is not one kernel's there"}
    kernel = kernels[op.position]
    shapes = " x ".join(str(shape) for shape in op.shapes)
    fresh = judge_kernel(op.position, {**kernel, "outputs": session.page(row.backend).call(
        PageOperation.KERNEL_ALONE, kernel["name"], kernel["inputs"], kernel["attrs"])}, row.backend,
        reference_backend, rerun)
    state = ("; alone on the same values in fresh tensors it is within tolerance there: what differs is the state "
             f"the training run left its inputs in on {row.backend}, not the kernel's arithmetic"
             if fresh is not None and fresh.comparison.ok else "")
    return {"kernels": recorded, "op": {**op.summary(), "batch": kernel["batch"],
                                        "fresh_ok": None if fresh is None else fresh.comparison.ok},
            "cause": f"over the first {steps}, tfjs' {op.kernel} kernel (batch {kernel['batch']}, inputs {shapes}) "
                     f"differs from {op.against} on the same inputs {_by(op.comparison)}{state}"}


def _graph_cause(session: Any, row: CheckResult, reference: ReferenceModel, backends: tuple[str, ...],
                 tolerance: Tolerance) -> _Cause:
    """A graph model's cause: every node against TensorFlow running the same graph, then the first diverging node
    alone, fed TensorFlow's values of its inputs, on every backend."""
    entry = reference.conversion("graph")
    model_json = reference.directory / entry["directory"] / "model.json"
    url = session.file_url(reference.directory, f"{entry['directory']}/model.json")
    fixed = fixed_batches(model_json)  # a graph that takes one batch only is fed all of it
    feeds = {node: x if node in fixed else x[:DIAGNOSIS_ROWS]
             for node, x in ((spec["node"].split(":")[0], x) for spec, x in zip(entry["inputs"],
                                                                                 reference.load_inputs()))}
    nodes = read_nodes(model_json)
    expected = tensorflow_values(model_json, feeds, nodes.order)

    def run(backend: str, fed: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        encoded = [{"node": name, "tensor": encode_tensor(value)} for name, value in fed.items()]
        return [decode_tensor(o) for o in session.page(backend).call(PageOperation.GRAPH_NODES, url, encoded, names)]

    curve, first = [], None
    for name, actual in zip(nodes.order, run(row.backend, feeds, nodes.order)):
        if actual.dtype.kind != "f":
            continue
        comparison = compare_within(actual, expected[name].astype(actual.dtype, copy=False), tolerance)
        curve.append({"layer": f"{name} ({nodes.ops[name]})", "ratio": worst_ratio([comparison]),
                      "max_abs_err": comparison.max_abs_err})
        if first is None and not comparison.ok:
            first = name
    if first is None:
        return _Cause({"kind": "unexplained", "curve": curve,
                       "cause": f"every node of the graph ({len(curve)}) is within tolerance of TensorFlow on the "
                                "diagnosis' samples"})
    fed = {name: feeds[name] if name in feeds else expected[name]
           for name in nodes.inputs[first] if nodes.ops.get(name) != "Const"}
    alone: dict[str, Comparison] = {}
    for backend in dict.fromkeys([*backends, row.backend]):
        judged_by = tolerance if backend == row.backend else model_predict_tolerance(backend,
                                                                                     reference.float32_rounding)
        ran = or_thrown(run, backend, fed, [first])
        alone[backend] = (_threw(ran, expected[first], judged_by) if isinstance(ran, BrowserError)
                          else compare_within(ran[0], expected[first], judged_by))
    op = nodes.ops[first]
    found: dict[str, Any] = {"node": first, "op": {"kernel": op}, "curve": curve,
                             "layer_alone": {b: {"ok": c.ok, "max_abs_err": c.max_abs_err, "ratio": worst_ratio([c]),
                                                 "problem": c.problem}
                                             for b, c in alone.items()}}
    repro = graph_repro(model_json, fed, first, op, expected[first])
    if alone[row.backend].ok:
        return _Cause({**found, "kind": "accumulated",
                       "cause": f"error accumulated over the graph: node {first} ({op}), the first out of tolerance, "
                                f"is within it alone on {row.backend} given TensorFlow's values of its inputs"},
                      graph_repro(model_json, feeds, first, op, expected[first]), tolerance)
    return _Cause({**found, "kind": "kernel",
                   "cause": f"a kernel problem: given TensorFlow's values of its inputs, graph node {first} (op {op}) "
                            f"{_alone_outcome(alone, row.backend)}"}, repro, tolerance)


THREW = "tfjs threw: "  # the problem of a layer or node alone that tfjs threw on


def _threw(error: BrowserError, expected: np.ndarray, tolerance: Tolerance) -> Comparison:
    """A layer or node alone that tfjs threw on: out of tolerance, with what it threw as the problem."""
    return Comparison(False, tolerance.atol, tolerance.rtol, (), expected.shape, "", str(expected.dtype),
                      problem=f"{THREW}{error}")


def _alone_outcome(alone: dict[str, Comparison], own: str) -> str:
    """How a layer or node alone came out on each backend (``own``: the failed row's):
    ``"differs by 0.0012 on cpu and webgl, and not on wasm"``, naming where tfjs threw and what."""
    threw = {b: (c.problem or "").removeprefix(THREW) for b, c in alone.items()
             if (c.problem or "").startswith(THREW)}
    differs = [b for b, c in alone.items() if not c.ok and b not in threw]
    agrees = [b for b, c in alone.items() if c.ok]
    parts = []
    if differs:
        parts.append(f"differs {_by(alone[own] if own in differs else alone[differs[0]])} on {_listed(differs)}")
    parts += [f"throws on {backend} ({message})" for backend, message in threw.items()]
    return "; ".join(parts) + (f", and not on {_listed(agrees)}" if agrees else "")


def _by(comparison: Comparison) -> str:
    """``"by 0.00175"``, or ``"(actual has non-finite values ...)"`` where the difference has no finite size."""
    finite = comparison.max_abs_err is not None and np.isfinite(comparison.max_abs_err)
    return f"by {comparison.max_abs_err:.3g}" if finite else f"({comparison.problem})"


def _listed(names: list[str]) -> str:
    """``"cpu and webgl"``, ``"cpu, webgl and wasm"``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


__all__ = ["EXPLAINED_CHECKS", "explain", "needs_explaining"]
