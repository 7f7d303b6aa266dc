"""Keras' side of the training checks, run once at fixture-build time and stored next to the model.

Every run starts from the weights the converted model holds (Python's starting weights) with a
fresh optimizer, on the same seeded data, unshuffled, in the same batches. Stored per model:

    training.json            spec, data entries, and each run's histories / results
    train_*.npy, heldout_*   the training data and the held-out data
    weights_<run>_<i>.npy    final weights of a run, by name (see training.json)
    after_fit_<i>.npy        Keras' predictions on the reference inputs after ``fit``
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import SetupError
from harness.reference.optimizers import OptimizerSpec
from harness.reference.directory import TRAINING_JSON, save_arrays
from harness.reference.keras_model import keras_data, keras_names, keras_predict
from harness.reference.training_spec import TrainingSpec, compile_keras, disable_dropout, output_last_dims

# The Core API recipe's two optimizers (plain SGD and Adam), and how many passes over the data.
CORE_API_OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("sgd", 0.1),
    "adam": OptimizerSpec("adam", 1e-3),
}
CORE_API_PASSES = 2
# The known issue a model with frozen BatchNormalization shows in tfjs' training (``verdict.known_issues``).
FROZEN_BATCH_NORMALIZATION = "tfjs-frozen-batch-normalization"
# An early-stopping decision is only robust if every epoch's improvement is this far (relative to
# the loss) from the threshold: far beyond the history tolerance, so float noise cannot flip it.
EARLY_STOPPING_MIN_MARGIN = 1e-3


class TrainingReferenceError(SetupError):
    """Keras' training run cannot serve as a reference (for example, no robust early stop)."""


@dataclass(frozen=True)
class TrainingData:
    """The data both sides train on (``train``) and evaluate on (``heldout``): inputs and targets, in the
    model's input and output order."""

    train_x: list[np.ndarray]
    train_y: list[np.ndarray]
    heldout_x: list[np.ndarray]
    heldout_y: list[np.ndarray]


def _history(history: Any) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in history.history.items()}


class _Trainer:
    """Resets a model to its starting weights with a fresh optimizer before each run; ``prefix`` names the
    files of the runs being recorded."""

    def __init__(self, model: Any, training: TrainingSpec, directory: Path) -> None:
        self.model = model
        self.training = training
        self.directory = directory
        self.start = model.get_weights()
        self.names = keras_names(model.weights)
        self.prefix = ""
        self.tfjs_arithmetic = False  # compile with the optimizer's tfjs rule instead of Keras' own
        disable_dropout(model)

    def fresh(self) -> Any:
        self.model.set_weights(self.start)
        optimizer = self.training.optimizer
        compile_keras(self.model, self.training, optimizer.tfjs_arithmetic() if self.tfjs_arithmetic else None)
        return self.model

    def save_weights(self, run: str) -> list[dict[str, Any]]:
        arrays = [np.asarray(w, dtype=np.float32) for w in self.model.get_weights()]
        return save_arrays(self.directory, f"{self.prefix}weights_{run}", self.names, arrays)


