"""How a model is trained (a zoo model, or a user's: see ``user_training``), described once and
compiled identically in Keras and on the page.

Names differ between the libraries; the mappings live here:

- losses: Keras ``categorical_crossentropy`` is tfjs ``categoricalCrossentropy``, and so on
  (``LOSSES``);
- history and evaluate keys: tfjs calls the ``accuracy`` metric ``acc`` (``acc``, ``val_acc``,
  ``label_acc``), Keras ``accuracy``; ``keras_metric_name`` maps tfjs' names to Keras' ones;
- dropout: each side draws dropout masks from its own random generator, so the masks can never
  match. Training checks set every ``Dropout`` rate to 0 on both sides (``predict`` still covers
  the layer, which is the identity at inference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.reference.optimizers import OptimizerSpec

LOSSES: dict[str, str] = {
    "categorical_crossentropy": "categoricalCrossentropy",
    "sparse_categorical_crossentropy": "sparseCategoricalCrossentropy",
    "binary_crossentropy": "binaryCrossentropy",
    "mse": "meanSquaredError",
    "mean_absolute_error": "meanAbsoluteError",
}
METRICS: dict[str, str] = {"accuracy": "accuracy"}
TFJS_ACCURACY_KEY = re.compile(r"(^|_)acc$")


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """An early-stopping run: Keras picks ``min_delta`` from a plain run so the stop is unambiguous."""

    monitor: str = "loss"
    patience: int = 2
    max_epochs: int = 12


@dataclass(frozen=True)
class TrainingSpec:
    """Everything both sides need to train a model the same way."""

    optimizer: OptimizerSpec
    loss: str | dict[str, str]
    metrics: tuple[str, ...] = ("accuracy",)
    epochs: int = 3
    batch_size: int = 32
    samples: int = 200  # not a multiple of batch_size: a partial last batch is always included
    heldout_samples: int = 64
    validation_split: float = 0.25
    early_stopping: EarlyStoppingSpec = field(default_factory=EarlyStoppingSpec)
    core_api: bool = False  # the model is Dense-relu-Dense-softmax: run the seeds' Core API recipe on it
    # Transfer learning: only the layers after this one train, on the features the frozen base
    # computes in inference mode (the only training run recorded for such a model, see
    # ``training_runs``: tfjs' BatchNormalization uses batch statistics whenever it trains,
    # frozen or not, while Keras 2 keeps a frozen one in inference mode).
    head_from: str | None = None

    def tfjs_compile(self) -> dict[str, Any]:
        """``model.compile`` arguments for the page (the optimizer is built from its spec there)."""
        loss = {out: LOSSES[name] for out, name in self.loss.items()} if isinstance(self.loss, dict) \
            else LOSSES[self.loss]
        return {"optimizer": self.optimizer.tfjs(), "loss": loss, "metrics": [METRICS[m] for m in self.metrics]}


def compile_keras(model: Any, training: TrainingSpec, optimizer: OptimizerSpec | None = None) -> None:
    """Compile ``model`` as ``training`` says, with a fresh optimizer (``optimizer`` overrides the spec's)."""
    model.compile(optimizer=(optimizer or training.optimizer).keras(), loss=training.loss,
                  metrics=list(training.metrics))


def disable_dropout(model: Any) -> None:
    """Set every ``Dropout`` rate to 0 (before the first fit traces the training step)."""
    import tf_keras as keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


def keras_metric_name(tfjs_name: str) -> str:
    """The Keras name of a tfjs history/evaluate key: ``val_acc`` -> ``val_accuracy``."""
    return TFJS_ACCURACY_KEY.sub(r"\1accuracy", tfjs_name)
