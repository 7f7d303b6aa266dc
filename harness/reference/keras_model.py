"""A tf_keras model as the harness handles it: its names, its predictions in one batch, its weights
by tfjs' names, and the manifest entries that record it in a reference directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.directory import save_arrays, tfjs_weight_name


# Differences of CPU time below this are noise (a tiny model's call on 8x its inputs costs the same).
NOISE_MS = 2.0


def keras_data(arrays: list[Any]) -> Any:
    """What Keras' fit/evaluate/predict want: a bare array for one input or output, else the list."""
    return arrays[0] if len(arrays) == 1 else arrays


def keras_names(tensors_or_weights: list[Any]) -> list[str]:
    """Keras names without the ``:0`` suffix (of ``model.inputs`` or ``model.weights``)."""
    return [t.name.split(":")[0] for t in tensors_or_weights]


def keras_predict(model: Any, inputs: list[Any], dtype: Any = "float32") -> list[Any]:
    """``model.predict`` on ``inputs`` in one batch, always as a list of ``dtype`` arrays."""
    outputs = model.predict(keras_data(inputs), batch_size=len(inputs[0]), verbose=0)
    return [np.asarray(o, dtype=dtype) for o in (outputs if isinstance(outputs, list) else [outputs])]


def sample_cost_ms(model: Any, inputs: list[np.ndarray], repeats: int = 5, tile: int = 8) -> float | None:
    """What one more sample costs a call of ``model`` in Keras here, in milliseconds of this process' CPU time: the
    difference between calls on ``inputs`` tiled ``tile`` times and on ``inputs`` (the fastest of ``repeats`` each),
    over the samples added. A difference, so Keras' fixed cost per call drops out; CPU time, so other processes
    sharing the machine (the zoo's references build in parallel) inflate it less than they would a wall time; 0 when
    the difference is within the timing's noise (``NOISE_MS``, or a tenth of the small call). None when the model
    takes no other batch size."""
    def fastest(arrays: list[np.ndarray]) -> float:
        data = keras_data(arrays)
        model.predict_on_batch(data)  # traced for this shape
        times = []
        for _ in range(repeats):
            started = time.process_time()
            model.predict_on_batch(data)
            times.append(time.process_time() - started)
        return min(times) * 1000

    batch = len(inputs[0])
    try:
        small, large = fastest(inputs), fastest([np.concatenate([x] * tile) for x in inputs])
    except Exception:  # noqa: BLE001 - a fixed batch size (a stateful RNN, a batch_shape input): no figure
        return None
    added = large - small
    return 0.0 if added <= max(NOISE_MS, small / 10) else round(added / ((tile - 1) * batch), 4)


def keras_weights(model: Any) -> dict[str, np.ndarray]:
    """A Keras model's weights by the names tfjs gives them (no ``:0``, no RNN cell scope)."""
    return {tfjs_weight_name(name): w.numpy() for name, w in zip(keras_names(model.weights), model.weights)}


def layers_manifest(model: Any, directory: Path, name: str, model_json: str, inputs: list[np.ndarray],
                    outputs: list[np.ndarray]) -> dict[str, Any]:
    """The manifest entries of a converted Keras ``model`` (see ``directory.ReferenceModel``): its inputs and
    Keras' ``outputs`` saved into ``directory``, weight names and shapes, and parameter count."""
    return {
        "name": name,
        "model_json": model_json,
        "inputs": save_arrays(directory, "input", keras_names(model.inputs), inputs),
        "outputs": save_arrays(directory, "output", list(model.output_names), outputs),
        "weights": [{"name": n, "shape": list(w.shape)} for n, w in zip(keras_names(model.weights), model.weights)],
        "param_count": int(model.count_params()),
    }
