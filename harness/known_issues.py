"""Known upstream bugs the harness recognises by their signature, so a report says what they are.

A check whose every failure matches a known issue's signature gets status ``xfail`` with the
issue's explanation; anything else that fails stays ``fail``. When upstream fixes the bug, the
signature stops matching and the check simply passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownIssue:
    """An upstream bug: what it does, and where it is tracked."""

    key: str
    summary: str
    upstream: str

    def describe(self) -> str:
        return f"known upstream bug {self.key} ({self.upstream}):\n{self.summary}"


TFJS_MULTI_OUTPUT_EVALUATION = KnownIssue(
    key="tfjs-multi-output-evaluation",
    summary="tfjs-layers' test function pushes the running total loss once per output, so for a model "
            "with several outputs evaluate() and the val_* history are shifted by one name: 'loss' holds "
            "the first output's loss and '<first output>_loss' holds the total",
    upstream="tfjs-layers makeTestFunction; same root cause as https://github.com/tensorflow/tfjs/issues/5941",
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
