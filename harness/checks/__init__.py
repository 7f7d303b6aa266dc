"""Checks: each takes a ``CheckContext`` and returns a ``CheckResult``. ``CHECKS`` maps names to their records,
``CHECK_STAGES`` sorts them by the stage of a model's life they prove (inference, conversion, training, storage),
and ``DEFAULT_CHECKS`` is what a run does when not told otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from harness.browser.driver import Capability

from harness.checks.context import CheckContext, CheckFunction, CheckOptions
from harness.checks.inference import check_predict, check_topology
from harness.checks.memory import check_memory
from harness.checks.speed import check_speed
from harness.checks.browser_to_python import check_browser_to_python
from harness.checks.storage import SAVE_LOAD_CHECKS, check_model_management
from harness.checks.conversion import CONVERSION_OF_CHECK, QUANTIZED_CHECKS, check_graph_model, check_sharded
from harness.checks.training import (
    check_core_api,
    check_early_stopping,
    check_evaluate,
    check_fit,
    check_fine_tune_worker,
    check_fit_dataset,
    check_fit_worker,
    check_validation_split,
)
from harness.reference.directory import ReferenceModel
from harness.reference.keras_build import TRAINING

INFERENCE, CONVERSION, TRAINING_STAGE, STORAGE = "inference", "conversion", "training", "storage"


@dataclass(frozen=True)
class Check:
    """One check: its name (a row's ``check``), the stage of a model's life it proves, the function that runs it, and
    what of the reference it needs: a training run (``training``) or a conversion (``conversion``) the reference
    build recorded; a reference without it skips the check (with the reason its build recorded, if any)."""

    name: str
    stage: str
    run: CheckFunction
    training: str | None = None  # a training run's name (``ReferenceModel.has_training``)
    conversion: str | None = None  # a conversion's name (``ReferenceModel.conversions``)
    uses_training: str | None = None  # a training run it also exercises where the reference has one (not needed)
    needs: tuple[Capability, ...] = ()  # what of the browser it needs beyond the page: a browser without it skips it

    @property
    def wants_training(self) -> bool:
        """Whether a reference built for this check should record its training runs (when the model has a setup)."""
        return self.stage in (TRAINING_STAGE, STORAGE) or self.uses_training is not None


def _training(name: str, run: CheckFunction, training_run: str | None = None) -> Check:
    return Check(name, TRAINING_STAGE, run, training=training_run or name)


CHECK_RECORDS: tuple[Check, ...] = (
    Check("topology", INFERENCE, check_topology),
    Check("predict", INFERENCE, check_predict),
    *(Check(name, CONVERSION, run, conversion=CONVERSION_OF_CHECK[name]) for name, run in QUANTIZED_CHECKS.items()),
    Check("sharded", CONVERSION, check_sharded, conversion=CONVERSION_OF_CHECK["sharded"]),
    Check("graph-model", CONVERSION, check_graph_model, conversion=CONVERSION_OF_CHECK["graph-model"]),
    _training("fit", check_fit),
    _training("fit-worker", check_fit_worker, "fit"),  # compared with Keras' fit run
    _training("fit-dataset", check_fit_dataset),
    _training("evaluate", check_evaluate),
    _training("validation-split", check_validation_split),
    _training("early-stopping", check_early_stopping),
    _training("core-api", check_core_api),
    _training("fine-tune-worker", check_fine_tune_worker, "fine-tune"),
    *(Check(name, STORAGE, run, needs=(Capability.DOWNLOADS,) if name == "save-load[downloads]" else ())
      for name, run in SAVE_LOAD_CHECKS.items()),
    Check("browser-to-python", STORAGE, check_browser_to_python, needs=(Capability.DOWNLOADS,)),
    Check("model-management", STORAGE, check_model_management),
    # Last: what the model takes and gives back over its whole life on the page, and what it costs there (after
    # predict, which times the first call with this page's shaders not yet compiled for it).
    Check("memory", INFERENCE, check_memory, uses_training="fit"),
    Check("speed", INFERENCE, check_speed),
)
CHECKS: dict[str, Check] = {check.name: check for check in CHECK_RECORDS}
CHECK_STAGES: dict[str, tuple[str, ...]] = {
    stage: tuple(check.name for check in CHECK_RECORDS if check.stage == stage)
    for stage in (INFERENCE, CONVERSION, TRAINING_STAGE, STORAGE)}
INFERENCE_CHECKS, CONVERSION_CHECKS = CHECK_STAGES[INFERENCE], CHECK_STAGES[CONVERSION]
TRAINING_CHECKS, STORAGE_CHECKS = CHECK_STAGES[TRAINING_STAGE], CHECK_STAGES[STORAGE]
DEFAULT_CHECKS = tuple(CHECKS)
# What applies to a model tfjs runs as a graph model, besides its other conversions (quantized, sharded): it saves and
# loads through every storage scheme as a layers model does (GraphModel.save, tf.loadGraphModel).
GRAPH_MODEL_CHECKS = ("graph-model", *SAVE_LOAD_CHECKS, "model-management", "memory", "speed")
# Training recipes written for one zoo model: not run on a user's model unless asked for.
MODEL_SPECIFIC_CHECKS = {
    "core-api": "the Core API recipe is written for a Dense-relu-Dense-softmax model (the zoo's mlp)",
    "fine-tune-worker": "transfer learning needs to know which layers form the frozen base (the zoo's mobilenet_v2)",
}
# What ``tfjs-parity check`` runs on a user's model by default: every check but the model-specific ones.
USER_CHECKS = tuple(check for check in DEFAULT_CHECKS if check not in MODEL_SPECIFIC_CHECKS)


def check_stage(check: str) -> str | None:
    """The stage (a ``CHECK_STAGES`` key) ``check`` belongs to."""
    record = CHECKS.get(check)
    return record.stage if record else None


def check_applies(check: str, reference: ReferenceModel) -> bool:
    """Whether ``check`` has a Keras reference for this model (what it needs was recorded for this model)."""
    record = CHECKS[check]
    if reference.is_graph_model and check not in GRAPH_MODEL_CHECKS and record.conversion is None:
        return False  # a graph model's other conversions (quantized, sharded) apply like a layers model's
    if record.training is not None:
        return reference.has_training(record.training)
    return record.conversion is None or record.conversion in {**reference.conversions, **reference.failed_conversions}


def conversion_failure(check: str, reference: ReferenceModel) -> dict[str, str] | None:
    """How the conversion ``check`` needs failed for this model (``conversions.conversion_failure``), if it did."""
    record = CHECKS.get(check)
    return reference.failed_conversions.get(record.conversion) if record and record.conversion else None


def recorded_reason(check: str, reference: ReferenceModel) -> str | None:
    """Why ``check`` cannot apply to this model, as its reference build recorded it (a conversion the converter
    refused, no training setup, no robust early stop); None if nothing was recorded."""
    record = CHECKS[check]
    if record.training is not None:
        return reference.unavailable.get(record.training) or reference.unavailable.get(TRAINING)
    return reference.unavailable.get(record.conversion) if record.conversion is not None else None


def skip_reason(check: str, reference: ReferenceModel) -> str:
    """Why ``check`` does not apply to this model, for a ``skip`` row."""
    recorded = recorded_reason(check, reference)
    if recorded:
        return recorded
    if reference.is_graph_model and check == "browser-to-python":
        return "a graph model: Keras cannot load the files the browser saves (browser-to-python reads them into Keras)"
    if reference.is_graph_model:
        return "a graph model: tfjs runs it for inference only (no layers to train)"
    if check in MODEL_SPECIFIC_CHECKS:
        return MODEL_SPECIFIC_CHECKS[check]
    return f"no Keras reference was recorded for {check}"


__all__ = ["CHECKS", "CHECK_RECORDS", "CHECK_STAGES", "CONVERSION", "CONVERSION_CHECKS", "DEFAULT_CHECKS", "INFERENCE",
           "INFERENCE_CHECKS", "STORAGE", "STORAGE_CHECKS", "TRAINING_CHECKS", "TRAINING_STAGE", "USER_CHECKS", "Check",
           "CheckContext", "CheckFunction", "CheckOptions", "GRAPH_MODEL_CHECKS", "check_applies", "check_stage",
           "conversion_failure", "recorded_reason", "skip_reason"]
