"""Known upstream bugs the harness recognises by their signature, so a report says what they are.

A check whose every failure matches a known issue's signature gets status ``xfail`` with the
issue's explanation; anything else that fails stays ``fail``. When upstream fixes the bug, the
signature stops matching and the check simply passes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownIssue:
    """An upstream bug (or a difference by design): what it does, and where it is tracked."""

    key: str
    summary: str
    upstream: str
    kind: str = "upstream bug"

    def describe(self) -> str:
        return f"known {self.kind} {self.key} ({self.upstream}):\n{self.summary}"


TFJS_MULTI_OUTPUT_EVALUATION = KnownIssue(
    key="tfjs-multi-output-evaluation",
    summary="tfjs-layers' test function pushes the running total loss once per output, so for a model "
            "with several outputs evaluate() and the val_* history are shifted by one name: 'loss' holds "
            "the first output's loss and '<first output>_loss' holds the total",
    upstream="tfjs-layers makeTestFunction; same root cause as https://github.com/tensorflow/tfjs/issues/5941",
)


FROZEN_BATCH_NORMALIZATION = KnownIssue(
    key="tfjs-frozen-batch-normalization",
    summary="tfjs' BatchNormalization normalises with the batch's statistics (and updates its moving statistics) "
            "whenever the model trains, frozen (trainable: false) or not; Keras 2 runs a frozen one in inference "
            "mode. The browser's training matched Keras' run with those layers normalising by batch statistics "
            "instead. Workaround: compute the frozen part's outputs in inference mode and train only the layers "
            "after it (as the fine-tune-worker check does), or unfreeze the BatchNormalization layers",
    upstream="tfjs-layers BatchNormalization.call has no equivalent of Keras' trainable=False inference override",
    kind="difference by design",
)


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def shows_multi_output_evaluation_bug(browser: dict[str, float], keras: dict[str, float],
                                      outputs: list[str], prefix: str = "") -> bool:
    """Whether browser values show ``TFJS_MULTI_OUTPUT_EVALUATION``: 'loss' is Keras' first output's loss
    and the first output's name holds the first two outputs' sum (``prefix`` is ``"val_"`` for histories)."""
    if len(outputs) < 2:
        return False
    first, second = (keras.get(f"{prefix}{name}_loss") for name in outputs[:2])
    if first is None or second is None:
        return False
    return (_close(browser.get(f"{prefix}loss"), first) and not _close(keras.get(f"{prefix}loss"), first)
            and _close(browser.get(f"{prefix}{outputs[0]}_loss"), first + second))


# What tfjs cannot run on a backend, recognised in its error message: such a check is a ``skip``
# that names the limitation, not an ``error``.
UNSUPPORTED_HERE = (
    (re.compile(r"Kernel '(\w+)' not registered for backend '(\w+)'"),
     "backend '{2}' has no '{1}' kernel"),
    # tfjs-backend-wasm's fused MatMul takes a 1-D bias only (tensorflow/tfjs#2788); the graph
    # converter fuses the LSTM's broadcast bias into it.
    (re.compile(r"(_FusedMatMul) only supports rank-1 bias but got rank (\d+)"),
     "the backend's '{1}' kernel takes only a rank-1 bias, and the converted graph gives it rank {2}"),
    # WebKitGTK 2.50 has OffscreenCanvas in workers but gives it no WebGL context (getContext('webgl2') and
    # ('webgl') return null there), so tfjs' webgl backend cannot start in a Web Worker.
    (re.compile(r"in the worker: Error: tf\.setBackend\('(webgl)'\) failed: backend could not be initialised"),
     "this browser gives a Web Worker no WebGL context (OffscreenCanvas getContext('webgl2') is null there), so "
     "tfjs' '{1}' backend cannot start in the worker"),
    # Every input is fed ("Consider providing the following inputs: []"), yet the graph executor
    # cannot reach the outputs: it does not follow a GRU's converted while loop (tensorflow/tfjs#4350).
    (re.compile(r"Cannot compute the outputs \[[^\]]*\] from the provided inputs \[[^\]]*\]\. "
                r"Consider providing the following inputs: \[\]"),
     "tfjs' graph executor cannot run this model's control flow (a recurrent layer's while loop) although every "
     "input is fed (tensorflow/tfjs#4350)"),
)


def unsupported_here(message: str) -> str | None:
    """Why tfjs cannot run this here, if ``message`` is one of its known can't-run errors."""
    for pattern, reason in UNSUPPORTED_HERE:
        found = pattern.search(message)
        if found:
            return reason.format(*[found.group(0), *found.groups()])
    return None