def build_training_runs(training: TrainingSpec, data: TrainingData, model: Any, reference_x: list[np.ndarray],
                        directory: Path) -> dict[str, str]:
    """Run every training check's Keras side and write ``training.json``; returns the checks whose Keras run
    cannot serve as a reference, each with the reason (early-stopping without a robust stop)."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # the many short fits would warn about retracing
    trainer = _Trainer(model, training, directory)
    x, y = data.train_x, data.train_y
    input_names = keras_names(model.inputs)
    output_names = list(model.output_names)
    fit_args = {"batch_size": training.batch_size, "shuffle": False, "verbose": 0}
    unavailable: dict[str, str] = {}
    alternatives: dict[str, Any] = {}
    frozen = frozen_batch_normalization(model)
    differs = training.optimizer.tfjs_differs
    if training.head_from is not None:
        runs = {"fine-tune": _fine_tune_run(trainer, training.head_from, x, y, reference_x, fit_args)}
    else:
        runs = _full_model_runs(trainer, data, reference_x, fit_args)
        if frozen:
            unavailable["early-stopping"] = (
                f"frozen BatchNormalization ({', '.join(frozen)}): tfjs normalises with batch statistics whenever "
                "it trains, Keras 2 does not, so no stop can be designed that both runs share")
            alternatives[FROZEN_BATCH_NORMALIZATION] = {
                "layers": frozen, "runs": _batch_statistics_runs(trainer, frozen, data, reference_x, fit_args)}
        elif differs:
            unavailable["early-stopping"] = (
                f"tfjs' {training.optimizer.kind} follows another update rule than Keras' ({differs}: the fit rows "
                "name it), so no stop can be designed that both runs share")
        else:
            try:
                runs["early-stopping"] = _early_stopping_run(trainer, x, y, fit_args)
            except TrainingReferenceError as error:
                unavailable["early-stopping"] = str(error)
        if differs:
            alternatives[differs] = {"optimizer": training.optimizer.kind}
            if training.optimizer.tfjs_arithmetic() is not None:
                alternatives[differs]["runs"] = _tfjs_optimizer_runs(trainer, data, reference_x, fit_args)

    write_training_json(directory, {
        "compile": training.tfjs_compile(output_last_dims(model)),
        "metric_notes": training.metric_notes(),
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "validation_split": training.validation_split,
        "start_weights": save_arrays(directory, "start_weights", trainer.names,
                                  [np.asarray(w, dtype=np.float32) for w in trainer.start]),
        "train": {"inputs": save_arrays(directory, "train_input", input_names, x),
                  "targets": save_arrays(directory, "train_target", output_names, y)},
        "heldout": {"inputs": save_arrays(directory, "heldout_input", input_names, data.heldout_x),
                    "targets": save_arrays(directory, "heldout_target", output_names, data.heldout_y)},
        "runs": runs,
        "alternatives": alternatives,
    })
    return unavailable


def frozen_batch_normalization(model: Any) -> list[str]:
    """The names of ``model``'s BatchNormalization layers that do not train (nested models included)."""
    import tf_keras as keras

    return [layer.name for layer in model.submodules
            if isinstance(layer, keras.layers.BatchNormalization) and not layer.trainable]


def _batch_statistics_runs(trainer: _Trainer, frozen: list[str], data: TrainingData, reference_x: list[np.ndarray],
                           fit_args: dict[str, Any]) -> dict[str, Any]:
    """Keras' runs as tfjs trains a model with frozen BatchNormalization: in every training step those layers
    normalise with the batch's statistics and update their moving statistics, whatever ``training`` argument
    the model passes them (tfjs does not honour one), their gamma and beta still frozen; evaluation and
    prediction use the moving statistics. The training checks compare with these only to recognise that
    difference (``verdict.known_issues.FROZEN_BATCH_NORMALIZATION``)."""
    model = trainer.model
    in_train_step = [False]  # read while Keras traces a step: True only inside train_step
    layers = [layer for layer in model.submodules if getattr(layer, "name", None) in frozen]
    train_step = model.train_step

    def tfjs_train_step(batch: Any) -> Any:
        in_train_step[0] = True
        try:
            return train_step(batch)
        finally:
            in_train_step[0] = False

    model.train_step = tfjs_train_step
    for layer in layers:
        layer._get_training_value = lambda training=None: in_train_step[0]
    trainer.prefix = "batch_statistics_"
    try:
        return _full_model_runs(trainer, data, reference_x, fit_args)
    finally:
        trainer.prefix = ""
        del model.train_step
        for layer in layers:
            del layer._get_training_value


def _tfjs_optimizer_runs(trainer: _Trainer, data: TrainingData, reference_x: list[np.ndarray],
                         fit_args: dict[str, Any]) -> dict[str, Any]:
    """Keras' runs with an optimizer that follows tfjs' update rule (``OptimizerSpec.tfjs_arithmetic``) where it is
    not Keras': the training checks compare with these only to recognise that difference."""
    trainer.prefix, trainer.tfjs_arithmetic = "tfjs_optimizer_", True
    try:
        return _full_model_runs(trainer, data, reference_x, fit_args)
    finally:
        trainer.prefix, trainer.tfjs_arithmetic = "", False


