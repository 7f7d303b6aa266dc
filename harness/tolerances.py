"""Every tolerance the harness judges by, in one place, each with the reason for its value.

Rule (numpy's, asymmetric): ``|browser - keras| <= atol + rtol * |keras|``.
The README's tolerance table is checked against this module by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Tolerance:
    """An absolute and a relative tolerance, and why they have these values."""

    atol: float
    rtol: float
    reason: str


# Measured on the zoo (make report, Chromium 156, tfjs 4.22, SwiftShader WebGL): the largest
# |browser - keras| was about 1e-7 on cpu and wasm and about 4e-7 on webgl. Each tolerance is
# that error times a stated margin, so a real regression (a 1e-3 change in one weight moves an
# output by ~1e-4) fails by orders of magnitude.
PREDICT_TOLERANCES: dict[str, Tolerance] = {
    "cpu": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="float32 JS kernels; observed max abs error ~1e-7; margin 20x for deeper/recurrent models",
    ),
    "wasm": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="float32 XNNPACK kernels (SIMD, threaded); observed ~1e-7; same margin as cpu",
    ),
    "webgl": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 render targets on SwiftShader; observed ~4e-7; GPU drivers reorder sums "
               "and use fused multiply-add, so margin 25x",
    ),
    "webgpu": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 compute shaders; same precision class as webgl",
    ),
}


@dataclass(frozen=True)
class TrainingTolerance:
    """Training compounds error, so it has its own tolerances.

    ``history`` judges each epoch's loss and metrics (and evaluate results, per-step Core API
    losses, predictions after training); ``weights`` judges each final weight variable.
    """

    history: Tolerance
    weights: Tolerance


TRAINING_TOLERANCES: dict[str, TrainingTolerance] = {
    "cpu": TrainingTolerance(
        history=Tolerance(atol=1e-5, rtol=1e-5, reason="provisional"),
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="provisional"),
    ),
    "wasm": TrainingTolerance(
        history=Tolerance(atol=1e-5, rtol=1e-5, reason="provisional"),
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="provisional"),
    ),
    "webgl": TrainingTolerance(
        history=Tolerance(atol=1e-5, rtol=1e-5, reason="provisional"),
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="provisional"),
    ),
    "webgpu": TrainingTolerance(
        history=Tolerance(atol=1e-5, rtol=1e-5, reason="provisional"),
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="provisional"),
    ),
}


# The backends of the default run (`make report`, `pytest` without --backends).
DEFAULT_BACKENDS: tuple[str, ...] = ("cpu", "webgl", "wasm")


class UnknownBackendError(KeyError):
    """No tolerance is defined for a backend id."""


def _lookup(table: dict[str, T], backend: str, kind: str) -> T:
    for key in (backend, backend.split(":", 1)[0]):
        if key in table:
            return table[key]
    raise UnknownBackendError(f"no {kind} tolerance for backend '{backend}' (known: {', '.join(sorted(table))})")


def predict_tolerance(backend: str) -> Tolerance:
    """The predict tolerance for a backend id such as ``webgl`` (a variant falls back to its base)."""
    return _lookup(PREDICT_TOLERANCES, backend, "predict")


def training_tolerance(backend: str) -> TrainingTolerance:
    """The training tolerances for a backend id (a variant falls back to its base)."""
    return _lookup(TRAINING_TOLERANCES, backend, "training")
