"""The ``speed`` check: what a model costs on a backend as an app meets it (``web/timings.js``): load time, WebGL's
shader compilation, the first call, the median and 90th-percentile latency of later calls at the batch the app uses
(``--bench-batch``; the reference's by default), and the most memory a call takes. A measurement: the row passes
unless tfjs cannot run the model. ``report.speed_table`` compares the backends per model.

Latency is the wall time of ``predict`` until its outputs' values are read (on WebGL and WebGPU the work ends
there). WebGL and WebGPU on a machine without a GPU run on SwiftShader, a software renderer: such rows say
``software_gpu`` and their figures are not GPU figures.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from harness.browser.page import PageOperation
from harness.checks.context import CheckContext
from harness.checks.page_model import page_model_job
from harness.results import CheckResult

SPEED_CALLS = 20  # later calls at most...
SPEED_BUDGET_MS = 3000  # ...while they take this long together (at least 5: ``web/timings.js``)
SOFTWARE_RENDERERS = re.compile(r"swiftshader|llvmpipe|softpipe|software", re.IGNORECASE)


def bench_inputs(inputs: list[np.ndarray], batch: int | None) -> list[np.ndarray]:
    """``inputs`` with ``batch`` samples: the reference's samples repeated in order (the reference's own batch when
    ``batch`` is None)."""
    if batch is None:
        return inputs
    return [np.resize(x, (batch, *x.shape[1:])).astype(x.dtype) for x in inputs]


def check_speed(context: CheckContext) -> CheckResult:
    """Time the model on the page's backend; the row's details hold the figures."""
    inputs = bench_inputs(context.reference.load_inputs(), context.options.bench_batch)
    job = {**page_model_job(context, inputs), "calls": SPEED_CALLS, "budgetMs": SPEED_BUDGET_MS}
    ran = context.page.call(PageOperation.SPEED, job)
    later = np.asarray(ran["laterMs"], dtype=np.float64)
    details: dict[str, Any] = {
        "batch": int(inputs[0].shape[0]),
        "load_ms": ran["loadMs"],
        "warm_up_ms": ran["firstMs"],  # the first call of this load (shaders new only for a batch predict did not run)
        "median_ms": float(np.median(later)),
        "p90_ms": float(np.percentile(later, 90)),
        "calls": len(later),
        "peak_bytes": ran["peakBytes"],
        "renderer": ran["renderer"],
        "software_gpu": bool(ran["renderer"] and SOFTWARE_RENDERERS.search(ran["renderer"])),
    }
    return context.result(status="pass", details=details)
