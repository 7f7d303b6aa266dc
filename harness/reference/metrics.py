"""Every metric tfjs-layers reports, computed on the Keras side with tfjs' own definition.

A metric is named as tfjs names it in histories and ``evaluate`` (``acc``, ``binaryAccuracy``,
``precision``, ``mse``...; ``<output>_<name>`` for a model with several outputs, ``val_`` for
validation), and Keras computes the same definition under the same name, so the two histories
compare key by key. tfjs-layers averages a metric over an epoch weighted by batch size, as Keras'
``MeanMetricWrapper`` does for a per-sample value; a metric tfjs computes once per batch (precision,
recall, r2Score) is spread over the batch's samples on the Keras side to weigh the same.

Where Keras' metric of the same name computes something else, the row says so (``KERAS_DIFFERS``):
the histories compare tfjs' definition, the note tells the user their Keras numbers are not that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import NoTfjsTwin
from harness.reference.losses import LossSpec


@dataclass(frozen=True)
class TwinnedMetric:
    """A metric tfjs reports: its history name, how the page asks tfjs for it (a ``metricsMap`` string, or a
    ``tf.metrics`` function named after it), and the Keras identifiers it stands for."""

    name: str
    keras_names: tuple[str, ...]
    tfjs_string: str | None = None  # passed to compile as is: tfjs names the metric by it
    tfjs_function: str | None = None  # tf.metrics.<function>, named ``name`` on the page


TWINNED_METRICS: tuple[TwinnedMetric, ...] = (
    TwinnedMetric("acc", ("accuracy", "acc")),
    TwinnedMetric("binaryAccuracy", ("binary_accuracy", "BinaryAccuracy"), "binaryAccuracy"),
    TwinnedMetric("categoricalAccuracy", ("categorical_accuracy", "CategoricalAccuracy"), "categoricalAccuracy"),
    TwinnedMetric("sparseCategoricalAccuracy", ("sparse_categorical_accuracy", "SparseCategoricalAccuracy"),
                  None, "sparseCategoricalAccuracy"),
    TwinnedMetric("precision", ("precision", "Precision"), "precision"),
    TwinnedMetric("recall", ("recall", "Recall"), None, "recall"),
    TwinnedMetric("mse", ("mse", "mean_squared_error", "MeanSquaredError"), "mse"),
    TwinnedMetric("mae", ("mae", "mean_absolute_error", "MeanAbsoluteError"), "mae"),
    TwinnedMetric("mape", ("mape", "mean_absolute_percentage_error", "MeanAbsolutePercentageError"), "mape"),
    TwinnedMetric("cosine", ("cosine_similarity", "cosine_proximity", "CosineSimilarity"), "cosine"),
    TwinnedMetric("categoricalCrossentropy", ("categorical_crossentropy", "CategoricalCrossentropy"),
                  "categoricalCrossentropy"),
    TwinnedMetric("sparseCategoricalCrossentropy", ("sparse_categorical_crossentropy",
                                                    "SparseCategoricalCrossentropy"), "sparseCategoricalCrossentropy"),
    TwinnedMetric("binaryCrossentropy", ("binary_crossentropy", "BinaryCrossentropy"), None, "binaryCrossentropy"),
    TwinnedMetric("r2Score", ("r2_score", "R2Score"), None, "r2Score"),
)
METRIC_TWINS: dict[str, TwinnedMetric] = {name: m for m in TWINNED_METRICS for name in (m.name, *m.keras_names)}
METRIC_NAMES = tuple(m.name for m in TWINNED_METRICS)
# Where Keras' metric of that name is not tfjs' definition.
KERAS_DIFFERS: dict[str, str] = {
    "precision": "tfjs counts a prediction as positive only when it equals 1 exactly (no 0.5 threshold: a sigmoid "
                 "output is almost never 1, so its precision is 0) and averages per batch; Keras' Precision "
                 "thresholds at 0.5 and counts over the whole epoch",
    "recall": "tfjs counts a prediction as positive only when it equals 1 exactly (no 0.5 threshold) and averages "
              "per batch; Keras' Recall thresholds at 0.5 and counts over the whole epoch",
    "cosine": "tfjs' cosine is cosineProximity, the negative of the cosine similarity Keras' CosineSimilarity "
              "metric reports",
    "r2Score": "tfjs computes R2 per batch and averages the batches; Keras' R2Score is over the whole epoch",
}


def metric_name(raw: Any) -> str | None:
    """The tfjs name of a metric from a compile config or ``--train`` (a name, or a serialized metric), or None when
    tfjs reports no such metric; ``NoTfjsTwin`` for a known metric with settings tfjs does not have."""
    if isinstance(raw, dict):
        config = raw.get("config", {}) or {}
        if config.get("name") in ("accuracy", "acc"):
            return "acc"
        untwinned = {key: config[key] for key in ("thresholds", "top_k", "class_id", "from_logits", "label_smoothing")
                     if config.get(key)}
        if config.get("threshold", 0.5) != 0.5:
            untwinned["threshold"] = config["threshold"]
        names = [config.get("fn"), raw.get("class_name")]
        twin = next((METRIC_TWINS[n] for n in names if n in METRIC_TWINS), None)
        if twin is not None and untwinned:
            raise NoTfjsTwin(f"metric {config.get('name') or raw.get('class_name')}: "
                             f"{', '.join(f'{k}={v!r}' for k, v in untwinned.items())} has no tfjs twin")
    else:
        twin = METRIC_TWINS.get(str(raw))
    return twin.name if twin is not None else None


def accuracy_function(loss: LossSpec, last_dim: int) -> str:
    """The accuracy tfjs-layers computes for ``acc`` (its rule in ``LayersModel.compile``): binary for one output
    column or binary cross-entropy, sparse for sparse categorical cross-entropy, else categorical."""
    if last_dim == 1 or loss.name == "binary_crossentropy":
        return "binaryAccuracy"
    if loss.name == "sparse_categorical_crossentropy":
        return "sparseCategoricalAccuracy"
    return "categoricalAccuracy"


def tfjs_metric(name: str, loss: LossSpec, last_dim: int) -> dict[str, Any]:
    """How the page asks tfjs for metric ``name`` on an output trained with ``loss``: ``{"name", "string"}`` (tfjs'
    own string) or ``{"name", "function"}`` (a ``tf.metrics`` function, named ``name``)."""
    twin = METRIC_TWINS[name]
    if name == "acc":
        # tfjs resolves "accuracy" by comparing the loss function with its own string losses: a loss built from
        # logits is a function, so the page names the accuracy explicitly.
        return {"name": name, "string": "accuracy"} if loss.is_plain else \
            {"name": name, "function": accuracy_function(loss, last_dim)}
    if twin.tfjs_string is not None:
        return {"name": name, "string": twin.tfjs_string}
    return {"name": name, "function": twin.tfjs_function}


def keras_metric(name: str, loss: LossSpec, last_dim: int) -> Callable[[Any, Any], Any]:
    """A Keras metric function computing tfjs' definition of ``name``, named ``name`` (Keras' history key)."""
    import tensorflow as tf
    import tf_keras as keras

    per_sample: dict[str, Callable[[Any, Any], Any]] = {
        "binaryAccuracy": keras.metrics.binary_accuracy,
        "categoricalAccuracy": keras.metrics.categorical_accuracy,
        "sparseCategoricalAccuracy": keras.metrics.sparse_categorical_accuracy,
        "mse": keras.losses.mean_squared_error,
        "mae": keras.losses.mean_absolute_error,
        "mape": keras.losses.mean_absolute_percentage_error,
        "cosine": keras.losses.cosine_similarity,  # the loss: -cos, as tfjs' cosineProximity
        "categoricalCrossentropy": keras.losses.categorical_crossentropy,
        "sparseCategoricalCrossentropy": keras.losses.sparse_categorical_crossentropy,
        "binaryCrossentropy": keras.losses.binary_crossentropy,
    }
    function = accuracy_function(loss, last_dim) if name == "acc" else name
    if function in per_sample:
        compute = per_sample[function]
    else:
        per_batch = {"precision": _tfjs_precision, "recall": _tfjs_recall, "r2Score": _tfjs_r2_score}[function]

        def compute(y_true: Any, y_pred: Any) -> Any:
            y_true = tf.cast(y_true, y_pred.dtype)
            return per_batch(tf, y_true, y_pred) * tf.ones_like(y_true)

    def metric(y_true: Any, y_pred: Any) -> Any:
        return compute(y_true, y_pred)

    metric.__name__ = name
    return metric


def _tfjs_precision(tf: Any, y_true: Any, y_pred: Any) -> Any:
    """tfjs-layers' precision: predictions count as positive only when exactly 1; 0 when none is."""
    tp = tf.reduce_sum(tf.cast((y_true == 1) & (y_pred == 1), y_pred.dtype))
    fp = tf.reduce_sum(tf.cast((y_true == 0) & (y_pred == 1), y_pred.dtype))
    return tf.math.divide_no_nan(tp, tp + fp)


def _tfjs_recall(tf: Any, y_true: Any, y_pred: Any) -> Any:
    tp = tf.reduce_sum(tf.cast((y_true == 1) & (y_pred == 1), y_pred.dtype))
    fn = tf.reduce_sum(tf.cast((y_true == 1) & (y_pred == 0), y_pred.dtype))
    return tf.math.divide_no_nan(tp, tp + fn)


def _tfjs_r2_score(tf: Any, y_true: Any, y_pred: Any) -> Any:
    residuals = tf.reduce_sum(tf.square(y_true - y_pred))
    total = tf.reduce_sum(tf.square(y_true - tf.reduce_mean(y_true)))
    return 1 - residuals / total
