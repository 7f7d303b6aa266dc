"""Training checks: the browser trains from Python's starting weights, on the same data in the same
batches, and must end where Keras ended (histories, final weights, predictions after training).

Checks: ``fit``, ``fit-worker``, ``fit-dataset``, ``evaluate``, ``validation-split``,
``early-stopping`` and ``core-api``. Each takes an optional ``mutate`` that changes the browser's
job before it is sent: the teeth tests use it to show that a 1% learning rate change, a skipped
batch, shuffled data or another Adam epsilon make the check fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.browser.backends import not_in_effect
from harness.browser.page import PageOperation
from harness.checks.context import CheckContext
from harness.verdict.agreement import agreement
from harness.checks.inference import logits_of
from harness.verdict.compare import Comparison, compare_within, format_failure, worst_ratio
from harness.verdict.known_issues import (
    FROZEN_BATCH_NORMALIZATION,
    KNOWN_ISSUES,
    TFJS_MULTI_OUTPUT_EVALUATION,
    KnownIssue,
    failed_with,
    shows_multi_output_evaluation_bug,
)
from harness.reference.directory import TrainingReference, tfjs_weight_name
from harness.results import CheckResult
from harness.verdict.tolerances import Tolerance, TrainingTolerance, training_tolerance, widened_by_rounding
from harness.browser.tensors import decode_named, decode_tensor, encode_tensor

Job = dict[str, Any]
Mutation = Callable[[Job], Job]
ARRAY_FIELDS = ("x", "y", "predict", "variables")


def training_job(training: TrainingReference, model_url: str, mode: str, data: str = "train") -> Job:
    """The browser's job for ``mode`` ('fit', 'fitDataset' or 'evaluate'), arrays still as numpy.

    Integer targets (sparse labels) go as float32: tfjs' sparseCategoricalCrossentropy floors its
    labels and ``tf.floor`` rejects int32 tensors on every backend, so tfjs needs float labels
    where Keras takes integers.
    """
    targets = [t.astype(np.float32) if t.dtype.kind in "iu" else t for t in training.arrays(data, "targets")]
    return {
        "modelUrl": model_url,
        "compile": copy.deepcopy(training.get("compile")),  # a mutation must not reach the cached reference
        "mode": mode,
        "x": training.arrays(data, "inputs"),
        "y": targets,
        "epochs": training.get("epochs"),
        "batchSize": training.get("batch_size"),
        "shuffle": False,
    }


def encoded_job(job: Job) -> Job:
    """``job`` with its numpy arrays encoded for the page."""
    return {key: [encode_tensor(a) for a in value] if key in ARRAY_FIELDS and value is not None else value
            for key, value in job.items()}


@dataclass
class TrainingComparison:
    """Everything one training check compared, turned into one ``CheckResult``."""

    context: CheckContext
    tolerance: TrainingTolerance
    history: list[tuple[str, Comparison]] = field(default_factory=list)
    values: list[tuple[str, Comparison]] = field(default_factory=list)
    weights: list[tuple[str, Comparison]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    excused: set[str] = field(default_factory=set)
    known_issue: KnownIssue | None = None

    def excuse(self, labels: set[str], issue: KnownIssue) -> None:
        """Failures of the comparisons named ``labels`` are ``issue``'s known signature, not new bugs."""
        self.excused |= labels
        self.known_issue = issue

    def title(self, what: str) -> str:
        return f"{self.context.reference.name} / {what} / {self.context.check} on {self.context.backend}"

    def note_metrics(self, training: TrainingReference) -> None:
        """Where a compared metric is tfjs' definition and not what Keras' metric of that name reports."""
        notes = training.raw.get("metric_notes")
        if notes:
            self.details["metric_notes"] = notes

    def compare_histories(self, browser: dict[str, list[float]], keras: dict[str, list[float]]) -> None:
        """Every Keras history key, epoch by epoch (both sides name each metric as tfjs does: ``metrics``)."""
        self.details["history"] = {"keras": keras, "browser": browser}
        missing = sorted(set(keras) - set(browser))
        extra = sorted(set(browser) - set(keras))
        if missing or extra:
            self.problems.append(self.title("history") + f": keys differ: missing in browser {missing}, "
                                 f"only in browser {extra}")
        for key in keras:
            if "loss" in key:
                self._check_finite(key, browser.get(key, []), "browser")
                self._check_finite(key, keras[key], "Keras")
        for key in keras:
            if key in browser:
                actual = np.asarray(browser[key], dtype=np.float64)
                expected = np.asarray(keras[key], dtype=np.float64)
                self.history.append((key, compare_within(actual, expected, self.tolerance.history)))

    def _check_finite(self, key: str, values: list[float], side: str) -> None:
        """A NaN or infinite loss on either side always fails, whatever the tolerance."""
        bad = [(epoch, v) for epoch, v in enumerate(values) if not np.isfinite(v)]
        if bad:
            epoch, value = bad[0]
            self.problems.append(self.title("history") + f": non-finite {key} on the {side} side: {value} at epoch "
                                 f"{epoch} ({len(bad)} of {len(values)} epochs)")

    def compare_values(self, label: str, actual: np.ndarray, expected: np.ndarray,
                       tolerance: Tolerance | None = None) -> None:
        """Values computed by the trained model (evaluate results, outputs after training, per-step losses)."""
        tolerance = tolerance or self.tolerance.history
        self.values.append((label, compare_within(actual, expected, tolerance)))

    def compare_weights(self, browser: dict[str, np.ndarray], keras: dict[str, np.ndarray]) -> None:
        """Every final weight by name (Keras names mapped to tfjs' ones), each within the weights tolerance."""
        expected = {tfjs_weight_name(name): value for name, value in keras.items()}
        missing = sorted(set(expected) - set(browser))
        if missing or set(browser) - set(expected):
            self.problems.append(self.title("final weights") + f": names differ: missing in browser {missing}, "
                                 f"only in browser {sorted(set(browser) - set(expected))}")
        for name, value in expected.items():
            if name in browser:
                self.weights.append((name, compare_within(browser[name], value, self.tolerance.weights)))

    def result(self) -> CheckResult:
        """The check's row: fail on any comparison outside tolerance or any problem, naming the known issue when
        every failure is its signature (an acceptance of its id makes the row ``xfail``)."""
        failures = [*self.problems]
        known: list[str] = []
        failed: dict[str, list[str]] = {"history": [], "values": [], "weights": []}
        for kind, group, entries in (("history", "history", self.history), ("value", "values", self.values),
                                     ("weight", "weights", self.weights)):
            for label, c in entries:
                if not c.ok:
                    text = format_failure(c, self.title(f"{kind} {label}"))
                    (known if label in self.excused else failures).append(text)
                    failed[group].append(label)
        explained = bool(known) and not failures and self.known_issue is not None
        failures += known
        status = "fail" if failures else "pass"
        history_errors = [c.max_abs_err for _, c in self.history + self.values if c.max_abs_err is not None]
        weight_errors = [c.max_abs_err for _, c in self.weights if c.max_abs_err is not None]
        history_rel = [c.max_rel_err for _, c in self.history + self.values if c.max_rel_err is not None]
        self.details.update({
            "failed_comparisons": {**failed, "problems": len(self.problems)},
            "worst_epoch": _worst_epoch(self.history),
            "worst_value": _worst_of(self.values),
            "worst_weight": _worst_of(self.weights),
            "weights_max_abs_err": max(weight_errors) if weight_errors else None,
            "weights_atol": self.tolerance.weights.atol,
            "weights_rtol": self.tolerance.weights.rtol,
        })
        result = self.context.result(
            status=status,
            message="\n\n".join(failures),
            max_abs_err=max(history_errors) if history_errors else None,
            max_rel_err=max(history_rel) if history_rel else None,
            atol=self.tolerance.history.atol,
            rtol=self.tolerance.history.rtol,
            tolerance_ratio=worst_ratio(c for _, c in self.history + self.values + self.weights),
            details=self.details,
        )
        return failed_with(result, self.known_issue) if explained and self.known_issue is not None else result


