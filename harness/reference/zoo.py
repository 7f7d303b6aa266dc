"""The built-in reference models: each a named builder plus seeded synthetic data.

Nothing here imports TensorFlow at module level, so the CLI and pytest stay fast to start;
builders import ``tf_keras`` when called (with ``TF_USE_LEGACY_KERAS=1`` set by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.reference.losses import LossSpec
from harness.reference.optimizers import OptimizerSpec
from harness.reference.training_spec import TrainingSpec

Arrays = list[np.ndarray]


@dataclass(frozen=True)
class ModelSpec:
    """A zoo model: how to build it, how to train it, and how to make inputs and targets for it.

    ``build`` returns an uncompiled model; ``training`` says how both sides compile and train it.
    ``epochs`` is the brief Keras pre-training before conversion, so reference weights are not
    fresh initialisations.
    """

    name: str
    description: str
    build: Callable[[], Any]
    make_data: Callable[[np.random.Generator, int], tuple[Arrays, Arrays]]
    training: TrainingSpec
    epochs: int = 2
    train_samples: int = 256
    reference_batch: int = 16
    seed: int = 1234
    inner_outputs: tuple[str, ...] = ()  # inner layers predict compares too (see ``reference.inner_outputs``)


def _teacher_labels(features: np.ndarray, classes: int) -> np.ndarray:
    """Labels from a fixed random linear teacher, so training has something to learn."""
    teacher = np.random.default_rng(7).normal(size=(features.shape[1], classes))
    return np.argmax(features @ teacher, axis=1)


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def build_mlp() -> Any:
    import tf_keras as keras

    model = keras.Sequential([
        keras.layers.Input(shape=(784,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return model


def mlp_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    x = rng.uniform(0.0, 1.0, size=(n, 784)).astype(np.float32)
    return [x], [_one_hot(_teacher_labels(x - 0.5, 10), 10)]


def build_cnn() -> Any:
    import tf_keras as keras

    model = keras.Sequential([
        keras.layers.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.25),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    return model


def cnn_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    x = rng.uniform(0.0, 1.0, size=(n, 28, 28, 1)).astype(np.float32)
    return [x], [_one_hot(_teacher_labels(x.reshape(n, -1) - 0.5, 10), 10)]


RNN_VOCAB = 50
RNN_LENGTH = 12


def build_rnn() -> Any:
    import tf_keras as keras

    model = keras.Sequential([
        keras.layers.Input(shape=(RNN_LENGTH,), dtype="int32"),
        keras.layers.Embedding(RNN_VOCAB, 16),
        keras.layers.LSTM(16),
        keras.layers.Dense(3, activation="softmax"),
    ])
    return model


def rnn_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    tokens = rng.integers(0, RNN_VOCAB, size=(n, RNN_LENGTH)).astype(np.int32)
    counts = np.stack([np.bincount(row, minlength=RNN_VOCAB) for row in tokens]).astype(np.float64)
    return [tokens], [_teacher_labels(counts - counts.mean(), 3).astype(np.int32)]


def build_functional() -> Any:
    import tf_keras as keras

    features = keras.layers.Input(shape=(16,), name="features")
    context = keras.layers.Input(shape=(8,), name="context")
    a = keras.layers.Dense(24, activation="tanh")(features)
    b = keras.layers.Dense(8, activation="relu")(context)
    merged = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dense(16, activation="relu")(merged)
    label = keras.layers.Dense(4, activation="softmax", name="label")(hidden)
    score = keras.layers.Dense(1, name="score")(hidden)
    return keras.Model(inputs=[features, context], outputs=[label, score])


def functional_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    features = rng.normal(size=(n, 16)).astype(np.float32)
    context = rng.uniform(-1.0, 1.0, size=(n, 8)).astype(np.float32)
    both = np.concatenate([features, context], axis=1)
    label = _one_hot(_teacher_labels(both, 4), 4)
    score = (both @ np.random.default_rng(11).normal(size=(24, 1))).astype(np.float32)
    return [features, context], [label, score]


def build_binary() -> Any:
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Input(shape=(20,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def binary_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    x = rng.normal(size=(n, 20)).astype(np.float32)
    return [x], [_teacher_labels(x, 2).astype(np.float32).reshape(n, 1)]


MOBILENET_SIZE = 96
MOBILENET_CLASSES = 4
MOBILENET_CALIBRATION_IMAGES = 64


def grating_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Coloured sine gratings plus noise in MobileNetV2's input range [-1, 1]; the class is the
    grating's orientation (one of ``MOBILENET_CLASSES``), so a head on the features can learn it."""
    yy, xx = np.mgrid[0:MOBILENET_SIZE, 0:MOBILENET_SIZE] / MOBILENET_SIZE
    labels = rng.integers(0, MOBILENET_CLASSES, size=n)
    images = np.empty((n, MOBILENET_SIZE, MOBILENET_SIZE, 3), dtype=np.float32)
    for i, label in enumerate(labels):
        angle = np.pi * label / MOBILENET_CLASSES + rng.normal(0.0, 0.15)
        frequency, phase = rng.uniform(3.0, 8.0), rng.uniform(0.0, 2 * np.pi)
        grating = np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        noise = rng.normal(0.0, 0.2, size=images.shape[1:])
        images[i] = np.clip(grating[..., None] * rng.uniform(0.3, 1.0, size=3) + noise, -1.0, 1.0)
    return images, labels.astype(np.int32)


