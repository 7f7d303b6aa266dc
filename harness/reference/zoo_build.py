"""The recipe that turns a zoo model into its reference directory: build it, train it briefly on
seeded data (so its weights are not fresh initialisations), then the one pipeline every Keras model
takes (``keras_build``) with the zoo's own training setup and seeded training data."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.reference.keras_env import configure_tensorflow_environment, library_versions, onednn_setting
from harness.reference.zoo import ModelSpec


def build_zoo_reference(spec: ModelSpec, directory: Path, key: str) -> None:
    """Build ``spec``'s reference into the (empty) ``directory``; ``key`` is its cache key, recorded."""
    started = time.perf_counter()
    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.reference.keras_build import KerasSource, build_keras_reference
    from harness.reference.keras_model import keras_data
    from harness.reference.training_runs import TrainingData
    from harness.reference.training_spec import compile_keras

    keras.backend.clear_session()  # layer names must not depend on what was built before
    keras.utils.set_random_seed(spec.seed)
    model = spec.build()
    compile_keras(model, spec.training)
    train_x, train_y = spec.make_data(np.random.default_rng(spec.seed), spec.train_samples)
    model.fit(keras_data(train_x), keras_data(train_y), epochs=spec.epochs, batch_size=32, shuffle=False, verbose=0)
    reference_x, _ = spec.make_data(np.random.default_rng(spec.seed + 1), spec.reference_batch)
    data = TrainingData(*spec.make_data(np.random.default_rng(spec.seed + 2), spec.training.samples),
                        *spec.make_data(np.random.default_rng(spec.seed + 3), spec.training.heldout_samples))
    source = KerasSource(spec.name, model, reference_x, spec.training, data, inner_outputs=spec.inner_outputs)
    build_keras_reference(source, directory, extra={
        "description": spec.description,
        "build": {
            "key": key,
            "versions": library_versions(),
            "onednn": onednn_setting(),
            "seed": spec.seed,
            "epochs": spec.epochs,
            "seconds": round(time.perf_counter() - started, 2),
        },
    })
