"""The recipe that turns a zoo model into its reference directory: train briefly on seeded data,
refuse outputs that prove nothing, convert in-process (and every other way, see ``conversions``),
record inputs and Keras' outputs, then run Keras' side of every training check."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.reference.degeneracy import refuse_degenerate
from harness.reference.directory import write_manifest
from harness.reference.keras_env import configure_tensorflow_environment, library_versions, onednn_setting
from harness.reference.zoo import ModelSpec


def build_zoo_reference(spec: ModelSpec, directory: Path, key: str) -> None:
    """Build ``spec``'s reference into the (empty) ``directory``; ``key`` is its cache key, recorded."""
    started = time.perf_counter()
    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.reference.conversions import build_conversions, convert_layers_model
    from harness.reference.keras_model import keras_data, keras_predict, layers_manifest
    from harness.reference.rounding import float32_rounding
    from harness.reference.training_runs import build_training_runs
    from harness.reference.training_spec import compile_keras

    keras.backend.clear_session()  # layer names must not depend on what was built before
    keras.utils.set_random_seed(spec.seed)
    model = spec.build()
    compile_keras(model, spec.training)
    train_x, train_y = spec.make_data(np.random.default_rng(spec.seed), spec.train_samples)
    model.fit(keras_data(train_x), keras_data(train_y), epochs=spec.epochs, batch_size=32, shuffle=False, verbose=0)
    reference_x, _ = spec.make_data(np.random.default_rng(spec.seed + 1), spec.reference_batch)
    outputs = keras_predict(model, reference_x)
    refuse_degenerate(outputs, list(model.output_names), spec.name)
    rounding = float32_rounding(model, reference_x, outputs)
    model_json = convert_layers_model(model, directory)
    conversions = build_conversions(model, reference_x, outputs, directory)
    build_training_runs(spec, model, reference_x, directory)
    write_manifest(directory, {
        **layers_manifest(model, directory, spec.name, model_json, reference_x, outputs),
        "description": spec.description,
        "float32_rounding": rounding,
        "conversions": conversions,
        "build": {
            "key": key,
            "versions": library_versions(),
            "onednn": onednn_setting(),
            "seed": spec.seed,
            "epochs": spec.epochs,
            "seconds": round(time.perf_counter() - started, 2),
        },
    })
