"""The hops of a model's route that run in Python (PyTorch -> onnxruntime -> TensorFlow, see
``reference.onnx_build``), each judged: the outputs after the hop against those before it, within the Python-hop
tolerance widened by the model's own float32 rounding error. ``preflight`` reports them in order and fails at the
first out of tolerance, so a user sees where the numbers drifted before the browser, unless the drift does not
reach the browser's model: onnxruntime only witnesses the ONNX file, and where it computes another thing than
PyTorch while TensorFlow's outputs hold PyTorch's (onnxruntime's AveragePool with ceil_mode), the drift is
onnxruntime's own."""

from __future__ import annotations

from typing import Any

from harness.reference.directory import ReferenceModel
from harness.verdict.compare import compare_within
from harness.verdict.tolerances import python_hop_tolerance


def judge_hops(reference: ReferenceModel) -> list[dict[str, Any]]:
    """Each hop of ``reference.route``: its name, tolerance, largest error, error / tolerance, and whether it holds."""
    tolerance = python_hop_tolerance(reference.float32_rounding)
    judged = []
    for index, hop in enumerate(reference.route.get("hops", [])):
        after, before = reference.hop_outputs(index)
        found = [compare_within(a, b, tolerance) for a, b in zip(after, before)]
        judged.append({"hop": hop["hop"], "atol": tolerance.atol, "rtol": tolerance.rtol,
                       "max_abs_err": max(c.max_abs_err or 0.0 for c in found),
                       "tolerance_ratio": max(c.badness for c in found), "ok": all(c.ok for c in found)})
    return judged


def reaches_the_browser(reference: ReferenceModel) -> bool:
    """Whether the last Python hop's outputs (TensorFlow's, which the browser's graph model is made from) are out
    of the Python-hop tolerance of the reference outputs."""
    hops = reference.route.get("hops", [])
    if not hops:
        return False
    tolerance = python_hop_tolerance(reference.float32_rounding)
    after, _ = reference.hop_outputs(len(hops) - 1)
    return not all(compare_within(a, e, tolerance).ok for a, e in zip(after, reference.load_outputs()))
