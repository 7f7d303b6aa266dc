"""A training check's failure: did training itself differ, or only the trained model's predictions?

When the history and the final weights match Keras' and only the predictions after training differ,
the trained model is what computes differently: Keras' own trained weights go into a model of their
own (``OUT/explain/MODEL/trained-RUN/``, a reference built by the same pipeline as any Keras model's),
and that model is explained as a failed ``predict`` is (``isolation``, ``ops``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from harness.browser.evidence import folder_name
from harness.reference.artifacts import load_keras_model
from harness.reference.directory import ReferenceModel
from harness.reference.keras_build import KerasSource, build_keras_reference
from harness.reference.keras_model import keras_names

EXPLAIN_DIRECTORY = "explain"
AFTER_TRAINING = "after training"


def only_predictions_differ(details: dict[str, Any]) -> bool:
    """Whether a training row's failures are all in its predictions after training (history and weights match)."""
    failed = details.get("failed_comparisons") or {}
    values = failed.get("values", [])
    return (bool(values) and all(label.endswith(AFTER_TRAINING) for label in values)
            and not failed.get("history") and not failed.get("weights") and not failed.get("problems"))


def training_differs(details: dict[str, Any]) -> str:
    """What of the training itself differs, in words: the first history value or weight out of tolerance."""
    failed = details.get("failed_comparisons") or {}
    worst = details.get("worst_epoch") or {}
    parts = []
    if failed.get("history"):
        parts.append(f"its history ({', '.join(failed['history'])}; the worst at epoch {worst.get('epoch')}: "
                     f"{worst.get('metric')} browser {worst.get('browser')}, Keras {worst.get('keras')})")
    if failed.get("weights"):
        parts.append(f"its final weights ({len(failed['weights'])}, first {failed['weights'][0]})")
    if failed.get("values"):
        parts.append(f"the values computed after it ({', '.join(failed['values'])})")
    return ", ".join(parts) or "the comparison could not be made (see the row's problems)"


def trained_reference(reference: ReferenceModel, run: str, out: Path) -> ReferenceModel:
    """A reference of ``reference``'s model with the weights Keras' training run ``run`` ended with."""
    files = load_keras_model(reference.directory / reference.model_json)
    trained = reference.training().named_arrays("runs", run, "weights")
    files.set_weights([trained[name] for name in keras_names(files.weights)])
    directory = out / EXPLAIN_DIRECTORY / folder_name(reference.name) / f"trained-{folder_name(run)}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    source = KerasSource(f"{reference.name} after {run}", files, reference.load_inputs())
    return build_keras_reference(source, directory, conversions=(), train=False)
