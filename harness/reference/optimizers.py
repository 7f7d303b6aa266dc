"""One optimizer description, built identically in Keras and in tfjs: the hyper-parameter mapping.

Every hyper-parameter is explicit on both sides, so neither library's defaults can leak in.
Where the two libraries name or define a hyper-parameter differently, the mapping is here:

==========  ===============================================  ==========================================
kind        Keras (tf_keras)                                 tfjs
==========  ===============================================  ==========================================
sgd         ``SGD(learning_rate, momentum=0)``               ``tf.train.sgd(learningRate)``
momentum    ``SGD(learning_rate, momentum, nesterov)``       ``tf.train.momentum(learningRate, momentum,
                                                             useNesterov)``: Keras keeps ``v = m*v - lr*g``,
                                                             tfjs ``a = m*a + g`` and steps ``lr*a``; the
                                                             same update while the rate is constant
adam        ``Adam(learning_rate, beta_1, beta_2, epsilon,   ``tf.train.adam(learningRate, beta1, beta2,
            adaptive_epsilon=True)``                         epsilon)``. tfjs adds epsilon to the
                                                             bias-corrected ``sqrt(v_hat)``; Keras by default
                                                             adds it to the uncorrected ``sqrt(v)`` (the
                                                             paper's "epsilon hat"), which is up to 31x
                                                             larger at step 1. ``adaptive_epsilon=True`` is
                                                             the form tfjs uses.
rmsprop     ``RMSprop(learning_rate, rho, momentum,          ``tf.train.rmsprop(learningRate, decay,
            epsilon, centered)``                             momentum, epsilon, centered)``: Keras' ``rho``
                                                             is tfjs' ``decay``; both add epsilon inside the
                                                             square root and start the mean square at 0
==========  ===============================================  ==========================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

OptimizerKind = Literal["sgd", "momentum", "adam", "rmsprop"]


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in a fixture."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OptimizerSpec:
        return cls(**raw)

    def keras(self) -> Any:
        """The tf_keras optimizer (TF_USE_LEGACY_KERAS must be set before the first TensorFlow import)."""
        import tf_keras as keras

        if self.kind == "sgd":
            return keras.optimizers.SGD(learning_rate=self.learning_rate, momentum=0.0)
        if self.kind == "momentum":
            return keras.optimizers.SGD(learning_rate=self.learning_rate, momentum=self.momentum,
                                        nesterov=self.nesterov)
        if self.kind == "adam":
            return keras.optimizers.Adam(learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                                         epsilon=self.epsilon, adaptive_epsilon=True)
        if self.kind == "rmsprop":
            return keras.optimizers.RMSprop(learning_rate=self.learning_rate, rho=self.rho, momentum=self.momentum,
                                            epsilon=self.epsilon, centered=self.centered)
        raise ValueError(f"unknown optimizer kind '{self.kind}'")

    def tfjs(self) -> dict[str, Any]:
        """The arguments ``parity.training.optimizer`` passes to ``tf.train.<name>`` on the page."""
        if self.kind == "sgd":
            return {"name": "sgd", "learningRate": self.learning_rate}
        if self.kind == "momentum":
            return {"name": "momentum", "learningRate": self.learning_rate, "momentum": self.momentum,
                    "useNesterov": self.nesterov}
        if self.kind == "adam":
            return {"name": "adam", "learningRate": self.learning_rate, "beta1": self.beta_1, "beta2": self.beta_2,
                    "epsilon": self.epsilon}
        if self.kind == "rmsprop":
            return {"name": "rmsprop", "learningRate": self.learning_rate, "decay": self.rho,
                    "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}
        raise ValueError(f"unknown optimizer kind '{self.kind}'")
