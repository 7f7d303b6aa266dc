"""What a page measurement loads (``web/callable.js``): the reference's layers model, or for a graph model its graph
conversion with its input and output nodes; and the inputs it is called on."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.browser.tensors import encode_tensor
from harness.checks.context import CheckContext
from harness.checks.conversion import conversion_url


def page_model_job(context: CheckContext, inputs: list[np.ndarray]) -> dict[str, Any]:
    """``{modelUrl, graph, inputs}`` for ``context``'s model called on ``inputs``."""
    reference = context.reference
    job: dict[str, Any] = {"inputs": [encode_tensor(x) for x in inputs], "graph": None, "modelUrl": context.model_url}
    if reference.is_graph_model:
        entry = reference.conversion("graph")
        job["modelUrl"] = conversion_url(context, entry)
        job["graph"] = {"inputs": [spec["node"] for spec in entry["inputs"]],
                        "outputs": [spec["node"] for spec in entry["outputs"]]}
    return job