def _worst_of(entries: list[tuple[str, Comparison]]) -> dict[str, Any] | None:
    scored = [(label, c) for label, c in entries if c.worst is not None or c.problem]
    if not scored:
        return None
    label, worst = max(scored, key=lambda entry: entry[1].badness)
    if worst.worst is None:
        return {"name": label, "problem": worst.problem}
    return {"name": label, "index": list(worst.worst.index), "browser": worst.worst.actual,
            "keras": worst.worst.expected, "abs_err": abs(worst.worst.actual - worst.worst.expected)}


def _worst_epoch(history: list[tuple[str, Comparison]]) -> dict[str, Any] | None:
    worst = _worst_of(history)
    if worst is None or "index" not in worst:
        return worst
    return {"metric": worst["name"], "epoch": worst["index"][0], "browser": worst["browser"],
            "keras": worst["keras"], "abs_err": worst["abs_err"]}


def _start(context: CheckContext, mutate: Mutation | None, mode: str, data: str = "train",
           **extra: Any) -> tuple[TrainingReference, Job]:
    training = context.reference.training()
    job = {**training_job(training, context.model_url, mode, data), **extra}
    return training, mutate(job) if mutate else job


def _fit_comparison(context: CheckContext, training: TrainingReference, run: str,
                    ran: dict[str, Any]) -> TrainingComparison:
    """The browser's history and final weights (``ran``) against Keras' run ``run``."""
    comparison = TrainingComparison(context, training_tolerance(context.backend))
    comparison.note_metrics(training)
    comparison.compare_histories(ran["history"], training.get("runs", run, "history"))
    if ran.get("weights") is not None and "weights" in training.get("runs", run):
        comparison.compare_weights(decode_named(ran["weights"]), training.named_arrays("runs", run, "weights"))
    comparison.details.update({"train_ms": ran.get("ms"), "responsiveness": ran.get("responsiveness"),
                               "epochs_reported": len(ran.get("progress") or [])})
    return comparison