def calibrate_batch_norm(model: Any, images: np.ndarray) -> None:
    """Set every BatchNormalization's moving statistics to its input's statistics on ``images``.

    With random weights MobileNetV2's activations shrink layer by layer (features ~1e-10, every
    output the same). One forward pass in training mode with momentum 0 stores each layer's batch
    statistics (computed on the already normalised activations of the layers before it), so in
    inference every layer's output has unit scale on such images.
    """
    import tf_keras as keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def build_mobilenet_v2(calibrate: bool = True) -> Any:
    """A frozen MobileNetV2 base (alpha 0.35, 96x96, seeded random weights: no download) with
    calibrated BatchNormalization statistics, then GlobalAveragePooling2D ("features") and a Dense
    softmax head: the transfer-learning recipe of the tfjs examples."""
    import tf_keras as keras

    image = keras.layers.Input(shape=(MOBILENET_SIZE, MOBILENET_SIZE, 3), name="image")
    base = keras.applications.MobileNetV2(input_tensor=image, include_top=False, weights=None, alpha=0.35)
    if calibrate:
        calibrate_batch_norm(base, grating_images(np.random.default_rng(99), MOBILENET_CALIBRATION_IMAGES)[0])
    for layer in base.layers:
        layer.trainable = False
    features = keras.layers.GlobalAveragePooling2D(name="features")(base.output)
    head = keras.layers.Dense(MOBILENET_CLASSES, activation="softmax", name="head")(features)
    return keras.Model(image, head, name="mobilenet_v2_transfer")


def mobilenet_data(rng: np.random.Generator, n: int) -> tuple[Arrays, Arrays]:
    images, labels = grating_images(rng, n)
    return [images], [labels]


ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "mlp", "the seeds' model: Dense 784->32 relu, Dense 32->10 softmax", build_mlp, mlp_data,
            TrainingSpec(OptimizerSpec("adam", 1e-3), LossSpec("categorical_crossentropy"), core_api=True),
        ),
        ModelSpec(
            "cnn", "Conv2D, MaxPooling2D, BatchNormalization, Dropout, Flatten, Dense", build_cnn, cnn_data,
            TrainingSpec(OptimizerSpec("momentum", 1e-2, momentum=0.9), LossSpec("categorical_crossentropy")),
        ),
        ModelSpec(
            "rnn", "Embedding + LSTM on integer token sequences", build_rnn, rnn_data,
            TrainingSpec(OptimizerSpec("rmsprop", 3e-3, rho=0.9), LossSpec("sparse_categorical_crossentropy")),
            epochs=3,
        ),
        ModelSpec(
            "functional", "two inputs, two outputs (softmax and regression), Concatenate",
            build_functional, functional_data,
            TrainingSpec(OptimizerSpec("sgd", 1e-2),
                         {"label": LossSpec("categorical_crossentropy"), "score": LossSpec("mean_squared_error")},
                         metrics=()),
            epochs=3,
        ),
        ModelSpec(
            "binary", "Dense 20->16 relu, Dense 16->1 sigmoid: binary crossentropy", build_binary, binary_data,
            TrainingSpec(OptimizerSpec("momentum", 5e-2, momentum=0.9, nesterov=True),
                         LossSpec("binary_crossentropy")),
        ),
        ModelSpec(
            "mobilenet_v2", "transfer learning: frozen MobileNetV2 base (alpha 0.35, 96x96x3), Dense softmax head",
            build_mobilenet_v2, mobilenet_data,
            TrainingSpec(OptimizerSpec("momentum", 1e-2, momentum=0.9), LossSpec("sparse_categorical_crossentropy"),
                         epochs=4,
                         batch_size=16, samples=72, heldout_samples=16, head_from="features"),
            train_samples=128, inner_outputs=("features",),
        ),
    )
}


class UnknownModelError(UsageError):
    """A model name that is not in the zoo."""


def get_spec(name: str) -> ModelSpec:
    """The zoo entry called ``name``."""
    try:
        return ZOO[name]
    except KeyError:
        raise UnknownModelError(f"unknown model '{name}' (zoo: {', '.join(ZOO)})") from None
