"""One loss, built identically in Keras and in tfjs: every loss tfjs-layers has, by both names.

tfjs-layers' ``lossesMap`` holds 14 losses, each the same arithmetic as the Keras loss of the same
meaning (tfjs-layers 4.22 ``losses.ts``; ``tests/test_training_setups.py`` trains one model per
loss on both sides).
tfjs-layers' string losses take probabilities; Keras' ``from_logits`` and ``label_smoothing`` have
their twins in tfjs-core's ``tf.losses`` (``softmaxCrossEntropy`` and ``sigmoidCrossEntropy`` take
logits and a label smoothing), which the page passes to ``model.compile`` as a loss function
(``web/training.js``), as a tfjs user would.

Targets: each loss wants its own kind of targets (``TwinnedLoss.targets``): one-hot or integer
classes, 0/1, -1/+1 for the hinge losses (Keras turns 0/1 labels into -1/+1 there, tfjs does not),
non-negative counts for poisson, distributions for the KL divergence, positive values for the
percentage and logarithmic errors, real values otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import NoTfjsTwin

TargetKind = Literal["one-hot", "classes", "binary", "signs", "counts", "distribution", "positive", "real"]


@dataclass(frozen=True)
class TwinnedLoss:
    """A loss both libraries have: Keras' canonical name, tfjs-layers' name, the targets it wants, and the
    other names Keras knows it by (aliases, its class, its ``fn``)."""

    keras: str
    tfjs: str
    targets: TargetKind
    aliases: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # the Keras settings tfjs has twins of: from_logits, label_smoothing


TWINNED_LOSSES: tuple[TwinnedLoss, ...] = (
    TwinnedLoss("mean_squared_error", "meanSquaredError", "real", ("mse", "MeanSquaredError")),
    TwinnedLoss("mean_absolute_error", "meanAbsoluteError", "real", ("mae", "MeanAbsoluteError")),
    TwinnedLoss("mean_absolute_percentage_error", "meanAbsolutePercentageError", "positive",
                ("mape", "MeanAbsolutePercentageError")),
    TwinnedLoss("mean_squared_logarithmic_error", "meanSquaredLogarithmicError", "positive",
                ("msle", "MeanSquaredLogarithmicError")),
    TwinnedLoss("squared_hinge", "squaredHinge", "signs", ("SquaredHinge",)),
    TwinnedLoss("hinge", "hinge", "signs", ("Hinge",)),
    TwinnedLoss("categorical_hinge", "categoricalHinge", "one-hot", ("CategoricalHinge",)),
    TwinnedLoss("log_cosh", "logcosh", "real", ("logcosh", "LogCosh")),
    TwinnedLoss("categorical_crossentropy", "categoricalCrossentropy", "one-hot", ("CategoricalCrossentropy",),
                ("from_logits", "label_smoothing")),
    TwinnedLoss("sparse_categorical_crossentropy", "sparseCategoricalCrossentropy", "classes",
                ("SparseCategoricalCrossentropy",)),
    TwinnedLoss("binary_crossentropy", "binaryCrossentropy", "binary", ("BinaryCrossentropy",),
                ("from_logits", "label_smoothing")),
    TwinnedLoss("kl_divergence", "kullbackLeiblerDivergence", "distribution",
                ("kld", "kullback_leibler_divergence", "KLDivergence")),
    TwinnedLoss("poisson", "poisson", "counts", ("Poisson",)),
    TwinnedLoss("cosine_similarity", "cosineProximity", "real", ("cosine_proximity", "CosineSimilarity")),
)
LOSS_TWINS: dict[str, TwinnedLoss] = {name: loss for loss in TWINNED_LOSSES for name in (loss.keras, *loss.aliases)}
# Keras losses tfjs-layers has no twin of, with what a tfjs user can do instead.
KERAS_ONLY_LOSSES: dict[str, str] = {
    "huber": "tfjs-layers has no huber loss (tfjs-core's tf.losses.huberLoss could be passed to compile as a "
             "function)",
    "binary_focal_crossentropy": "tfjs has no focal loss",
    "categorical_focal_crossentropy": "tfjs has no focal loss",
    "ctc": "tfjs has no CTC loss",
}
# Why a setting of a twinned loss has no tfjs twin, where that needs saying.
UNTWINNED_SETTINGS = {
    "sparse_categorical_crossentropy": " (tfjs-layers checks the targets of a loss function against the output's "
                                       "shape, so integer labels need its own sparseCategoricalCrossentropy, which "
                                       "takes probabilities; a tfjs user one-hots the labels and trains with "
                                       "categorical_crossentropy from logits)",
}
KERAS_ONLY_ALIASES = {"huber_loss": "huber", "Huber": "huber", "BinaryFocalCrossentropy": "binary_focal_crossentropy",
                      "CategoricalFocalCrossentropy": "categorical_focal_crossentropy"}


@dataclass(frozen=True)
class LossSpec:
    """A loss with its settings spelled out: ``name`` is Keras' canonical name (a ``TWINNED_LOSSES`` entry)."""

    name: str
    from_logits: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        twin = LOSS_TWINS.get(self.name)
        if twin is None or twin.keras != self.name:
            raise ValueError(f"loss {self.name!r}: not a canonical twinned loss ({', '.join(LOSS_KEYS)})")
        settings = {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}
        untwinned = [key for key, value in settings.items() if value and key not in twin.options]
        if untwinned:
            raise ValueError(f"loss {self.name!r}: {', '.join(untwinned)} has no tfjs twin")

    @property
    def twin(self) -> TwinnedLoss:
        return LOSS_TWINS[self.name]

    @property
    def is_plain(self) -> bool:
        """Whether tfjs-layers' string loss computes it (no logits, no smoothing)."""
        return not self.from_logits and not self.label_smoothing

    def keras(self) -> Any:
        """The Keras loss (a name when plain, else the loss object with its settings)."""
        if self.is_plain:
            return self.name
        import tf_keras as keras

        settings: dict[str, Any] = {"from_logits": self.from_logits}
        if "label_smoothing" in self.twin.options:
            settings["label_smoothing"] = self.label_smoothing
        classes = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                   "binary_crossentropy": keras.losses.BinaryCrossentropy}
        return classes[self.name](**settings)

    def tfjs(self) -> str | dict[str, Any]:
        """What the page compiles: tfjs-layers' loss name, or (logits, smoothing) the loss function to build."""
        if self.is_plain:
            return self.twin.tfjs
        return {"name": self.twin.tfjs, "fromLogits": self.from_logits, "labelSmoothing": self.label_smoothing}

    def describe(self) -> str:
        settings = [f"from_logits={self.from_logits}"] if self.from_logits else []
        settings += [f"label_smoothing={self.label_smoothing:g}"] if self.label_smoothing else []
        return f"{self.name}({', '.join(settings)})" if settings else self.name


