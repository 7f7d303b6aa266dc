"""``browser-to-python``: models the browser saved (``downloads://`` and ``http://``) are loaded in
Python with ``tensorflowjs.converters.load_keras_model``. Keras must predict what the browser
predicted (within the backend's tolerance) and hold exactly the browser's weights; this covers
the converted model and one trained in a Web Worker. Files Keras has already loaded byte for byte
(the same model saved through both schemes, or on another backend) are not loaded again; the row's
details say where that happened."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from harness.browser.tensors import decode_named, decode_tensor
from harness.reference.artifacts import load_keras_model, model_files
from harness.reference.keras_model import keras_predict, keras_weights
from harness.checks.context import CheckContext
from harness.checks.saving import FILE_SCHEMES, SaveTamper, fingerprint, open_subjects, save_model
from harness.verdict.compare import Comparison, compare_exact, compare_within, format_failure, largest, worst_ratio
from harness.results import CheckResult
from harness.verdict.tolerances import model_predict_tolerance

# Browsers in parallel (``run --parallel``, several endpoints) run this check on threads of one process: Keras'
# side runs one at a time, since tf_keras' global state (layer naming, the default graph) is not made for threads.
KERAS_LOCK = threading.Lock()
# What Keras made of saved files, by the SHA-256 of their bytes and of the inputs: a model saved byte for byte the
# same (downloads:// and http:// of one subject; the converted model on every backend) is loaded in Keras once.
KerasSide = tuple[list[np.ndarray], dict[str, np.ndarray]]  # predictions, weights by tfjs name
_KERAS_SIDES: OrderedDict[str, KerasSide] = OrderedDict()
KERAS_SIDES_BYTES = 128 * 2**20  # the most kept at once: MobileNetV2's weights are 14 MiB
REUSED_NOTE = "the same bytes as files Keras loaded earlier in this run: their predictions and weights were reused"


def check_browser_to_python(context: CheckContext, tamper: SaveTamper | None = None) -> CheckResult:
    """Keras on the browser's saved files predicts what the browser predicts and has the browser's weights."""
    tolerance = model_predict_tolerance(context.backend, context.reference.float32_rounding)
    inputs = context.reference.load_inputs()
    problems: list[str] = []
    outputs: list[Comparison] = []
    details: dict[str, Any] = {}
    for subject in open_subjects(context):
        browser = fingerprint(context, subject.model_id, with_values=True)
        browser_outputs = [decode_tensor(o) for o in browser["outputs"]]
        browser_weights = decode_named(browser["weights"])
        for scheme in FILE_SCHEMES:
            saved = save_model(context, subject, scheme)
            if tamper is not None:
                tamper(context, saved)
            keras_outputs, weights, reused = keras_side(saved.model_json, inputs)
            title = (f"{context.reference.name} / {subject.label} model saved to {scheme}:// / Keras on "
                     f"{context.backend}")
            compared = [compare_within(b, k, tolerance) for b, k in zip(browser_outputs, keras_outputs)]
            outputs += compared
            problems += [format_failure(c, f"{title} / output {i}") for i, c in enumerate(compared) if not c.ok]
            problems += _weight_problems(browser_weights, weights, title)
            details[f"{subject.label}/{scheme}"] = {**subject.describe(), **_figures(compared),
                                                    **({"keras": REUSED_NOTE} if reused else {})}
    figures = _figures(outputs)
    return context.result(status="fail" if problems else "pass", message="\n\n".join(problems),
                          max_abs_err=figures["max_abs_err"], max_rel_err=figures["max_rel_err"],
                          atol=tolerance.atol, rtol=tolerance.rtol, tolerance_ratio=worst_ratio(outputs),
                          details=details)


def keras_side(model_json: Path, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray], bool]:
    """Keras' predictions on ``inputs`` and weights of the model saved at ``model_json`` (a tfjs model.json and its
    weight files), and whether they were reused: Keras loads the same bytes and inputs once."""
    with KERAS_LOCK:
        key = _digest(model_json, inputs)
        reused = key in _KERAS_SIDES
        if not reused:
            keras = load_keras_model(model_json)
            _KERAS_SIDES[key] = keras_predict(keras, inputs), keras_weights(keras)
            while len(_KERAS_SIDES) > 1 and sum(map(_size, _KERAS_SIDES.values())) > KERAS_SIDES_BYTES:
                _KERAS_SIDES.popitem(last=False)
        _KERAS_SIDES.move_to_end(key)
        return (*_KERAS_SIDES[key], reused)


def _size(side: KerasSide) -> int:
    return sum(a.nbytes for a in side[0]) + sum(a.nbytes for a in side[1].values())


def _digest(model_json: Path, inputs: list[np.ndarray]) -> str:
    """SHA-256 over model.json, its weight files (in manifest order) and the inputs' dtypes, shapes and bytes, each
    prefixed by its length."""
    digest = hashlib.sha256()
    for data in [*(path.read_bytes() for path in model_files(model_json)),
                 *(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes() for a in inputs)]:
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _weight_problems(browser: dict[str, np.ndarray], keras: dict[str, np.ndarray], title: str) -> list[str]:
    """Keras' weights must equal the browser's exactly, name by name."""
    if set(browser) != set(keras):
        return [f"{title}: weight names differ: only in the browser {sorted(set(browser) - set(keras))}, "
                f"only in Keras {sorted(set(keras) - set(browser))}"]
    problems = []
    for name, value in browser.items():
        comparison = compare_exact(keras[name], value)
        if not comparison.ok:
            problems.append(format_failure(comparison, f"{title} / weight {name} differs", ("KERAS", "BROWSER")))
    return problems


def _figures(comparisons: list[Comparison]) -> dict[str, float | None]:
    return {"max_abs_err": largest(c.max_abs_err for c in comparisons),
            "max_rel_err": largest(c.max_rel_err for c in comparisons)}