def _full_model_runs(trainer: _Trainer, data: TrainingData, reference_x: list[np.ndarray],
                     fit_args: dict[str, Any]) -> dict[str, Any]:
    """Keras' side of ``fit``, ``fit-dataset``, ``evaluate``, ``validation-split`` and (for the seeds'
    model) ``core-api``."""
    import tensorflow as tf

    training, model, directory = trainer.training, trainer.model, trainer.directory
    x, y, held_x, held_y = data.train_x, data.train_y, data.heldout_x, data.heldout_y
    output_names = list(model.output_names)
    runs: dict[str, Any] = {}
    fitted = trainer.fresh().fit(keras_data(x), keras_data(y), epochs=training.epochs, **fit_args)
    after = keras_predict(model, reference_x)
    runs["fit"] = {"history": _history(fitted), "weights": trainer.save_weights("fit"),
                   "outputs": save_arrays(directory, f"{trainer.prefix}after_fit", output_names, after)}

    dataset = tf.data.Dataset.from_tensor_slices((tuple(x), tuple(y)) if len(x) > 1 or len(y) > 1 else (x[0], y[0]))
    fitted = trainer.fresh().fit(dataset.batch(training.batch_size), epochs=training.epochs, verbose=0)
    runs["fit-dataset"] = {"history": _history(fitted), "weights": trainer.save_weights("fit_dataset")}

    results = trainer.fresh().evaluate(keras_data(held_x), keras_data(held_y), batch_size=training.batch_size,
                                       verbose=0, return_dict=True)
    runs["evaluate"] = {"results": {key: float(value) for key, value in results.items()}}

    fitted = trainer.fresh().fit(keras_data(x), keras_data(y), epochs=training.epochs,
                                 validation_split=training.validation_split, **fit_args)
    runs["validation-split"] = {"history": _history(fitted)}
    if training.core_api:
        runs["core-api"] = _core_api_runs(trainer, x, y, directory)
    return runs


def split_head(model: Any, head_from: str) -> tuple[Any, Any]:
    """``model`` as a feature extractor (inputs to layer ``head_from``'s output) and a head (the
    layers after it, sharing their weights with ``model``), as web/training.js splits it."""
    import tf_keras as keras

    names = [layer.name for layer in model.layers]
    if head_from not in names:
        raise TrainingReferenceError(f"fine-tune: no layer '{head_from}' in model '{model.name}'")
    features = model.get_layer(head_from).output
    extractor = keras.Model(model.inputs, features)
    head_input = keras.Input(shape=features.shape[1:], name=f"{head_from}_input")
    output = head_input
    for layer in model.layers[names.index(head_from) + 1:]:
        output = layer(output)
    return extractor, keras.Model(head_input, output)


def _fine_tune_run(trainer: _Trainer, head_from: str, x: list[np.ndarray], y: list[np.ndarray],
                   reference_x: list[np.ndarray], fit_args: dict[str, Any]) -> dict[str, Any]:
    """Transfer learning: features from the frozen base in inference mode, then only the head trains."""
    model = trainer.fresh()
    extractor, head = split_head(model, head_from)
    features = extractor.predict(keras_data(x), batch_size=trainer.training.batch_size, verbose=0)
    compile_keras(head, trainer.training)
    fitted = head.fit(features, keras_data(y), epochs=trainer.training.epochs, **fit_args)
    names = keras_names(head.weights)
    weights = save_arrays(trainer.directory, "weights_fine_tune", names,
                          [np.asarray(w, dtype=np.float32) for w in head.get_weights()])
    return {"head_from": head_from, "history": _history(fitted), "weights": weights,
            "outputs": save_arrays(trainer.directory, "after_fine_tune", list(model.output_names),
                                   keras_predict(model, reference_x))}


def write_training_json(directory: Path, content: dict[str, Any]) -> None:
    (directory / TRAINING_JSON).write_text(json.dumps(content, indent=1) + "\n")


def simulate_early_stopping(losses: list[float], min_delta: float, patience: int) -> tuple[int | None, float]:
    """Keras' (and tfjs') stopping rule on a loss history: the stopped epoch (or None) and the
    smallest gap, over the decisions taken, between an epoch's improvement and ``min_delta``."""
    best, wait, margin = math.inf, 0, math.inf
    for epoch, loss in enumerate(losses):
        wait += 1
        gap = math.inf if best == math.inf else (best - loss) - min_delta
        if best != math.inf:
            margin = min(margin, abs(gap))
        if gap > 0:
            best, wait = loss, 0
        if wait >= patience and epoch > 0:
            return epoch, margin
    return None, margin