LOSS_KEYS = tuple(loss.keras for loss in TWINNED_LOSSES)


def keras_loss(raw: Any) -> LossSpec:
    """The ``LossSpec`` of a Keras loss from a compile config or ``--train`` (a name, or a serialized loss object
    with its settings); ``NoTfjsTwin`` names a loss or a setting tfjs has no twin of."""
    config: dict[str, Any] = {}
    if isinstance(raw, dict):
        config = raw.get("config", {}) or {}
        names = [config.get("fn"), config.get("name"), raw.get("class_name")]
    else:
        names = [raw]
    label = next((str(n) for n in names if n), repr(raw))
    for name in (str(n) for n in names if n):
        only = KERAS_ONLY_ALIASES.get(name, name)
        if only in KERAS_ONLY_LOSSES:
            raise NoTfjsTwin(f"loss {label}: {KERAS_ONLY_LOSSES[only]}; the training checks compare the losses "
                             f"tfjs-layers has ({', '.join(LOSS_KEYS)})")
        twin = LOSS_TWINS.get(name)
        if twin is not None:
            return _with_settings(twin, config, label)
    raise NoTfjsTwin(f"loss {label}: not a loss tfjs-layers has; the training checks compare {', '.join(LOSS_KEYS)}")


def _with_settings(twin: TwinnedLoss, config: dict[str, Any], label: str) -> LossSpec:
    untwinned = [f"{key}={config[key]!r}" for key in ("ignore_class",) if config.get(key) is not None]
    if config.get("axis", -1) not in (-1, None):
        untwinned.append(f"axis={config['axis']!r}")
    for key in ("from_logits", "label_smoothing"):
        if config.get(key) and key not in twin.options:
            untwinned.append(f"{key}={config[key]!r}")
    if untwinned:
        why = UNTWINNED_SETTINGS.get(twin.keras, "")
        raise NoTfjsTwin(f"loss {label}: {', '.join(untwinned)} has no tfjs twin{why}")
    return LossSpec(twin.keras, from_logits=bool(config.get("from_logits", False)),
                    label_smoothing=float(config.get("label_smoothing", 0.0) or 0.0))
