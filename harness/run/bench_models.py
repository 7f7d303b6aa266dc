"""Eleven small Keras models of the kinds users bring (each under 100k parameters), for ``make bench``'s
``check`` figure: dense, convolutional, recurrent, embedding and multi-input models, seeded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_PARAMETERS = 100_000


def _dense(keras: Any) -> list[Any]:
    layers = keras.layers
    return [
        keras.Sequential([keras.Input((16,)), layers.Dense(32, activation="tanh"), layers.Dense(4)], name="dense_tanh"),
        keras.Sequential([keras.Input((20,)), layers.Dense(64, activation="relu"), layers.Dense(32, activation="relu"),
                          layers.Dense(10, activation="softmax")], name="dense_softmax"),
        keras.Sequential([keras.Input((12,)), layers.Dense(32), layers.BatchNormalization(), layers.ReLU(),
                          layers.Dense(3)], name="dense_batchnorm"),
        keras.Sequential([keras.Input((24,)), layers.Dense(48, activation="relu"), layers.Dropout(0.3),
                          layers.Dense(1, activation="sigmoid")], name="dense_dropout_sigmoid"),
    ]


def _convolutional(keras: Any) -> list[Any]:
    layers = keras.layers
    return [
        keras.Sequential([keras.Input((16, 16, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
                          layers.Conv2D(16, 3, activation="relu"), layers.GlobalAveragePooling2D(), layers.Dense(5)],
                         name="conv2d"),
        keras.Sequential([keras.Input((12, 12, 3)), layers.SeparableConv2D(8, 3, padding="same"),
                          layers.BatchNormalization(), layers.ReLU(), layers.AveragePooling2D(), layers.Flatten(),
                          layers.Dense(4)], name="separable_conv2d"),
        keras.Sequential([keras.Input((32, 4)), layers.Conv1D(16, 5, activation="relu"), layers.GlobalMaxPooling1D(),
                          layers.Dense(3)], name="conv1d"),
    ]


def _sequence(keras: Any) -> list[Any]:
    layers = keras.layers
    return [
        keras.Sequential([keras.Input((10, 6)), layers.LSTM(16), layers.Dense(2)], name="lstm"),
        keras.Sequential([keras.Input((8, 5)), layers.GRU(12, return_sequences=True, reset_after=False),
                          layers.GRU(8, reset_after=False), layers.Dense(3)],
                         name="stacked_gru"),
        keras.Sequential([keras.Input((12,), dtype="int32"), layers.Embedding(50, 8),
                          layers.GlobalAveragePooling1D(), layers.Dense(4)], name="embedding"),
    ]


def _two_inputs(keras: Any) -> list[Any]:
    layers = keras.layers
    left, right = keras.Input((6,), name="left"), keras.Input((4,), name="right")
    merged = layers.Concatenate()([layers.Dense(8, activation="tanh")(left), layers.Dense(8, activation="tanh")(right)])
    return [keras.Model([left, right], [layers.Dense(3)(merged), layers.Dense(1, activation="sigmoid")(merged)],
                        name="two_inputs_two_outputs")]


BUILDERS: tuple[Callable[[Any], list[Any]], ...] = (_dense, _convolutional, _sequence, _two_inputs)


def write_small_models(directory: Path, seed: int = 0) -> list[Path]:
    """Build the eleven models (seeded) and save each as ``<name>.h5`` in ``directory``; returns the files."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for build in BUILDERS:
        for model in build(keras):
            if model.count_params() >= MAX_PARAMETERS:
                raise ValueError(f"bench model {model.name} has {model.count_params()} parameters")
            path = directory / f"{model.name}.h5"
            model.save(path)
            files.append(path)
    return files
