"""A reference model's own float32 rounding error: Keras in float32 against the same model in float64.

tfjs running the same operations in the same order as Keras rounds alike (the zoo's ``predict``
errors are ~1e-7). A conversion that reorders the arithmetic (the graph optimizer folds
BatchNormalization into convolution weights), or training that feeds those rounding differences
through a wide layer, differs by about this much; ``tolerances`` widens such checks by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def float32_rounding(model: Any, reference_x: list[np.ndarray], float_outputs: list[np.ndarray],
                     custom_objects: dict[str, Any] | None = None) -> float:
    """The largest difference between ``float_outputs`` (``model``'s float32 outputs on ``reference_x``) and
    the same model's float64 outputs (float inputs are cast to float64, integer inputs kept).
    ``custom_objects``: the model's custom layers, needed to rebuild it."""
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
        exact_outputs = keras_predict(exact, [x.astype(np.float64) if x.dtype.kind == "f" else x for x in reference_x],
                                      dtype=np.float64)
    finally:
        keras.backend.set_floatx(floatx)
    return max(float(np.max(np.abs(f - e))) for f, e in zip(float_outputs, exact_outputs))
