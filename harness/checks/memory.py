"""The ``memory`` check: a model gives back every tensor and byte it takes. The page (``web/memory_stages.js``) reads
``tf.memory()`` before loading the model, around each stage of its life (repeated ``predict`` calls after a warm-up,
``executeAsync`` calls for a graph model, one epoch of ``fit`` for a model that trains, a save and load through
memory) and after ``dispose()``. Each stage must end where it began, and ``dispose()`` where loading began: tfjs' own
end-to-end tests hold the tensor count to the same rule. A leak of one tensor per call is what kills a tab after
hours of inference, and on WebGL it holds a texture each time.
"""

from __future__ import annotations

import math
from typing import Any

from harness.browser.page import PageOperation
from harness.checks.context import CheckContext
from harness.checks.page_model import page_model_job
from harness.checks.training import encoded_job, training_job
from harness.results import CheckResult
from harness.verdict.known_issues import TFJS_MOMENTUM_OPTIMIZER_DISPOSE, failed_with

MEMORY_CALLS = 10  # calls after warm-up: enough to tell growth per call from a one-off allocation
MEMORY_BUDGET_MS = 2000  # ...while they take this long together (at least 3: ``web/memory_stages.js``)
# What each of tf.memory()'s counts is called in messages (numBytesInGPU: WebGL's textures only).
COUNTERS = {"numTensors": "tensors", "numDataBuffers": "data buffers", "numBytes": "bytes",
            "numBytesInGPU": "GPU bytes"}
REPEATED_STAGES = ("predict", "executeAsync")


def memory_job(context: CheckContext) -> dict[str, Any]:
    """What the page runs: the model, its reference inputs, and one epoch of its ``fit`` run if it trains."""
    reference = context.reference
    job = {**page_model_job(context, reference.load_inputs()), "calls": MEMORY_CALLS, "budgetMs": MEMORY_BUDGET_MS,
           "training": None}
    if not reference.is_graph_model and reference.has_training("fit"):
        training = training_job(reference.training(), context.model_url, "fit")
        job["training"] = encoded_job({**training, "epochs": 1})
    return job


def check_memory(context: CheckContext) -> CheckResult:
    """Every stage ends with the counts it began with, and ``dispose()`` with those before loading. What a stage
    that threw left behind (tfjs does not free what a throwing call held) is said, and not counted again against
    ``dispose()``: the row of that stage's own check reports the throw."""
    job = memory_job(context)
    ran = context.page.call(PageOperation.MEMORY, job)
    stages = [_stage(stage, job) for stage in ran["stages"]]
    left_by_throws = {name: sum(s["growth"].get(name, 0) for s in stages if s.get("error")) for name in COUNTERS}
    after_dispose = _growth(ran["baseline"], ran["disposed"])
    unexplained = {name: value - left_by_throws[name] for name, value in after_dispose.items()}
    problems = [stage["problem"] for stage in stages if stage.get("problem")]
    if any(value > 0 for value in unexplained.values()):
        problems.append(f"after dispose(): {_amounts(unexplained)} more than before the model was loaded")
    notes = [stage["note"] for stage in stages if stage.get("note")]
    title = f"{context.reference.name} / memory on {context.backend}"
    details = {"baseline": ran["baseline"], "stages": stages, "after_dispose": after_dispose,
               "left_by_throws": {name: value for name, value in left_by_throws.items() if name in after_dispose}}
    if not problems:
        return context.result(status="pass", message="\n".join(notes), details=details)
    result = context.result(status="fail", message="\n".join([f"{title}: tf.memory() grew", *problems, *notes]),
                            details=details)
    if _momentum_scalar_only(stages, job, unexplained):
        return failed_with(result, TFJS_MOMENTUM_OPTIMIZER_DISPOSE,
                           "the fit stage's momentum optimizer left its learning-rate scalar, and nothing else grew")
    return result


def _momentum_scalar_only(stages: list[dict[str, Any]], job: dict[str, Any], unexplained: dict[str, float]) -> bool:
    """Whether everything that grew is one float32 scalar left by the fit stage's momentum optimizer
    (``TFJS_MOMENTUM_OPTIMIZER_DISPOSE``)."""
    training = job.get("training") or {}
    if training.get("compile", {}).get("optimizer", {}).get("name") != "momentum":
        return False
    scalar = {"numTensors": 1, "numDataBuffers": 1, "numBytes": 4}
    grew = [s for s in stages if s.get("problem")]
    return ([s["name"] for s in grew] == ["fit"]
            and all(grew[0]["growth"].get(name) == value for name, value in scalar.items())
            and all(unexplained.get(name) == value for name, value in scalar.items()))


def _stage(stage: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """One stage's growth, with the problem it shows (if any) in words."""
    before, after = stage["before"], stage["after"]
    growth = _growth(before, after[-1])
    summary: dict[str, Any] = {"name": stage["name"], "calls": len(after), "growth": growth}
    grew = {name: value for name, value in growth.items() if value > 0}
    if stage.get("error"):
        summary["error"] = stage["error"]
        left = f"; what it held until then is still held ({_amounts(grew)})" if grew else ""
        summary["note"] = (f"{stage['name']}: not measured, tfjs threw: {stage['error']}{left} (the "
                           f"{stage['name']} row reports the throw)")
        return summary
    if stage["name"] in REPEATED_STAGES:
        steps = [_growth(a, b) for a, b in zip([before, *after], after)]
        largest = max(steps, key=lambda step: step.get("numTensors", 0)) if steps else {}
        summary["per_call"] = {name: value / len(after) for name, value in growth.items()}
        summary["largest_step"] = largest
        if grew:
            summary["problem"] = (f"{stage['name']}: {_amounts(summary['per_call'], grew)} per call over "
                                  f"{len(after)} calls after a warm-up call (largest step: {_amounts(largest)})")
    elif grew:
        summary["problem"] = f"{stage['name']}: {_amounts(grew)} left once it ended{_per_batch(stage, job, grew)}"
    return summary


def _per_batch(stage: dict[str, Any], job: dict[str, Any], grew: dict[str, float]) -> str:
    """For the fit stage: its epoch's batches, and what it left per batch when that is at least one tensor."""
    training = job.get("training")
    if stage["name"] != "fit" or not training:
        return ""
    batches = math.ceil(training["x"][0]["shape"][0] / training["batchSize"])
    epoch = f"one epoch of {batches} batches, its model and optimizer disposed"
    if grew.get("numTensors", 0) < batches:
        return f" ({epoch})"
    return f" ({epoch}: {_amounts({name: value / batches for name, value in grew.items()})} per batch)"


def _growth(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in COUNTERS if name in before and name in after}


def _amounts(growth: dict[str, float], only: dict[str, float] | None = None) -> str:
    """``+1 tensors, +1 data buffers, +160 bytes`` (the counters in ``only`` if given)."""
    names = only if only is not None else growth
    return ", ".join(f"{growth[name]:+g} {COUNTERS[name]}" for name in COUNTERS if name in names) or "nothing"
