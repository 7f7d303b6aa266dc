"""The one pipeline from a Keras 2 model to its reference directory, for zoo and user models alike.

In order: Keras' outputs on the reference inputs, refused if they prove nothing (``degeneracy``);
the model's own float32 rounding error (``rounding``); the outputs of the inner layers to compare
(``inner_outputs``); the layers model; each other conversion
asked for (``conversions``); Keras' side of the training checks when a training setup is known
(``training_runs``); and the manifest, which also records every check that cannot apply and why
(``unavailable``: no training setup, no robust early stop) and every conversion that failed, and who
failed it (``failed_conversions``: the converter refused the model, or the harness' export broke).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.conversions import CONVERSIONS
from harness.reference.degeneracy import judge_reference
from harness.reference.directory import ReferenceModel, load_reference, write_manifest
from harness.reference.training_runs import TrainingData
from harness.reference.training_spec import TrainingSpec

# The ``unavailable`` key under which a model without a training setup records why.
TRAINING = "training"


@dataclass(frozen=True)
class KerasSource:
    """A tf_keras model with the weights to check, its reference inputs, and (optionally) how it trains.

    ``advice`` is what the user should do if the outputs prove nothing; ``unavailable`` names checks that
    cannot apply before anything is built (``TRAINING``: why there is no training setup).
    """

    name: str
    model: Any
    inputs: list[np.ndarray]
    training: TrainingSpec | None = None
    data: TrainingData | None = None
    custom_objects: dict[str, Any] = field(default_factory=dict)
    advice: str = ""
    unavailable: dict[str, str] = field(default_factory=dict)
    inner_outputs: tuple[str, ...] = ()  # inner layers whose outputs predict compares too (see ``inner_outputs``)


def build_keras_reference(source: KerasSource, directory: Path, conversions: tuple[str, ...] = CONVERSIONS,
                          train: bool = True, extra: dict[str, Any] | None = None) -> ReferenceModel:
    """Build ``source``'s reference into the (empty) ``directory``: the layers model, the ``conversions``
    asked for, and (if ``train`` and a training setup is known) Keras' training runs. ``extra`` goes into
    the manifest as it is (the zoo's description and build record)."""
    from harness.reference.conversions import build_conversions, convert_layers_model
    from harness.reference.keras_model import keras_predict, layers_manifest, sample_cost_ms
    from harness.reference.inner_outputs import save_inner_outputs, with_inner_outputs
    from harness.reference.rounding import float64_outputs, largest_difference
    from harness.reference.training_runs import build_training_runs

    model = source.model
    probe = with_inner_outputs(model, source.inner_outputs)
    computed, count = keras_predict(probe, source.inputs), len(model.outputs)
    outputs = computed[:count]
    weak = judge_reference(outputs, list(model.output_names), source.name, source.advice)
    exact = float64_outputs(probe, source.inputs, source.custom_objects)
    rounding = largest_difference(outputs, exact[:count])
    inner = save_inner_outputs(source.inner_outputs, computed[count:], exact[count:], directory) \
        if source.inner_outputs else {}
    model_json = convert_layers_model(model, directory)
    made, failed = build_conversions(model, source.inputs, outputs, directory, conversions)
    unavailable = dict(source.unavailable)
    if train and source.training is not None and source.data is not None:
        unavailable.update(build_training_runs(source.training, source.data, model, source.inputs, directory))
    write_manifest(directory, {
        **({"weak_reference": weak} if weak else {}),
        **layers_manifest(model, directory, source.name, model_json, source.inputs, outputs),
        "float32_rounding": rounding,
        "keras_sample_ms": sample_cost_ms(model, source.inputs),
        **({"inner_outputs": inner} if inner else {}),
        "conversions": made,
        "failed_conversions": failed,
        "unavailable": unavailable,
        **(extra or {}),
    })
    return load_reference(directory)
