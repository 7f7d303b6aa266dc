"""What a check costs, counted in calls of the model on its reference inputs: the unit a run measures a model's
cost in (``predict`` times its calls) and scales its estimate and time limits by (``run.cost``)."""

from __future__ import annotations

from harness.checks import CHECKS
from harness.checks.inference import LATENCY_BUDGET_MS, PREDICT_REPEATS
from harness.reference.directory import ReferenceFileError, ReferenceModel, TrainingReference

# A training step costs about three forward passes of its batch: the forward pass, the gradients of the activations
# and those of the weights (the usual rule for dense and convolutional layers).
TRAINING_STEP_CALLS = 3.0
# Calls per subject (the converted model, and the trained one where the model trains) of the storage checks: before
# it is saved and after it is loaded back (save-load), before it is saved (browser-to-python: Keras loads it back).
CALLS_PER_SUBJECT = {"browser-to-python": 1.0}
SAVE_LOAD_CALLS_PER_SUBJECT = 2.0
MODEL_MANAGEMENT_CALLS = 6.0  # the original, then each of the five copies and moves loaded back


def predict_calls(call_s: float) -> float:
    """How many calls ``predict`` makes (``web/models.js``): two, then more for the latency median while they fit in
    ``LATENCY_BUDGET_MS`` together."""
    extra = int(LATENCY_BUDGET_MS / 1000 / call_s) if call_s > 0 else PREDICT_REPEATS
    return float(min(PREDICT_REPEATS, 2 + extra))


def check_calls(check: str, reference: ReferenceModel, call_s: float) -> float:
    """About how many calls of the model on its reference inputs ``check`` costs on a backend where one takes
    ``call_s`` seconds (a training step counted as ``TRAINING_STEP_CALLS`` forward passes of its batch)."""
    if check == "topology":
        return 0.0
    if check == "model-management":
        return MODEL_MANAGEMENT_CALLS
    if check == "predict" or check == "sharded" or check.startswith("quantized["):
        return predict_calls(call_s)
    if check == "graph-model":
        return 2.0  # predict, then executeAsync
    if check.startswith("save-load[") or check == "browser-to-python":
        trains = reference.has_training("fit")
        subjects = CALLS_PER_SUBJECT.get(check, SAVE_LOAD_CALLS_PER_SUBJECT) * (2 if trains else 1)
        return subjects + (_training_calls(reference, "fit") if trains else 0.0)
    if check in CHECKS and CHECKS[check].training is not None:
        return _training_calls(reference, check)
    return 1.0  # a check the harness does not know (a test's, a plugin's): one call


def _training_calls(reference: ReferenceModel, check: str) -> float:
    """A training check's calls, from the run Keras recorded for it (epochs, samples, batch); 1 if none was."""
    try:
        training = reference.training()
    except ReferenceFileError:
        return 1.0
    batch = reference.inputs[0].shape[0] if reference.inputs and reference.inputs[0].shape else 1
    samples = _samples(training, "train")
    epochs = float(training.get("epochs") or 1)
    if check == "evaluate":
        return _samples(training, "heldout") / batch
    if check == "early-stopping":
        run = training.raw.get("runs", {}).get("early-stopping", {})
        epochs = float(run.get("stopped_epoch", run.get("max_epochs", epochs))) + 1
    if check == "validation-split":
        held = float(training.get("validation_split") or 0.0)
        return epochs * samples * (TRAINING_STEP_CALLS * (1 - held) + held) / batch
    return epochs * samples * TRAINING_STEP_CALLS / batch + 1  # the outputs after training


def _samples(training: TrainingReference, part: str) -> float:
    entries = training.raw.get(part, {}).get("inputs", [])
    return float(entries[0]["shape"][0]) if entries else 0.0
