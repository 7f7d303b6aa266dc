"""Inner outputs: the outputs of inner layers that ``predict`` compares with Keras' too.

A head that compresses (global pooling into a few softmax classes) can hide a wrong weight deep in the
network: its change reaches the model's outputs below the float32 rounding noise the tolerance must allow.
The layer before the head still shows it. An inner output records Keras' outputs of such a layer on the
reference inputs, and its own float32 rounding error per channel (``rounding.rounding_by_channel``), which
its tolerance is widened by (``tolerances.inner_output_tolerance``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.reference.directory import save_arrays

OUTPUT_PREFIX = "inner"
ROUNDING_PREFIX = "inner_rounding"


class UnknownLayerError(UsageError):
    """An inner output names a layer the model does not have, or one whose output is ambiguous."""


def with_inner_outputs(model: Any, names: tuple[str, ...]) -> Any:
    """A Keras model with ``model``'s inputs, and its outputs followed by those of its layers ``names`` (``model``
    itself when ``names`` is empty): one run gives both, in float32 and in float64 (``rounding``)."""
    import tf_keras as keras

    if not names:
        return model
    layers = {layer.name: layer for layer in model.layers}
    outputs = list(model.outputs)
    for name in names:
        if name not in layers:
            raise UnknownLayerError(f"inner output '{name}': model '{model.name}' has no layer of that name "
                                    f"(layers: {', '.join(layers)})")
        if len(layers[name].inbound_nodes) != 1:
            raise UnknownLayerError(f"inner output '{name}': the layer is called {len(layers[name].inbound_nodes)} "
                                    "times, so its output is ambiguous")
        outputs.append(layers[name].output)
    return keras.Model(model.inputs, outputs)


def save_inner_outputs(names: tuple[str, ...], outputs: list[np.ndarray], exact: list[np.ndarray],
                       directory: Path) -> dict[str, Any]:
    """Keras' float32 outputs of the layers ``names`` and their rounding per channel (against ``exact``, the same
    outputs in float64), saved into ``directory``; the manifest's ``inner_outputs`` entry."""
    from harness.reference.rounding import rounding_by_channel

    rounding = [rounding_by_channel(f, e) for f, e in zip(outputs, exact)]
    return {"outputs": save_arrays(directory, OUTPUT_PREFIX, list(names), outputs),
            "rounding": save_arrays(directory, ROUNDING_PREFIX, list(names), rounding)}
