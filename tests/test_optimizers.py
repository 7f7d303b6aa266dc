"""The Keras <-> tfjs optimizer mapping, checked numerically against tfjs' own update rules.

The tfjs rules below are transcribed from tfjs-core 4.22 (``dist/optimizers/*_optimizer.js``);
the browser checks (``fit``, ``core-api``) then confirm them on every backend.
"""

import numpy as np
import pytest

from harness.reference.keras_env import configure_tensorflow_environment
from harness.reference.optimizers import TFJS_BACKEND_EPSILON, OptimizerSpec

STEPS = 6


def tfjs_steps(spec, start, gradients):
    """tfjs' update rules, in float64."""
    w, a, b, accumulated_beta1, accumulated_beta2 = start.copy(), np.zeros_like(start), np.zeros_like(start), 1.0, 1.0
    config = spec.tfjs()
    if config["name"] == "adagrad":
        a = np.full_like(start, config["initialAccumulatorValue"])
    for g in gradients:
        if config["name"] == "sgd":
            w = w - config["learningRate"] * g
        elif config["name"] == "momentum":
            a = config["momentum"] * a + g
            step = g + config["momentum"] * a if config["useNesterov"] else a
            w = w - config["learningRate"] * step
        elif config["name"] == "adam":
            accumulated_beta1 *= config["beta1"]
            accumulated_beta2 *= config["beta2"]
            a = config["beta1"] * a + (1 - config["beta1"]) * g
            b = config["beta2"] * b + (1 - config["beta2"]) * g * g
            m_hat, v_hat = a / (1 - accumulated_beta1), b / (1 - accumulated_beta2)
            w = w - config["learningRate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
        elif config["name"] == "adagrad":
            a = a + g * g
            w = w - config["learningRate"] * g / np.sqrt(a + TFJS_BACKEND_EPSILON)
        elif config["name"] == "adadelta":  # the step divides by the accumulator before this gradient is added
            rho, epsilon = config["rho"], config["epsilon"]
            update = np.sqrt(b + epsilon) / np.sqrt(a + epsilon) * g
            a = rho * a + (1 - rho) * g * g
            b = rho * b + (1 - rho) * update * update
            w = w - config["learningRate"] * update
        elif config["name"] == "adamax":
            accumulated_beta1 *= config["beta1"]
            a = config["beta1"] * a + (1 - config["beta1"]) * g
            b = np.maximum(config["beta2"] * b, np.abs(g))
            w = w - config["learningRate"] / (1 - accumulated_beta1) * a / (b + config["epsilon"])
        else:  # rmsprop, not centered
            b = config["decay"] * b + (1 - config["decay"]) * g * g
            a = config["momentum"] * a + config["learningRate"] * g / np.sqrt(b + config["epsilon"])
            w = w - a
    return w


def keras_steps(optimizer, start, gradients):
    import tensorflow as tf

    variable = tf.Variable(start.astype(np.float32))
    for g in gradients:
        optimizer.apply_gradients([(tf.constant(g.astype(np.float32)), variable)])
    return variable.numpy().astype(np.float64)


@pytest.fixture(scope="module")
def gradients():
    configure_tensorflow_environment()
    rng = np.random.default_rng(0)
    # Gradients from 1e-7 to 1: at the small end epsilon dominates, so a wrong epsilon form shows.
    scales = np.logspace(-7, 0, 8)
    return np.float64([0.1, -0.2, 0.3, 0.5, -0.7, 0.2, 0.4, -0.9]), [scales * rng.normal(size=8) for _ in range(STEPS)]


@pytest.mark.parametrize("spec", [
    OptimizerSpec("sgd", 0.1),
    OptimizerSpec("momentum", 0.05, momentum=0.9),
    OptimizerSpec("momentum", 0.05, momentum=0.9, nesterov=True),
    OptimizerSpec("adam", 1e-3),
    OptimizerSpec("rmsprop", 3e-3, rho=0.9),
    OptimizerSpec("rmsprop", 3e-3, rho=0.8, momentum=0.5),
    OptimizerSpec("adagrad", 0.05, initial_accumulator_value=0.2),
    OptimizerSpec("adagrad", 0.05, initial_accumulator_value=0.0),
    OptimizerSpec("adamax", 2e-3, beta_1=0.8, beta_2=0.99),
    OptimizerSpec("adadelta", 1.0, rho=0.9, epsilon=1e-6),
], ids=lambda s: f"{s.kind}-m{s.momentum}-n{s.nesterov}-a{s.initial_accumulator_value}")
def test_keras_optimizer_follows_tfjs_update_rule(spec, gradients):
    """Keras' optimizer (or, where tfjs follows another rule, the harness' Keras twin of it) steps as tfjs does."""
    start, grads = gradients
    expected = tfjs_steps(spec, start, grads)
    np.testing.assert_allclose(keras_steps(spec.tfjs_arithmetic(), start, grads), expected, rtol=1e-5, atol=1e-8)


def test_keras_adadelta_is_not_tfjs_rule(gradients):
    """Why an Adadelta model's Keras run is recorded twice: Keras' own Adadelta steps differently from tfjs'."""
    start, grads = gradients
    spec = OptimizerSpec("adadelta", 1.0, rho=0.9, epsilon=1e-6)
    assert spec.tfjs_differs == "tfjs-adadelta-update-order"
    difference = np.abs(keras_steps(spec.keras(), start, grads) - tfjs_steps(spec, start, grads))
    assert difference.max() > 1e-2
    assert OptimizerSpec("adamax", 1e-3).tfjs_differs is None


@pytest.mark.parametrize("rho, epsilon", [(0.9, 1e-6), (0.5, 1e-3), (0.99, 1e-8)])
def test_tfjs_adadelta_rule_is_plain_sgd(gradients, rho, epsilon):
    """What the known issue says: in tfjs' order both running averages stay equal, so each step is the learning
    rate times the gradient, whatever rho and epsilon are (which is why its teeth change the learning rate)."""
    start, grads = gradients
    adadelta = tfjs_steps(OptimizerSpec("adadelta", 0.5, rho=rho, epsilon=epsilon), start, grads)
    np.testing.assert_allclose(adadelta, tfjs_steps(OptimizerSpec("sgd", 0.5), start, grads), rtol=1e-12)


def test_keras_default_adam_epsilon_is_not_tfjs_form(gradients):
    """Why the mapping sets adaptive_epsilon=True: Keras' default puts epsilon on the uncorrected sqrt(v)."""
    import tf_keras as keras

    start, grads = gradients
    spec = OptimizerSpec("adam", 1e-3)
    default = keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7)
    difference = np.abs(keras_steps(default, start, grads) - tfjs_steps(spec, start, grads))
    assert difference.max() > 1e-5


def test_tfjs_arguments_spell_every_hyper_parameter():
    assert OptimizerSpec("rmsprop", 1e-3, rho=0.8).tfjs() == {
        "name": "rmsprop", "learningRate": 1e-3, "decay": 0.8, "momentum": 0.0, "epsilon": 1e-7, "centered": False}
    assert OptimizerSpec("adam", 1e-3).tfjs() == {
        "name": "adam", "learningRate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}
    assert OptimizerSpec.from_dict(OptimizerSpec("momentum", 0.1, momentum=0.5).to_dict()).momentum == 0.5
