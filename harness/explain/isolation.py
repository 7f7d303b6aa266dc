"""The first layer out of tolerance, run alone: a kernel problem or error accumulated over depth.

Keras' own inputs to the layer (from the model files the page loaded, on the diagnosis' samples) go
through that layer alone in the browser on every backend of the run (``web/isolation.js``), judged by
the tolerance the layer-by-layer diagnosis judged it with. Out of tolerance given identical inputs: the
layer's kernels compute differently (a kernel problem; ``ops`` then names the op). Within it: the layer
is right, and the error reached it through its inputs, grown over the layers before it (accumulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.browser.page import BackendPage, PageOperation
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.checks.diagnosis import DIAGNOSIS_ROWS, keras_layer_outputs, layer_tolerance
from harness.verdict.compare import Comparison, compare_within, worst_ratio
from harness.verdict.tolerances import Tolerance


@dataclass
class LayerInputs:
    """What Keras gives a layer and gets from it on the diagnosis' samples, and its float32 rounding per channel."""

    layer: str
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    rounding: np.ndarray | None


@dataclass
class AloneResult:
    """The layer alone on one backend: its comparison with Keras, and (where asked) the kernels it ran."""

    backend: str
    comparison: Comparison
    kernels: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The report's entry."""
        return {"ok": self.comparison.ok, "max_abs_err": self.comparison.max_abs_err,
                "ratio": worst_ratio([self.comparison]), "problem": self.comparison.problem}


def base_layer(name: str) -> str:
    """``"lstm[1]"`` (a layer's second output, as the diagnosis names it) -> ``"lstm"``."""
    return name.split("[", 1)[0]


def keras_layer_inputs(files: Any, layer: str, inputs: list[np.ndarray]) -> LayerInputs:
    """Keras' inputs to ``layer`` of model ``files`` and its outputs, on the first ``DIAGNOSIS_ROWS`` of ``inputs``."""
    import tf_keras

    samples = [x[:DIAGNOSIS_ROWS] for x in inputs]
    found = files.get_layer(base_layer(layer))
    ins = found.input if isinstance(found.input, (list, tuple)) else [found.input]
    outs = found.output if isinstance(found.output, (list, tuple)) else [found.output]
    values = tf_keras.Model(files.inputs, [*ins, *outs]).predict(samples, verbose=0)
    values = values if isinstance(values, list) else [values]
    rounding = next((r for name, _, r in keras_layer_outputs(files, samples) if name == layer), None)
    return LayerInputs(layer, [np.asarray(v) for v in values[:len(ins)]], [np.asarray(v) for v in values[len(ins):]],
                       rounding)


def run_alone(page: BackendPage, model_id: int, given: LayerInputs, tolerance: Tolerance,
              record: bool) -> AloneResult:
    """``given.layer`` alone on ``page``'s backend, on Keras' inputs, against Keras' outputs (``tolerance`` widened per
    channel by the layer's own rounding, as the diagnosis judged it); ``record``: keep the kernels it ran."""
    ran = page.call(PageOperation.LAYER_ALONE, model_id, base_layer(given.layer),
                    [encode_tensor(x) for x in given.inputs], record)
    outputs = [decode_tensor(o) for o in ran["outputs"]]
    index = int(given.layer.split("[", 1)[1].rstrip("]")) if "[" in given.layer else 0
    actual, expected = outputs[index], given.outputs[index]
    judged_by = tolerance if given.rounding is None else layer_tolerance(tolerance, page.backend, given.rounding)
    return AloneResult(page.backend, compare_within(actual, expected.astype(actual.dtype, copy=False), judged_by),
                       ran["kernels"])
