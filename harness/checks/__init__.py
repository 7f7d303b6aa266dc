"""Checks: each takes a ``CheckContext`` and returns a ``CheckResult``. ``CHECKS`` maps names to them,
``CHECK_STAGES`` sorts them by the stage of a model's life they prove (inference, conversion, training, storage),
and ``DEFAULT_CHECKS`` is what a run does when not told otherwise."""

from __future__ import annotations

from harness.checks.context import CheckContext, CheckFunction
from harness.checks.inference import check_predict, check_topology
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

CHECKS: dict[str, CheckFunction] = {
    "topology": check_topology,
    "predict": check_predict,
    **QUANTIZED_CHECKS,
    "sharded": check_sharded,
    "graph-model": check_graph_model,
    "fit": check_fit,
    "fit-worker": check_fit_worker,
    "fit-dataset": check_fit_dataset,
    "evaluate": check_evaluate,
    "validation-split": check_validation_split,
    "early-stopping": check_early_stopping,
    "core-api": check_core_api,
    "fine-tune-worker": check_fine_tune_worker,
    **SAVE_LOAD_CHECKS,
    "browser-to-python": check_browser_to_python,
    "model-management": check_model_management,
}
INFERENCE_CHECKS = ("topology", "predict")
CONVERSION_CHECKS = tuple(CONVERSION_OF_CHECK)
TRAINING_CHECKS = ("fit", "fit-worker", "fit-dataset", "evaluate", "validation-split", "early-stopping", "core-api",
                   "fine-tune-worker")
# The Keras run a training check is compared with, where it is not the check's own name.
TRAINING_RUNS = {"fit-worker": "fit", "fine-tune-worker": "fine-tune"}
STORAGE_CHECKS = (*SAVE_LOAD_CHECKS, "browser-to-python", "model-management")
CHECK_STAGES = {"inference": INFERENCE_CHECKS, "conversion": CONVERSION_CHECKS, "training": TRAINING_CHECKS,
                "storage": STORAGE_CHECKS}
DEFAULT_CHECKS = INFERENCE_CHECKS + CONVERSION_CHECKS + TRAINING_CHECKS + STORAGE_CHECKS
# Training recipes written for one zoo model: not run on a user's model unless asked for.
MODEL_SPECIFIC_CHECKS = {
    "core-api": "the Core API recipe is written for a Dense-relu-Dense-softmax model (the zoo's mlp)",
    "fine-tune-worker": "transfer learning needs to know which layers form the frozen base (the zoo's mobilenet_v2)",
}
# What ``tfjs-parity check`` runs on a user's model by default: every check but the model-specific ones.
USER_CHECKS = tuple(check for check in DEFAULT_CHECKS if check not in MODEL_SPECIFIC_CHECKS)


def check_stage(check: str) -> str | None:
    """The stage (a ``CHECK_STAGES`` key) ``check`` belongs to."""
    return next((stage for stage, checks in CHECK_STAGES.items() if check in checks), None)


def check_applies(check: str, reference: ReferenceModel) -> bool:
    """Whether ``check`` has a Keras reference for this model (training runs are recorded per model)."""
    if reference.is_graph_model:
        return check == "graph-model"
    if check in TRAINING_CHECKS:
        return reference.has_training(TRAINING_RUNS.get(check, check))
    if check in CONVERSION_OF_CHECK:
        return CONVERSION_OF_CHECK[check] in reference.conversions
    return True


def recorded_reason(check: str, reference: ReferenceModel) -> str | None:
    """Why ``check`` cannot apply to this model, as its reference build recorded it (a conversion the converter
    refused, no training setup, no robust early stop); None if nothing was recorded."""
    if check in TRAINING_CHECKS:
        run = TRAINING_RUNS.get(check, check)
        return reference.unavailable.get(run) or reference.unavailable.get(TRAINING)
    if check in CONVERSION_OF_CHECK:
        return reference.unavailable.get(CONVERSION_OF_CHECK[check])
    return None


def skip_reason(check: str, reference: ReferenceModel) -> str:
    """Why ``check`` does not apply to this model, for a ``skip`` row."""
    recorded = recorded_reason(check, reference)
    if recorded:
        return recorded
    if reference.is_graph_model:
        return "a graph model: tfjs runs it for inference only (no layers to train, save or convert again)"
    if check in MODEL_SPECIFIC_CHECKS:
        return MODEL_SPECIFIC_CHECKS[check]
    return f"no Keras reference was recorded for {check}"


__all__ = ["CHECKS", "CHECK_STAGES", "CONVERSION_CHECKS", "DEFAULT_CHECKS", "INFERENCE_CHECKS", "STORAGE_CHECKS",
           "TRAINING_CHECKS", "USER_CHECKS", "CheckContext", "CheckFunction", "check_applies", "check_stage",
           "recorded_reason", "skip_reason"]
