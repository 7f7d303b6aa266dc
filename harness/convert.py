"""Conversion of Keras models to TensorFlow.js, in-process (the converter CLI costs ~8 s of imports per call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL_JSON = "model.json"


def convert_layers_model(model: Any, directory: Path, **options: Any) -> str:
    """Write ``model`` (a tf_keras model) as a tfjs layers model into ``directory``; returns the model.json name.
    ``options`` go to the converter (``quantization_dtype_map``, ``weight_shard_size_bytes``)."""
    import warnings

    from tensorflowjs.converters import save_keras_model

    with warnings.catch_warnings():
        # The converter saves through HDF5 on purpose; Keras' "legacy format" advice is noise here.
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
        save_keras_model(model, str(directory), **options)
    return MODEL_JSON
