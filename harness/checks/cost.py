"""What a check costs, counted in calls of the model on its reference inputs: the unit a run measures a model's
cost in (``predict`` times its calls) and scales its estimate and time limits by (``run.cost``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.checks import CHECKS
from harness.checks.inference import LATENCY_BUDGET_MS, PREDICT_REPEATS
from harness.checks.memory import MEMORY_BUDGET_MS, MEMORY_CALLS
from harness.checks.speed import SPEED_BUDGET_MS, SPEED_CALLS
from harness.reference.directory import ReferenceFileError, ReferenceModel, TrainingReference

# A training step costs about three forward passes of its batch: the forward pass, the gradients of the activations
# and those of the weights (the usual rule for dense and convolutional layers).
TRAINING_STEP_CALLS = 3.0
# Calls of the storage checks. The converted model is the page's shared one, its own answers computed once per page
# (``BackendPage.read``): each save-load calls it once loaded back, browser-to-python once for the weights' values.
# The trained one is a fresh model: called before it is saved and (save-load) after it is loaded back.
CONVERTED_CALLS, TRAINED_CALLS = 1.0, {"save-load": 2.0, "browser-to-python": 1.0}
MODEL_MANAGEMENT_CALLS = 5.0  # each of the five copies and moves loaded back


def predict_calls(call_s: float) -> float:
    """How many calls ``predict`` makes (``web/models.js``): two, then more for the latency median while they fit in
    ``LATENCY_BUDGET_MS`` together."""
    extra = int(LATENCY_BUDGET_MS / 1000 / call_s) if call_s > 0 else PREDICT_REPEATS
    return float(min(PREDICT_REPEATS, 2 + extra))


def budgeted_calls(most: int, least: int, budget_ms: float, call_s: float) -> float:
    """How many calls a page loop makes that runs at least ``least`` and at most ``most`` calls while they fit in
    ``budget_ms`` together (``web/memory_stages.js``, ``web/timings.js``)."""
    fit = budget_ms / 1000 / call_s if call_s > 0 else most
    return float(min(most, max(least, fit)))


@dataclass(frozen=True)
class Calls:
    """A check's work in calls of the model on its reference inputs: plain calls (``forward``) and training
    (``training``, a step counted as ``TRAINING_STEP_CALLS`` forward passes of its batch). They are apart because a
    backend's training can cost far more than that rule says (WebGPU's many small kernels): a run measures both."""

    forward: float = 0.0
    training: float = 0.0

    def __add__(self, other: Calls) -> Calls:
        return Calls(self.forward + other.forward, self.training + other.training)


def check_calls(check: str, reference: ReferenceModel, call_s: float, trained_kept: bool = False) -> Calls:
    """About how many calls of the model on its reference inputs ``check`` costs on a backend where one takes
    ``call_s`` seconds. ``trained_kept``: the storage checks' trained model is fit-worker's, kept on the page (not
    trained again)."""
    if check == "topology":
        return Calls()
    if check == "model-management":
        return Calls(MODEL_MANAGEMENT_CALLS)
    if check == "predict" or check == "sharded" or check.startswith("quantized["):
        return Calls(predict_calls(call_s))
    if check == "graph-model":
        return Calls(2.0)  # predict, then executeAsync
    if check == "speed":  # a warm-up call, the later ones, a profiled call
        return Calls(2.0 + budgeted_calls(SPEED_CALLS, 5, SPEED_BUDGET_MS, call_s))
    if check == "memory":  # warm-up and repeated calls (twice for a graph model), a reload's call, one fit epoch
        repeated = 1.0 + budgeted_calls(MEMORY_CALLS, 3, MEMORY_BUDGET_MS, call_s)
        plain = Calls(repeated * (2 if reference.is_graph_model else 1) + 1.0)
        if not reference.has_training("fit"):
            return plain
        fit = training_calls(reference, "fit")
        epochs = float(reference.training().get("epochs") or 1)
        return plain + Calls(0.0, fit.training / epochs)
    if check.startswith("save-load[") or check == "browser-to-python":
        if not reference.has_training("fit"):
            return Calls(CONVERTED_CALLS)
        trained = Calls(CONVERTED_CALLS + TRAINED_CALLS[check.split("[")[0]])
        return trained if trained_kept else trained + training_calls(reference, "fit")
    if check in CHECKS and CHECKS[check].training is not None:
        return training_calls(reference, check)
    return Calls(1.0)  # a check the harness does not know (a test's, a plugin's): one call


def training_calls(reference: ReferenceModel, check: str) -> Calls:
    """A training check's calls, from the run Keras recorded for it (epochs, samples, batch); one if none was."""
    try:
        training = reference.training()
    except ReferenceFileError:
        return Calls(1.0)
    batch = reference.batch
    samples = _samples(training, "train") / batch  # in reference batches
    epochs = float(training.get("epochs") or 1)
    if check == "evaluate":
        return Calls(_samples(training, "heldout") / batch)
    if check == "early-stopping":
        run = training.raw.get("runs", {}).get("early-stopping", {})
        epochs = float(run.get("stopped_epoch", run.get("max_epochs", epochs))) + 1
    if check == "fine-tune-worker":  # the frozen base's forward pass each epoch; the small head trains
        return Calls(1.0 + epochs * samples)
    if check == "validation-split":
        held = float(training.get("validation_split") or 0.0)
        return Calls(epochs * samples * held, epochs * samples * (1 - held) * TRAINING_STEP_CALLS)
    return Calls(1.0, epochs * samples * TRAINING_STEP_CALLS)  # and the outputs after training


def _samples(training: TrainingReference, part: str) -> float:
    entries = training.raw.get(part, {}).get("inputs", [])
    return float(entries[0]["shape"][0]) if entries else 0.0
