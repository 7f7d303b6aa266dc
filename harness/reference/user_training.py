"""How a user's own model trains in the training checks, and on what data.

The training setup comes from the model file's own compile config (a model saved after ``compile``
carries optimizer, loss and metrics), overridden field by field by ``--train FILE`` (JSON, fields
in ``TRAIN_FIELDS``). An optimizer or loss the harness cannot build identically on both sides is
not an error: it becomes the reason the training checks are skipped (``NoTfjsTwin``).

The data is ``--data FILE.npz`` (arrays named after the model's inputs and outputs, or ``x0``..,
``y0``..; the last ``heldout_samples`` rows are held out for ``evaluate``), or generated: seeded
inputs as for the reference, and targets from a fixed random linear teacher on those inputs, of
the kind the loss wants (``reference.losses``: one-hot or integer classes, 0/1, -1/+1 for the hinge
losses, non-negative counts, distributions, positive values, or real values in the range of the
model's own outputs), so training has something to learn.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import NoTfjsTwin, UsageError
from harness.reference.losses import LOSS_TWINS, LossSpec, TargetKind, keras_loss
from harness.reference.metrics import METRIC_NAMES, metric_name
from harness.reference.optimizers import OPTIMIZER_KINDS, TFJS_BACKEND_EPSILON, OptimizerSpec
from harness.reference.training_runs import TrainingData
from harness.reference.training_spec import EarlyStoppingSpec, TrainingSpec

# Keras optimizer config fields that change the update in a way tfjs' optimizers do not.
UNTWINNED_OPTIMIZER_FIELDS = ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "amsgrad")
# Keras optimizers tfjs-core has no twin of.
KERAS_ONLY_OPTIMIZERS = ("Nadam", "Ftrl", "AdamW", "Lion", "Adafactor")
TRAIN_FIELDS = {
    "optimizer": f"{', '.join(OPTIMIZER_KINDS)} (or an object: kind, learning_rate, momentum, nesterov, beta_1, "
                 "beta_2, epsilon, rho, centered, initial_accumulator_value)",
    "learning_rate": "a positive number",
    "loss": f"one of {', '.join(sorted(LOSS_TWINS))} (or an object: name, from_logits, label_smoothing)",
    "metrics": f"a list of metrics tfjs reports: {', '.join(METRIC_NAMES)} or their Keras names",
    "epochs": "a positive integer",
    "batch_size": "a positive integer",
    "samples": "a positive integer: generated training rows",
    "heldout_samples": "a positive integer: generated (or held-out --data) rows for evaluate",
    "validation_split": "a number in (0, 1)",
    "patience": "a positive integer: early-stopping patience",
    "max_epochs": "a positive integer: early-stopping's longest run",
}
TEACHER_SEED = 7


@dataclass(frozen=True)
class TrainingSetup:
    """How a user's model trains (``spec``), on what (``data_file``, else generated), or why it cannot."""

    spec: TrainingSpec | None
    reason: str | None = None
    data_file: Path | None = None


def resolve_training(path: Path, kind: str, train: dict[str, Any], data_file: Path | None,
                     output_names: list[str]) -> TrainingSetup:
    """The training setup of the model at ``path`` (format ``kind``) with ``--train``'s fields ``train``."""
    try:
        return TrainingSetup(training_spec(compiled_training_config(path, kind), train, output_names), None, data_file)
    except NoTfjsTwin as error:
        return TrainingSetup(None, str(error))


def compiled_training_config(path: Path, kind: str) -> dict[str, Any] | None:
    """The ``training_config`` Keras saved with the model (None when it was saved without ``compile``)."""
    if kind == "keras-h5":
        import h5py

        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("training_config")
        return json.loads(raw) if raw is not None else None
    if kind == "keras3":
        return _keras3_training_config(path)
    if kind == "tf-keras-savedmodel":
        from tf_keras.protobuf import saved_metadata_pb2

        metadata = saved_metadata_pb2.SavedMetadata()
        metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
        root = next((node for node in metadata.nodes if node.node_path == "root"), None)
        return json.loads(root.metadata).get("training_config") if root is not None else None
    return None


def _keras3_training_config(path: Path) -> dict[str, Any] | None:
    """A Keras 3 file's compile config in the form Keras 2 saves (``optimizer_config``, ``loss``, ``metrics``),
    without Keras 3's serialization metadata (``module``, ``registered_name``)."""
    with zipfile.ZipFile(path) as archive:
        compiled = json.loads(archive.read("config.json")).get("compile_config")
    if not compiled:
        return None
    compiled = _without_metadata(compiled)
    return {"optimizer_config": compiled.get("optimizer"), "loss": compiled.get("loss"),
            "metrics": compiled.get("metrics"), "loss_weights": compiled.get("loss_weights")}