def _judged(training: TrainingReference, build: Callable[[TrainingReference], TrainingComparison]) -> CheckResult:
    """``build``'s comparison with Keras' runs as a row. When it fails and the browser's run matches one of Keras'
    runs the way tfjs trains instead (``TrainingReference.alternatives``: frozen BatchNormalization on batch
    statistics, tfjs' Adadelta rule), that is the known difference: a ``fail`` naming it, with the failures against
    Keras' own run.

    For frozen BatchNormalization the match leaves out the layers' moving statistics and what uses them (predictions
    after training, the val_* history): Keras cannot update a frozen layer's moving statistics while tfjs does."""
    result = build(training).result()
    if result.status != "fail":
        return result
    for issue_id, alternative in training.alternatives().items():
        if alternative is None:  # no Keras run can follow tfjs' rule: the known difference explains the failure
            return failed_with(result, KNOWN_ISSUES[issue_id], "tfjs' rule differs from Keras' in a way no Keras run "
                               "can follow, so this failure is taken as its effect")
        matched = build(alternative)
        if issue_id == FROZEN_BATCH_NORMALIZATION.id:
            frozen = training.get("alternatives", issue_id, "layers")
            matched.history = [(key, c) for key, c in matched.history if not key.startswith("val_")]
            matched.values = [(label, c) for label, c in matched.values if not label.endswith("after training")]
            matched.weights = [(name, c) for name, c in matched.weights
                               if not any(name.startswith(f"{layer}/moving_") for layer in frozen)]
        verdict = matched.result()
        if verdict.status == "pass":
            failed_with(result, KNOWN_ISSUES[issue_id])
            result.details["matched_tfjs_rule"] = {
                "issue": issue_id, "max_abs_err": verdict.max_abs_err, "atol": verdict.atol,
                "weights_max_abs_err": verdict.details.get("weights_max_abs_err")}
            return result
    return result


def _compare_after_fit(comparison: TrainingComparison, training: TrainingReference, ran: dict[str, Any],
                       run: str = "fit", tolerance: Tolerance | None = None) -> None:
    expected = training.arrays("runs", run, "outputs")
    actual = [decode_tensor(o) for o in ran.get("outputs") or []]
    if len(actual) != len(expected):
        comparison.problems.append(comparison.title("predictions after training") +
                                   f": browser returned {len(actual)} outputs, keras {len(expected)}")
        return
    tolerance = tolerance or comparison.tolerance.after_training
    agreed = []  # for the record: a label that changes beyond a tie already fails the comparison by the same tolerance
    for i, (a, e, scores) in enumerate(zip(actual, expected, logits_of(comparison.context.reference))):
        comparison.compare_values(f"output {i} after training", a, e, tolerance)
        found = agreement(a, e, tolerance, scores)
        if found is not None:
            agreed.append({"output": i, **found.to_dict()})
    if agreed:
        comparison.details["agreement_after_training"] = agreed


