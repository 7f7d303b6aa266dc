"""How a model is trained (a zoo model, or a user's: see ``user_training``), described once and
compiled identically in Keras and on the page.

- optimizers: ``optimizers`` (the seven tfjs-core has); losses: ``losses`` (the 14 tfjs-layers has,
  with Keras' ``from_logits`` and ``label_smoothing``); metrics: ``metrics`` (every metric tfjs
  reports, named as tfjs names it, computed on the Keras side with tfjs' definition).
- dropout: each side draws dropout masks from its own random generator, so the masks can never
  match. Training checks set every ``Dropout`` rate to 0 on both sides (``predict`` still covers
  the layer, which is the identity at inference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.reference.losses import LossSpec
from harness.reference.metrics import KERAS_DIFFERS, keras_metric, tfjs_metric
from harness.reference.optimizers import OptimizerSpec


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
    loss: LossSpec | dict[str, LossSpec]  # one for every output, or one per output name
    metrics: tuple[str, ...] = ("acc",)  # tfjs' names (``metrics.TWINNED_METRICS``), computed for every output
    uncompared_metrics: tuple[str, ...] = ()  # the compile config's metrics tfjs reports no twin of (Keras' names)
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

    def losses(self, output_names: list[str]) -> dict[str, LossSpec]:
        """Each output's loss, by output name."""
        return dict(self.loss) if isinstance(self.loss, dict) else {name: self.loss for name in output_names}

    def tfjs_compile(self, last_dims: dict[str, int]) -> dict[str, Any]:
        """``model.compile`` arguments for the page (the optimizer, losses from logits and metrics are built from
        their descriptions there); ``last_dims``: each output's last dimension, by name (it picks tfjs' accuracy)."""
        losses = self.losses(list(last_dims))
        loss = {out: spec.tfjs() for out, spec in losses.items()} if isinstance(self.loss, dict) else self.loss.tfjs()
        return {"optimizer": self.optimizer.tfjs(), "loss": loss,
                "metrics": {out: [tfjs_metric(m, losses[out], dim) for m in self.metrics]
                            for out, dim in last_dims.items()}}

    def metric_notes(self) -> dict[str, str]:
        """Where a compared metric is not what Keras' metric of that name computes, by tfjs' metric name, and
        each compiled metric left out because tfjs reports no such metric."""
        return {**{name: KERAS_DIFFERS[name] for name in self.metrics if name in KERAS_DIFFERS},
                **{name: "not compared: tfjs reports no such metric" for name in self.uncompared_metrics}}


def output_last_dims(model: Any) -> dict[str, int]:
    """Each output's last dimension, by output name."""
    return {name: int(output.shape[-1] or 1) for name, output in zip(model.output_names, model.outputs)}


def compile_keras(model: Any, training: TrainingSpec, optimizer: Any = None) -> None:
    """Compile ``model`` as ``training`` says, with a fresh optimizer (``optimizer``, a Keras optimizer, overrides
    the spec's) and each metric as tfjs defines it, under tfjs' name."""
    dims = output_last_dims(model)
    losses = training.losses(list(dims))
    loss = {out: spec.keras() for out, spec in losses.items()} if isinstance(training.loss, dict) \
        else training.loss.keras()
    metrics = {out: [keras_metric(m, losses[out], dim) for m in training.metrics] for out, dim in dims.items()}
    model.compile(optimizer=optimizer or training.optimizer.keras(), loss=loss, metrics=metrics)


def disable_dropout(model: Any) -> None:
    """Set every ``Dropout`` rate to 0 (before the first fit traces the training step)."""
    import tf_keras as keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
