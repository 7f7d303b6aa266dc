"""One optimizer description, built identically in Keras and in tfjs: the hyper-parameter mapping.

Every hyper-parameter is explicit on both sides, so neither library's defaults can leak in. tfjs-core
has seven optimizers; where the two libraries name or define a hyper-parameter differently, the
mapping is here:

==========  ===============================================  ==========================================
kind        Keras (tf_keras)                                 tfjs
==========  ===============================================  ==========================================
sgd         ``SGD(learning_rate, momentum=0)``               ``tf.train.sgd(learningRate)``
momentum    ``SGD(learning_rate, momentum, nesterov)``       ``tf.train.momentum(learningRate, momentum,
                                                             useNesterov)``: Keras keeps ``v = m*v - lr*g``,
                                                             tfjs ``a = m*a + g`` and steps ``lr*a``; the
                                                             same update while the rate is constant
adagrad     ``Adagrad(learning_rate,                         ``tf.train.adagrad(learningRate,
            initial_accumulator_value, epsilon=1e-7)``       initialAccumulatorValue)``: tfjs takes no
                                                             epsilon and adds the backend's (1e-7 on a
                                                             float32 backend) inside the square root, as
                                                             Keras adds its own: only epsilon 1e-7 twins
adadelta    ``Adadelta(learning_rate, rho, epsilon)``        ``tf.train.adadelta(learningRate, rho,
                                                             epsilon)``: tfjs divides a step's gradient by
                                                             the accumulated squared gradients *before*
                                                             this step's gradient is added, Keras after.
                                                             In tfjs' order both accumulators stay equal,
                                                             so every step is ``lr * g``: plain SGD, rho
                                                             and epsilon have no effect.
                                                             ``tfjs_arithmetic`` is tfjs' rule in Keras
                                                             (``ADADELTA_UPDATE_ORDER``)
adam        ``Adam(learning_rate, beta_1, beta_2, epsilon,   ``tf.train.adam(learningRate, beta1, beta2,
            adaptive_epsilon=True)``                         epsilon)``. tfjs adds epsilon to the
                                                             bias-corrected ``sqrt(v_hat)``; Keras by default
                                                             adds it to the uncorrected ``sqrt(v)`` (the
                                                             paper's "epsilon hat"), which is up to 31x
                                                             larger at step 1. ``adaptive_epsilon=True`` is
                                                             the form tfjs uses.
adamax      ``Adamax(learning_rate, beta_1, beta_2,          ``tf.train.adamax(learningRate, beta1, beta2,
            epsilon)``                                       epsilon, decay=0)``: the same rule
rmsprop     ``RMSprop(learning_rate, rho, momentum,          ``tf.train.rmsprop(learningRate, decay,
            epsilon, centered)``                             momentum, epsilon, centered)``: Keras' ``rho``
                                                             is tfjs' ``decay``; both add epsilon inside the
                                                             square root and start the mean square at 0.
                                                             Centered, tfjs *subtracts* epsilon there
                                                             (``sqrt(ms - mg^2 - eps)``), which is NaN
                                                             wherever the gradient's variance is below
                                                             epsilon (``RMSPROP_CENTERED_EPSILON``)
==========  ===============================================  ==========================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

OptimizerKind = Literal["sgd", "momentum", "adagrad", "adadelta", "adam", "adamax", "rmsprop"]
OPTIMIZER_KINDS: tuple[str, ...] = ("sgd", "momentum", "adagrad", "adadelta", "adam", "adamax", "rmsprop")
# The epsilon tfjs' adagrad adds: the backend's ``epsilon()`` on a float32 backend (it takes none of its own).
TFJS_BACKEND_EPSILON = 1e-7
# The known difference a Keras Adadelta run shows in tfjs (``verdict.known_issues``): its id, recorded with
# the Keras run that follows tfjs' rule.
ADADELTA_UPDATE_ORDER = "tfjs-adadelta-update-order"
# tfjs' centered rmsprop subtracts epsilon inside its square root: no Keras run can follow it past the first NaN.
RMSPROP_CENTERED_EPSILON = "tfjs-rmsprop-centered-epsilon"


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer with every hyper-parameter spelled out (unused ones are ignored for a kind)."""

    kind: OptimizerKind
    learning_rate: float
    momentum: float = 0.0
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    rho: float = 0.9
    centered: bool = False
    initial_accumulator_value: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in a fixture."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OptimizerSpec:
        return cls(**raw)

    @property
    def tfjs_differs(self) -> str | None:
        """The known issue id when tfjs' optimizer of this kind follows another rule than Keras' (its Keras run
        is then recorded twice where ``tfjs_arithmetic`` can follow tfjs' rule); None when they are the same."""
        if self.kind == "adadelta":
            return ADADELTA_UPDATE_ORDER
        if self.kind == "rmsprop" and self.centered:
            return RMSPROP_CENTERED_EPSILON
        return None

    def keras(self) -> Any:
        """The tf_keras optimizer (TF_USE_LEGACY_KERAS must be set before the first TensorFlow import)."""
        import tf_keras as keras

        if self.kind == "sgd":
            return keras.optimizers.SGD(learning_rate=self.learning_rate, momentum=0.0)
        if self.kind == "momentum":
            return keras.optimizers.SGD(learning_rate=self.learning_rate, momentum=self.momentum,
                                        nesterov=self.nesterov)
        if self.kind == "adagrad":
            return keras.optimizers.Adagrad(learning_rate=self.learning_rate, epsilon=self.epsilon,
                                            initial_accumulator_value=self.initial_accumulator_value)
        if self.kind == "adadelta":
            return keras.optimizers.Adadelta(learning_rate=self.learning_rate, rho=self.rho, epsilon=self.epsilon)
        if self.kind == "adam":
            return keras.optimizers.Adam(learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                                         epsilon=self.epsilon, adaptive_epsilon=True)
        if self.kind == "adamax":
            return keras.optimizers.Adamax(learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                                           epsilon=self.epsilon)
        if self.kind == "rmsprop":
            return keras.optimizers.RMSprop(learning_rate=self.learning_rate, rho=self.rho, momentum=self.momentum,
                                            epsilon=self.epsilon, centered=self.centered)
        raise ValueError(f"unknown optimizer kind '{self.kind}'")

    def tfjs_arithmetic(self) -> Any:
        """A Keras optimizer that follows tfjs' own rule where it is not Keras' (``tfjs_differs``); None where no
        Keras run can follow it (centered rmsprop's square root of a negative number)."""
        if self.kind == "adadelta":
            return _tfjs_adadelta(self)
        return None if self.tfjs_differs else self.keras()

    def tfjs(self) -> dict[str, Any]:
        """The arguments ``parity.training.optimizer`` passes to ``tf.train.<name>`` on the page."""
        if self.kind == "sgd":
            return {"name": "sgd", "learningRate": self.learning_rate}
        if self.kind == "momentum":
            return {"name": "momentum", "learningRate": self.learning_rate, "momentum": self.momentum,
                    "useNesterov": self.nesterov}
        if self.kind == "adagrad":
            return {"name": "adagrad", "learningRate": self.learning_rate,
                    "initialAccumulatorValue": self.initial_accumulator_value}
        if self.kind == "adadelta":
            return {"name": "adadelta", "learningRate": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}
        if self.kind == "adam":
            return {"name": "adam", "learningRate": self.learning_rate, "beta1": self.beta_1, "beta2": self.beta_2,
                    "epsilon": self.epsilon}
        if self.kind == "adamax":
            return {"name": "adamax", "learningRate": self.learning_rate, "beta1": self.beta_1, "beta2": self.beta_2,
                    "epsilon": self.epsilon}
        if self.kind == "rmsprop":
            return {"name": "rmsprop", "learningRate": self.learning_rate, "decay": self.rho,
                    "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}
        raise ValueError(f"unknown optimizer kind '{self.kind}'")


def _tfjs_adadelta(spec: OptimizerSpec) -> Any:
    """Keras' Adadelta with tfjs' update order: the step divides by the accumulated squared gradients as they were
    before this step's gradient (tfjs-core ``adadelta_optimizer.ts``), then both accumulators are updated."""
    import tensorflow as tf
    import tf_keras as keras

    class TfjsAdadelta(keras.optimizers.Adadelta):  # type: ignore[misc, name-defined]
        def update_step(self, grad: Any, variable: Any) -> None:
            index = self._index_dict[self._var_key(variable)]
            accumulated_grad = self._accumulated_grads[index]
            accumulated_update = self._accumulated_delta_vars[index]
            lr = tf.cast(self.learning_rate, variable.dtype)
            update = tf.sqrt(accumulated_update + self.epsilon) / tf.sqrt(accumulated_grad + self.epsilon) * grad
            accumulated_grad.assign(self.rho * accumulated_grad + (1 - self.rho) * grad * grad)
            accumulated_update.assign(self.rho * accumulated_update + (1 - self.rho) * update * update)
            variable.assign_sub(lr * update)

    return TfjsAdadelta(learning_rate=spec.learning_rate, rho=spec.rho, epsilon=spec.epsilon)