def _check_progress(comparison: TrainingComparison, ran: dict[str, Any]) -> None:
    """Every epoch was reported through onEpochEnd, with the logs the history holds."""
    progress = ran.get("progress") or []
    epochs = len(next(iter(ran["history"].values()), []))
    if [p["epoch"] for p in progress] != list(range(epochs)):
        comparison.problems.append(comparison.title("progress") + f": onEpochEnd reported epochs "
                                   f"{[p['epoch'] for p in progress]}, history has {epochs}")
        return
    for p in progress:
        for key, value in p["logs"].items():
            held = ran["history"].get(key, [value] * (p["epoch"] + 1))[p["epoch"]]
            if held != value and not (np.isnan(held) and np.isnan(value)):
                comparison.problems.append(comparison.title("progress") + f": epoch {p['epoch']} {key} reported "
                                           f"{value}, history holds {held}")


def check_fit(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """``model.fit`` on the page: history, final weights and predictions after training vs Keras."""
    training, job = _start(context, mutate, "fit", predict=context.reference.load_inputs())
    ran = context.page.call(PageOperation.TRAIN, encoded_job(job))

    def build(reference: TrainingReference) -> TrainingComparison:
        comparison = _fit_comparison(context, reference, "fit", ran)
        _compare_after_fit(comparison, reference, ran)
        _check_progress(comparison, ran)
        return comparison

    return _judged(training, build)


def check_fit_worker(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """The same training in a dedicated Web Worker, with progress per epoch and main-thread responsiveness."""
    training, job = _start(context, mutate, "fit", predict=context.reference.load_inputs())
    if mutate is None:  # the storage checks' own training job: its trained model becomes their subject
        job["keepForStorage"] = True
    return _in_worker(context, training, job, "fit")


def check_fine_tune_worker(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """Transfer learning in a Web Worker: the frozen base computes features (inference mode), only the head
    trains on them; history, head weights and the whole model's predictions after training vs Keras."""
    head_from = context.reference.training().get("runs", "fine-tune", "head_from")
    training, job = _start(context, mutate, "fineTune", predict=context.reference.load_inputs(), headFrom=head_from)
    after = widened_by_rounding(training_tolerance(context.backend).history, context.backend,
                                context.reference.float32_rounding,
                                "the head trains on features that differ by float32 rounding")
    return _in_worker(context, training, job, "fine-tune", after)


def _in_worker(context: CheckContext, training: TrainingReference, job: Job, run: str,
               after_tolerance: Tolerance | None = None) -> CheckResult:
    ran = context.page.call(PageOperation.TRAIN_IN_WORKER, encoded_job(job))

    def build(reference: TrainingReference) -> TrainingComparison:
        comparison = _fit_comparison(context, reference, run, ran)
        _compare_after_fit(comparison, reference, ran, run, after_tolerance)
        if after_tolerance is not None:
            comparison.details["after_training_tolerance"] = vars(after_tolerance)
        _check_progress(comparison, ran)
        worker_info = ran.get("workerInfo") or {}
        problems = not_in_effect(context.backend, worker_info)
        if problems:
            comparison.problems.append(comparison.title("worker") + f": the worker did not run {context.backend}: "
                                       + "; ".join(problems))
        comparison.details["worker"] = ran.get("workerInfo")
        return comparison

    return _judged(training, build)


def check_fit_dataset(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """``model.fitDataset`` on zipped, batched ``tf.data.generator``s vs Keras fit on a ``tf.data.Dataset``."""
    training, job = _start(context, mutate, "fitDataset")
    ran = context.page.call(PageOperation.TRAIN, encoded_job(job))
    return _judged(training, lambda reference: _fit_comparison(context, reference, "fit-dataset", ran))


def check_validation_split(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """``validationSplit`` vs ``validation_split``: both hold out the last fraction; val_* histories match."""
    training, job = _start(context, mutate, "fit")
    job["validationSplit"] = training.get("validation_split")
    ran = context.page.call(PageOperation.TRAIN, encoded_job(job))
    outputs = [entry.name for entry in context.reference.outputs]

    def build(reference: TrainingReference) -> TrainingComparison:
        comparison = _fit_comparison(context, reference, "validation-split", ran)
        keras = reference.get("runs", "validation-split", "history")
        if not any(key.startswith("val_") for key in keras):
            comparison.problems.append(comparison.title("history") + ": Keras recorded no val_* history")
        browser = comparison.details["history"]["browser"]
        epochs = range(len(keras["loss"]))
        if all(shows_multi_output_evaluation_bug(_epoch(browser, e), _epoch(keras, e), outputs, "val_")
               for e in epochs):
            comparison.excuse({key for key in keras if key.startswith("val_")}, TFJS_MULTI_OUTPUT_EVALUATION)
        return comparison

    return _judged(training, build)


def _epoch(history: dict[str, list[float]], epoch: int) -> dict[str, float]:
    return {key: values[epoch] for key, values in history.items() if epoch < len(values)}


def check_early_stopping(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """``tf.callbacks.earlyStopping`` vs Keras ``EarlyStopping``: same monitor, patience and min_delta,
    on a run designed to plateau; both must stop after the same epoch with the same history."""
    training = context.reference.training()
    spec = training.get("runs", "early-stopping")
    _, job = _start(context, mutate, "fit", epochs=spec["max_epochs"],
                    earlyStopping={"monitor": spec["monitor"], "minDelta": spec["min_delta"],
                                   "patience": spec["patience"]})
    ran = context.page.call(PageOperation.TRAIN, encoded_job(job))
    comparison = _fit_comparison(context, training, "early-stopping", ran)
    browser_stop = ran.get("stoppedEpoch")
    comparison.details["stopped_epoch"] = {"keras": spec["stopped_epoch"], "browser": browser_stop}
    if browser_stop != spec["stopped_epoch"]:
        comparison.problems.append(comparison.title("stop") + f": browser stopped after epoch {browser_stop}, "
                                   f"Keras after epoch {spec['stopped_epoch']} (of {spec['max_epochs']}; "
                                   f"monitor {spec['monitor']}, patience {spec['patience']}, "
                                   f"min_delta {spec['min_delta']:.4g})")
    return comparison.result()


def check_evaluate(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """``model.evaluate`` loss and metrics on held-out data vs Keras ``evaluate``."""
    training, job = _start(context, mutate, "evaluate", data="heldout")
    ran = context.page.call(PageOperation.TRAIN, encoded_job(job))
    comparison = TrainingComparison(context, training_tolerance(context.backend))
    comparison.note_metrics(training)
    browser = dict(ran["results"])
    keras = training.get("runs", "evaluate", "results")
    comparison.details["results"] = {"keras": keras, "browser": browser}
    if set(browser) != set(keras):
        comparison.problems.append(comparison.title("results") + f": names differ: browser {sorted(browser)}, "
                                   f"keras {sorted(keras)}")
    for name in keras:
        if name in browser:
            comparison.compare_values(name, np.array([browser[name]], dtype=np.float64),
                                      np.array([keras[name]], dtype=np.float64))
    if shows_multi_output_evaluation_bug(browser, keras, [entry.name for entry in context.reference.outputs]):
        comparison.excuse(set(keras), TFJS_MULTI_OUTPUT_EVALUATION)
    return comparison.result()


def check_core_api(context: CheckContext, mutate: Mutation | None = None) -> CheckResult:
    """The seeds' Core API recipe (tf.variable, matMul/add/relu, optimizer.minimize, softmaxCrossEntropy)
    with SGD and Adam vs the same loop under ``tf.GradientTape``: per-step losses and final variables."""
    training = context.reference.training()
    core = training.get("runs", "core-api")
    start = training.arrays("start_weights")
    comparison = TrainingComparison(context, training_tolerance(context.backend))
    losses: dict[str, Any] = {}
    for label, run in core["runs"].items():
        job: Job = {"variables": start, "x": training.arrays("train", "inputs"),
                    "y": training.arrays("train", "targets"), "optimizer": run["optimizer"],
                    "batchSize": core["batch_size"], "passes": core["passes"]}
        job = mutate(job) if mutate else job
        ran = context.page.call(PageOperation.CORE_API, encoded_job(job))
        losses[label] = {"keras": run["losses"], "browser": ran["losses"]}
        comparison.compare_values(f"{label} per-step loss", np.array(ran["losses"], dtype=np.float64),
                                  np.array(run["losses"], dtype=np.float64))
        names = [entry["name"] for entry in run["variables"]]
        expected = training.arrays("runs", "core-api", "runs", label, "variables")
        browser = {f"{label}/{name}": decode_tensor(v) for name, v in zip(names, ran["variables"])}
        comparison.compare_weights(browser, {f"{label}/{name}": e for name, e in zip(names, expected)})
    comparison.details["losses"] = losses
    return comparison.result()