def _without_metadata(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_metadata(v) for k, v in value.items() if k not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    return value


def read_train_file(path: Path) -> dict[str, Any]:
    """``--train FILE``'s fields, each checked; ``UsageError`` names the file and the field."""
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(f"--train {path}: cannot read it: {error}") from error
    except json.JSONDecodeError as error:
        raise UsageError(f"--train {path}: not JSON: {error}") from error
    return check_train_fields(raw, f"--train {path}")


def check_train_fields(raw: Any, source: str) -> dict[str, Any]:
    """``raw`` when it is an object of known training fields with valid values; else ``UsageError`` naming
    ``source`` (``--train FILE``, or the pytest API's ``train=``) and the field."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: must be a JSON object with fields {', '.join(TRAIN_FIELDS)}")
    for key, value in raw.items():
        if key not in TRAIN_FIELDS:
            raise UsageError(f"{source}: unknown field '{key}' (known: {', '.join(TRAIN_FIELDS)})")
        if not _valid(key, value):
            raise UsageError(f"{source}: field '{key}' is {value!r}; it must be {TRAIN_FIELDS[key]}")
    try:
        if "optimizer" in raw:
            _optimizer_from_train(raw)
        if "loss" in raw:
            _loss_from_train(raw["loss"])
        for metric in raw.get("metrics", []):
            if metric_name(metric) is None:
                raise NoTfjsTwin(f"metric {metric!r}: tfjs reports no such metric (it reports "
                                 f"{', '.join(METRIC_NAMES)})")
    except NoTfjsTwin as error:
        raise UsageError(f"{source}: {error}") from None
    return raw


def _valid(key: str, value: Any) -> bool:
    if key == "optimizer":
        return isinstance(value, (str, dict))
    if key == "loss":
        return isinstance(value, (str, dict))
    if key == "metrics":
        return isinstance(value, list) and all(isinstance(m, str) for m in value)
    if key == "learning_rate":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if key == "validation_split":
        return isinstance(value, (int, float)) and 0 < value < 1
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def training_spec(compiled: dict[str, Any] | None, overrides: dict[str, Any], output_names: list[str]) -> TrainingSpec:
    """The training setup from the file's compile config with ``--train``'s ``overrides``; ``NoTfjsTwin``
    says why there is none the harness can reproduce (no compile config and no --train, an optimizer or
    loss without a tfjs twin)."""
    compiled = compiled or {}
    if "optimizer" in overrides:
        optimizer = _optimizer_from_train(overrides)
    elif compiled.get("optimizer_config"):
        optimizer = keras_optimizer(compiled["optimizer_config"])
        if "learning_rate" in overrides:
            optimizer = dataclasses.replace(optimizer, learning_rate=float(overrides["learning_rate"]))
    else:
        raise NoTfjsTwin("no training setup: the model was saved without compile() and no --train file gives "
                         "an optimizer and a loss")
    if "loss" in overrides:
        loss: LossSpec | dict[str, LossSpec] = _loss_from_train(overrides["loss"])
    elif compiled.get("loss") is not None:
        loss = _compiled_loss(compiled["loss"], output_names)
    else:
        raise NoTfjsTwin("no training setup: no loss in the model's compile config or in --train")
    metrics = overrides.get("metrics", _compiled_metrics(compiled.get("metrics")))
    defaults = TrainingSpec(optimizer=optimizer, loss=loss)
    stopping = EarlyStoppingSpec(patience=overrides.get("patience", defaults.early_stopping.patience),
                                 max_epochs=overrides.get("max_epochs", defaults.early_stopping.max_epochs))
    return dataclasses.replace(
        defaults,
        metrics=tuple(dict.fromkeys(name for name in map(metric_name, metrics) if name is not None)),
        uncompared_metrics=tuple(dict.fromkeys(_metric_label(m) for m in metrics if metric_name(m) is None)),
        early_stopping=stopping,
        **{key: overrides[key] for key in ("epochs", "batch_size", "samples", "heldout_samples", "validation_split")
           if key in overrides},
    )


def keras_optimizer(raw: dict[str, Any]) -> OptimizerSpec:
    """The ``OptimizerSpec`` of a Keras optimizer config (``{"class_name", "config"}``), or ``NoTfjsTwin``."""
    name = str(raw.get("class_name", "")).split(">")[-1]
    config = raw.get("config", {})
    kind = name.lower()
    if name in KERAS_ONLY_OPTIMIZERS:
        raise NoTfjsTwin(f"optimizer {name}: tfjs has no {name} (tfjs-core's optimizers: {', '.join(OPTIMIZER_KINDS)})")
    if kind not in OPTIMIZER_KINDS:
        raise NoTfjsTwin(f"optimizer {name}: not one tfjs-core has ({', '.join(OPTIMIZER_KINDS)})")
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float)):
        raise NoTfjsTwin(f"optimizer {name}: learning_rate {rate!r} is a schedule; tfjs optimizers take a constant")
    used = [key for key in UNTWINNED_OPTIMIZER_FIELDS if config.get(key)]
    if used:
        raise NoTfjsTwin(f"optimizer {name}: {', '.join(used)} has no tfjs twin")
    epsilon = float(config.get("epsilon", 1e-7))
    if kind == "sgd":
        momentum = float(config.get("momentum", 0.0))
        if momentum:
            return OptimizerSpec("momentum", float(rate), momentum=momentum, nesterov=bool(config.get("nesterov")))
        return OptimizerSpec("sgd", float(rate))
    if kind == "adagrad":
        if epsilon != TFJS_BACKEND_EPSILON:
            raise NoTfjsTwin(f"optimizer Adagrad: epsilon={epsilon:g} has no tfjs twin (tfjs' adagrad takes no "
                             f"epsilon and adds the backend's, {TFJS_BACKEND_EPSILON:g})")
        return OptimizerSpec("adagrad", float(rate), epsilon=epsilon,
                             initial_accumulator_value=float(config.get("initial_accumulator_value", 0.1)))
    if kind == "adadelta":
        return OptimizerSpec("adadelta", float(rate), rho=float(config.get("rho", 0.95)), epsilon=epsilon)
    if kind in ("adam", "adamax"):
        return OptimizerSpec(kind, float(rate), beta_1=float(config.get("beta_1", 0.9)),  # type: ignore[arg-type]
                             beta_2=float(config.get("beta_2", 0.999)), epsilon=epsilon)
    return OptimizerSpec("rmsprop", float(rate), rho=float(config.get("rho", 0.9)),
                         momentum=float(config.get("momentum", 0.0)), epsilon=epsilon,
                         centered=bool(config.get("centered", False)))


def _optimizer_from_train(raw: dict[str, Any]) -> OptimizerSpec:
    value = raw["optimizer"]
    fields = dict(value) if isinstance(value, dict) else {"kind": value}
    if "learning_rate" in raw:
        fields["learning_rate"] = raw["learning_rate"]
    fields.setdefault("learning_rate", 0.01)
    known = {f.name for f in dataclasses.fields(OptimizerSpec)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise NoTfjsTwin(f"optimizer: unknown field '{unknown[0]}' (known: {', '.join(sorted(known))})")
    if fields.get("kind") not in OPTIMIZER_KINDS:
        raise NoTfjsTwin(f"optimizer {fields.get('kind')!r}: known are {', '.join(OPTIMIZER_KINDS)}")
    if fields["kind"] == "adadelta":
        fields.setdefault("rho", 0.95)
    return OptimizerSpec(**fields)


def _loss_from_train(raw: Any) -> LossSpec:
    """``--train``'s loss: a Keras name, or ``{"name", "from_logits", "label_smoothing"}``."""
    if isinstance(raw, dict) and "class_name" not in raw:
        unknown = sorted(set(raw) - {"name", "from_logits", "label_smoothing"})
        if unknown or "name" not in raw:
            raise NoTfjsTwin(f"loss {raw!r}: an object takes name, from_logits and label_smoothing")
        return keras_loss({"class_name": raw["name"], "config": {k: v for k, v in raw.items() if k != "name"}})
    return keras_loss(raw)


def _compiled_loss(raw: Any, output_names: list[str]) -> LossSpec | dict[str, LossSpec]:
    if isinstance(raw, dict) and "class_name" not in raw:
        return {name: keras_loss(raw[name]) for name in output_names}
    if isinstance(raw, list):
        return {name: keras_loss(item) for name, item in zip(output_names, raw)}
    return keras_loss(raw)


def _metric_label(raw: Any) -> str:
    """A compiled metric's name as the user wrote it (a serialized metric's configured name or class)."""
    if isinstance(raw, dict):
        return str((raw.get("config") or {}).get("name") or raw.get("class_name"))
    return str(raw)


def _compiled_metrics(raw: Any) -> list[Any]:
    """Metric entries from a compile config (nested lists or dicts of names or serialized metrics)."""
    if raw is None:
        return []
    if isinstance(raw, dict) and "class_name" not in raw:
        return [entry for value in raw.values() for entry in _compiled_metrics(value)]
    if isinstance(raw, list):
        return [entry for value in raw for entry in _compiled_metrics(value)]
    return [raw]


def read_training_data(path: Path, model: Any, training: TrainingSpec) -> TrainingData:
    """``--data FILE.npz``: arrays named after the model's inputs and outputs (or x0.., y0..), every one
    with the model's shape and as many rows; the last ``heldout_samples`` rows (at most a quarter) are held
    out. ``UsageError`` names the file and the array."""
    from harness.reference.keras_model import keras_names

    try:
        archive = np.load(path, allow_pickle=False)
        arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise UsageError(f"--data {path}: not a readable .npz archive: {error}") from error
    x = [_data_array(path, arrays, name, f"x{i}", tensor) for i, (name, tensor) in
         enumerate(zip(keras_names(model.inputs), model.inputs))]
    y = [_data_array(path, arrays, name, f"y{i}", None) for i, name in enumerate(model.output_names)]
    rows = {len(a) for a in x + y}
    if len(rows) != 1:
        raise UsageError(f"--data {path}: arrays have different numbers of rows ({sorted(rows)})")
    total = rows.pop()
    heldout = min(training.heldout_samples, total // 4)
    if heldout < 2:
        raise UsageError(f"--data {path}: {total} rows; need at least 8 (a quarter is held out for evaluate)")
    return TrainingData([a[:-heldout] for a in x], [a[:-heldout] for a in y],
                        [a[-heldout:] for a in x], [a[-heldout:] for a in y])


def _data_array(path: Path, arrays: dict[str, np.ndarray], name: str, positional: str, tensor: Any) -> np.ndarray:
    key = name if name in arrays else positional
    if key not in arrays:
        raise UsageError(f"--data {path}: no array '{name}' (or '{positional}'); it has {sorted(arrays)}")
    array = arrays[key]
    if tensor is not None:
        expected = tuple(tensor.shape[1:])
        if array.shape[1:] != expected and None not in expected:
            raise UsageError(f"--data {path}: array '{key}' has shape {list(array.shape)}; the model's input "
                             f"'{name}' takes [rows, {', '.join(map(str, expected))}]")
        if np.dtype(tensor.dtype.name).kind != array.dtype.kind and not (
                np.dtype(tensor.dtype.name).kind == "f" and array.dtype.kind in "iu"):
            raise UsageError(f"--data {path}: array '{key}' is {array.dtype}; input '{name}' is {tensor.dtype.name}")
        return array.astype(tensor.dtype.name)
    return array


def generated_training_data(model: Any, training: TrainingSpec, make_x: Any) -> TrainingData:
    """Seeded inputs (``make_x(rows, seed_offset)``) and a linear teacher's targets of the kind the loss wants."""
    x, held_x = make_x(training.samples, 2), make_x(training.heldout_samples, 3)
    losses = training.losses(list(model.output_names))
    teacher = _Teacher(model, x)
    return TrainingData(x, teacher.targets(x, losses), held_x, teacher.targets(held_x, losses))


class _Teacher:
    """A fixed random linear map from the (standardised, flattened) inputs to every output's cells."""

    def __init__(self, model: Any, x: list[np.ndarray]) -> None:
        from harness.reference.keras_model import keras_predict

        features = self._raw_features(x)
        self.mean, self.std = features.mean(axis=0), features.std(axis=0) + 1e-6
        self.model = model
        produced = keras_predict(model, x)
        self.output_shapes = [o.shape[1:] for o in produced]
        self.output_stats = [(float(o.mean()), float(o.std()) or 1.0) for o in produced]
        rng = np.random.default_rng(TEACHER_SEED)
        self.maps = [rng.normal(size=(features.shape[1], int(np.prod(shape)))) / np.sqrt(features.shape[1])
                     for shape in self.output_shapes]

    @staticmethod
    def _raw_features(x: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([a.reshape(len(a), -1).astype(np.float64) for a in x], axis=1)

    def targets(self, x: list[np.ndarray], losses: dict[str, LossSpec]) -> list[np.ndarray]:
        features = (self._raw_features(x) - self.mean) / self.std
        targets = []
        for i, name in enumerate(self.model.output_names):
            logits = (features @ self.maps[i]).reshape(len(features), *self.output_shapes[i])
            targets.append(_targets_for(losses[name].twin.targets, logits, self.output_stats[i]))
        return targets


def _targets_for(kind: TargetKind, logits: np.ndarray, stats: tuple[float, float]) -> np.ndarray:
    """Targets of the kind a loss wants, from a teacher's ``logits`` (``stats``: the model's own outputs' mean and
    spread, the range real-valued targets take)."""
    classes = np.argmax(logits, axis=-1)
    if kind == "one-hot":
        return np.eye(logits.shape[-1], dtype=np.float32)[classes]
    if kind == "classes":
        return classes.astype(np.int32)
    if kind == "binary":
        return (logits > np.median(logits)).astype(np.float32)
    if kind == "signs":
        return np.where(logits > np.median(logits), 1.0, -1.0).astype(np.float32)
    if kind == "distribution":
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
    standard = (logits - logits.mean()) / (logits.std() or 1.0)
    if kind == "counts":
        return np.round(np.exp(0.5 * standard)).astype(np.float32)
    if kind == "positive":
        return (1.0 + 0.3 * np.clip(standard, -2.5, 2.5)).astype(np.float32)
    mean, std = stats
    return (mean + std * standard).astype(np.float32)
