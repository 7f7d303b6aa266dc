"""The op inside a layer that computes differently: each tfjs kernel the layer ran, alone, against TensorFlow.

The page recorded every kernel the layer ran alone on the failing backend, with its inputs and
outputs (``web/isolation.js``). Each is recomputed on the same inputs by its TensorFlow twin
(``tf_kernels``) and judged by the backend's predict tolerance widened per channel by the op's own
float32 rounding (TensorFlow float32 against float64), the rule inner layers follow. A kernel
without a twin is rerun alone on a reference backend's page (cpu, or wasm when cpu is the one
failing) and judged by the predict tolerance. The first kernel out of tolerance is the op to name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.browser.page import BrowserError, or_thrown
from harness.browser.tensors import decode_tensor
from harness.explain.tf_kernels import twin_outputs
from harness.reference.rounding import rounding_by_channel
from harness.verdict.compare import Comparison, compare_within, worst_ratio
from harness.verdict.tolerances import inner_output_tolerance, predict_tolerance

# Reruns a recorded kernel alone on a reference backend: (name, encoded inputs, attrs) -> encoded outputs.
KernelRunner = Callable[[str, list[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]]


@dataclass
class OpVerdict:
    """One recorded kernel against its reference: which, against what, and the comparison of its first output."""

    position: int
    kernel: str
    against: str
    comparison: Comparison
    shapes: list[list[int]]

    def summary(self) -> dict[str, Any]:
        """The report's entry."""
        return {"position": self.position, "kernel": self.kernel, "against": self.against, "ok": self.comparison.ok,
                "max_abs_err": self.comparison.max_abs_err, "ratio": worst_ratio([self.comparison]),
                "input_shapes": self.shapes, "problem": self.comparison.problem}


def judge_kernels(kernels: list[dict[str, Any]], backend: str, reference_backend: str,
                  rerun: KernelRunner) -> list[OpVerdict]:
    """Every float kernel of ``kernels`` (as the page recorded them on ``backend``) against its reference."""
    judged = (judge_kernel(position, kernel, backend, reference_backend, rerun)
              for position, kernel in enumerate(kernels))
    return [verdict for verdict in judged if verdict is not None]


def judge_kernel(position: int, kernel: dict[str, Any], backend: str, reference_backend: str,
                 rerun: KernelRunner) -> OpVerdict | None:
    """Recorded ``kernel`` (the ``position``-th) against its reference: TensorFlow's twin, or the kernel rerun on
    ``reference_backend``; None for a kernel whose first output is not float, or that neither can run."""
    actual = [decode_tensor(o) for o in kernel["outputs"]]
    if not actual or actual[0].dtype.kind != "f":
        return None
    inputs = {entry["key"]: decode_tensor(entry["tensor"]) for entry in kernel["inputs"]}
    twin = _twin(kernel["name"], inputs, kernel["attrs"])
    if twin is not None:
        expected, rounding = twin
        tolerance = (inner_output_tolerance(backend, rounding) if rounding is not None
                     else predict_tolerance(backend))
        against = "TensorFlow"
    else:
        rerun_outputs = or_thrown(rerun, kernel["name"], kernel["inputs"], kernel["attrs"])
        if isinstance(rerun_outputs, BrowserError):  # the reference backend cannot run it either: not judged
            return None
        expected = decode_tensor(rerun_outputs[0])
        tolerance, against = predict_tolerance(backend), f"tfjs' {reference_backend} kernel"
    comparison = compare_within(actual[0], expected.astype(actual[0].dtype, copy=False), tolerance)
    return OpVerdict(position, kernel["name"], against, comparison, [list(v.shape) for v in inputs.values()])


def _twin(name: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray,
                                                                                     np.ndarray | None] | None:
    """TensorFlow's first output of kernel ``name`` and its float32 rounding per channel; None without a twin (or
    when TensorFlow refuses the inputs as the twin passes them)."""
    try:
        outputs = twin_outputs(name, inputs, attrs)
    except Exception:  # noqa: BLE001 - a twin TensorFlow refuses is no twin: tfjs' other backend is the reference
        return None
    if outputs is None:
        return None
    single, double = outputs[0][0], outputs[1][0]
    rounding = rounding_by_channel(single, double) if single.ndim and single.dtype.kind == "f" else None
    return single, rounding


def first_op_out(verdicts: list[OpVerdict]) -> OpVerdict | None:
    """The first kernel out of tolerance, if any."""
    return next((verdict for verdict in verdicts if not verdict.comparison.ok), None)
