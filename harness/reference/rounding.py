"""A reference model's own float32 rounding error: Keras in float32 against the same model in float64.

tfjs running the same operations in the same order as Keras rounds alike (the zoo's ``predict``
errors are ~1e-7). A conversion that reorders the arithmetic (the graph optimizer folds
BatchNormalization into convolution weights), or training that feeds those rounding differences
through a wide layer, differs by about this much; ``tolerances`` widens such checks by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def float64_outputs(model: Any, reference_x: list[np.ndarray], custom_objects: dict[str, Any] | None = None
                    ) -> list[np.ndarray]:
    """The outputs of ``model`` rebuilt in float64 (same weights) on ``reference_x`` (float inputs cast to float64,
    integer inputs kept). ``custom_objects``: the model's custom layers, needed to rebuild it."""
    import tf_keras as keras

    from harness.reference.keras_model import keras_predict

    config = model.get_config()
    for layer in config["layers"]:
        if layer["config"].get("dtype") == "float32":
            layer["config"]["dtype"] = "float64"
    floatx = keras.backend.floatx()
    keras.backend.set_floatx("float64")
    try:
        with keras.utils.custom_object_scope(custom_objects or {}):
            exact = type(model).from_config(config)
        exact.set_weights([w.astype(np.float64) for w in model.get_weights()])
        return keras_predict(exact, [x.astype(np.float64) if x.dtype.kind == "f" else x for x in reference_x],
                             dtype=np.float64)
    finally:
        keras.backend.set_floatx(floatx)


def float32_rounding(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray],
                     custom_objects: dict[str, Any] | None = None) -> float:
    """The largest difference between ``float_outputs`` (``model``'s float32 outputs on ``reference_x``) and
    the same model's float64 outputs (``float64_outputs``)."""
    return largest_difference(float_outputs, float64_outputs(model, reference_x, custom_objects))


def largest_difference(float_outputs: list[np.ndarray], exact_outputs: list[np.ndarray]) -> float:
    """The largest difference between float32 outputs and the same model's float64 outputs."""
    return max(float(np.max(np.abs(f - e))) for f, e in zip(float_outputs, exact_outputs))


def rounding_by_channel(float_output: np.ndarray, exact_output: np.ndarray) -> np.ndarray:
    """Per channel (the last axis), the largest difference between a float32 output and its float64 value over
    every sample and position: a wide layer's channels differ in scale and in the error they carry, so one
    number for all would judge every channel by the noisiest."""
    error = np.abs(float_output.astype(np.float64) - exact_output)
    return error.reshape(-1, error.shape[-1]).max(axis=0).astype(np.float32)