def choose_min_delta(losses: list[float], patience: int) -> tuple[float, int]:
    """The ``min_delta`` that stops a plain run's history mid-way with the widest decision margin. A run
    that offers no robust mid-way stop (a loss falling steadily) stops at the first chance instead:
    ``min_delta`` twice the loss' fall over the first ``patience`` epochs, so no epoch counts as an
    improvement and every decision is as far from the threshold as that fall."""
    improvements = [abs(a - b) for a, b in zip(losses, losses[1:]) if a != b]
    if not improvements:
        raise TrainingReferenceError("early-stopping: the loss never changes, so no stop can be designed")
    scale = max(abs(v) for v in losses)
    best: tuple[float, float, int] | None = None
    for min_delta in np.geomspace(min(improvements), max(improvements), 64):
        stopped, margin = simulate_early_stopping(losses, float(min_delta), patience)
        if stopped is None or not patience < stopped < len(losses) - 1:
            continue
        if best is None or margin > best[0]:
            best = (margin, float(min_delta), stopped)
    if best is None or best[0] < EARLY_STOPPING_MIN_MARGIN * scale:
        best = _first_chance_stop(losses, patience)
    if best is None or best[0] < EARLY_STOPPING_MIN_MARGIN * scale:
        raise TrainingReferenceError(
            f"early-stopping: no min_delta stops this run with a margin of {EARLY_STOPPING_MIN_MARGIN:g} x loss "
            f"(losses {losses})")
    return best[1], best[2]


def _first_chance_stop(losses: list[float], patience: int) -> tuple[float, float, int] | None:
    """(margin, min_delta, stopped epoch) for a stop at epoch ``patience``, or None if the run is too short."""
    if len(losses) <= patience + 1:
        return None
    fall = max(losses[0] - loss for loss in losses[1:patience + 1])
    if fall <= 0:
        return None
    stopped, margin = simulate_early_stopping(losses, 2 * fall, patience)
    return (margin, 2 * fall, stopped) if stopped == patience else None


def _early_stopping_run(trainer: _Trainer, x: list[np.ndarray], y: list[np.ndarray],
                        fit_args: dict[str, Any]) -> dict[str, Any]:
    import tf_keras as keras

    spec = trainer.training.early_stopping
    plain = trainer.fresh().fit(keras_data(x), keras_data(y), epochs=spec.max_epochs, **fit_args)
    min_delta, expected_stop = choose_min_delta(plain.history[spec.monitor], spec.patience)
    stopper = keras.callbacks.EarlyStopping(monitor=spec.monitor, min_delta=min_delta, patience=spec.patience,
                                            mode="min")
    fitted = trainer.fresh().fit(keras_data(x), keras_data(y), epochs=spec.max_epochs, callbacks=[stopper], **fit_args)
    if stopper.stopped_epoch != expected_stop:
        raise TrainingReferenceError(f"early-stopping: Keras stopped at epoch {stopper.stopped_epoch}, "
                                     f"its plain run predicts {expected_stop}")
    return {"monitor": spec.monitor, "patience": spec.patience, "min_delta": min_delta,
            "max_epochs": spec.max_epochs, "stopped_epoch": int(stopper.stopped_epoch),
            "history": _history(fitted)}


def _core_api_runs(trainer: _Trainer, x: list[np.ndarray], y: list[np.ndarray], directory: Path) -> dict[str, Any]:
    """The seeds' Core API loop with ``tf.GradientTape``: relu(x @ w1 + b1) @ w2 + b2, softmax CE."""
    import tensorflow as tf

    names = ["w1", "b1", "w2", "b2"]
    batch = trainer.training.batch_size
    batches = [(x[0][i:i + batch], y[0][i:i + batch]) for i in range(0, len(x[0]), batch)] * CORE_API_PASSES
    runs: dict[str, Any] = {}
    for label, optimizer_spec in CORE_API_OPTIMIZERS.items():
        variables = [tf.Variable(w) for w in trainer.start]
        optimizer = optimizer_spec.keras()
        losses = []
        for xb, yb in batches:
            with tf.GradientTape() as tape:
                w1, b1, w2, b2 = variables
                logits = tf.nn.relu(xb @ w1 + b1) @ w2 + b2
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=yb, logits=logits))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            losses.append(float(loss))
        runs[label] = {
            "optimizer": optimizer_spec.tfjs(),
            "losses": losses,
            "variables": save_arrays(directory, f"core_{label}", names, [v.numpy() for v in variables]),
        }
    return {"batch_size": batch, "passes": CORE_API_PASSES, "runs": runs}
