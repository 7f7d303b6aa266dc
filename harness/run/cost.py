"""What a model costs on each backend, and what follows from it: the estimate a run prints before its checks, and the
time each check is given before it is stopped.

One call of a model on its reference inputs is the unit (``checks.cost`` counts each check's calls). Before a backend
has run the model, a call is guessed from what a sample cost Keras at build (``ReferenceModel.keras_sample_ms``) times
the backend's usual slowdown, plus its fixed cost per call (both in the backend's record, ``TfjsBackend``); once
``predict`` has run on that backend, its measured median call replaces the guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.browser.backends import TFJS_BACKENDS, backend_variant
from harness.checks import CHECKS
from harness.checks.cost import check_calls
from harness.reference.directory import ReferenceModel
from harness.results import CheckResult

# What a check costs besides its model calls (page calls, transfers, loading and comparing): the zoo's small models'
# checks took 0.3-3 s (the mlp's 20 on cpu 29 s); and per MiB of float32 weights (each load fetches, decodes and
# uploads them, a save writes them): ResNet50's (90 MiB) topology took 1.4-3.7 s, a save-load 3-6 s past its calls.
CHECK_OVERHEAD_S = 1.5
OVERHEAD_S_PER_WEIGHT_MIB = 0.04
# A check may run this long past its estimate before it is stopped (the time limit of each page call): the machines'
# speed varies 2-3x, and a first call on WebGL also compiles its shaders.
LIMIT_MARGIN = 3.0


@dataclass(frozen=True)
class TimeLimit:
    """How long each page call of a check may take, and why."""

    seconds: float
    reason: str


class ModelCosts:
    """The cost of one call of each (model, backend), guessed from Keras until that backend's ``predict`` row
    measured it, and of its training (in the same unit), as the call's until a training row measured it (``learn``).
    """

    def __init__(self) -> None:
        self._call: dict[tuple[str, str], float] = {}
        self._training: dict[tuple[str, str], float] = {}

    def learn(self, row: CheckResult, reference: ReferenceModel) -> None:
        """Keep what a finished row measured: ``predict``'s median call (its later calls: warm, shaders compiled); a
        training check's seconds past its plain calls and overhead, per unit of training (the largest seen)."""
        key = (row.model, row.backend)
        if row.check == "predict":
            call_ms = row.details.get("median_ms") or row.details.get("first_ms")
            if isinstance(call_ms, (int, float)) and call_ms > 0:
                self._call[key] = call_ms / 1000
            return
        record = CHECKS.get(row.check)
        if record is None or record.training is None or row.status not in ("pass", "fail") or not row.seconds:
            return
        call = (self.call_s(reference, row.backend) or (0.0, False))[0]
        calls = check_calls(row.check, reference, call)
        if calls.training:
            spent = row.seconds - self._overhead_s(reference) - calls.forward * call
            self._training[key] = max(self._training.get(key, 0.0), spent / calls.training)

    def call_s(self, reference: ReferenceModel, backend: str) -> tuple[float, bool] | None:
        """One call's seconds on ``backend`` and whether the backend measured it; None when nothing tells."""
        measured = self._call.get((reference.name, backend))
        if measured is not None:
            return measured, True
        if reference.keras_sample_ms is None or not reference.inputs:
            return None
        tfjs = TFJS_BACKENDS[backend_variant(backend).tfjs_backend]
        return (tfjs.call_ms + tfjs.slowdown * reference.keras_sample_ms * reference.batch) / 1000, False

    def check_s(self, check: str, reference: ReferenceModel, backend: str, trained_kept: bool = False) -> float | None:
        """About how long ``check`` takes on ``backend`` (``trained_kept``: see ``check_calls``); None when the call's
        cost is unknown."""
        call = self.call_s(reference, backend)
        if call is None:
            return None
        calls = check_calls(check, reference, call[0], trained_kept)
        training = max(self._training.get((reference.name, backend), 0.0), call[0])
        return self._overhead_s(reference) + calls.forward * call[0] + calls.training * training

    def time_limit(self, check: str, reference: ReferenceModel, backend: str, timeout_s: float) -> TimeLimit:
        """``timeout_s`` (``--timeout``), or ``LIMIT_MARGIN`` times the check's estimate where that is longer (a storage
        check's counting the training of its trained model: the kept one may be gone with a discarded page)."""
        estimate = self.check_s(check, reference, backend)
        if estimate is None or LIMIT_MARGIN * estimate <= timeout_s:
            return TimeLimit(timeout_s, f"--timeout {timeout_s:g} s")
        call, measured = self.call_s(reference, backend) or (0.0, False)
        source = "measured by predict" if measured else "guessed from Keras' call"
        trained = self._training.get((reference.name, backend))
        training = f", training at {trained:.3g} s per call's worth (measured)" if trained else ""
        return TimeLimit(round(LIMIT_MARGIN * estimate),
                         f"{LIMIT_MARGIN:g} x its estimate of {estimate:.0f} s, at {call:.3g} s per call of the "
                         f"model ({source}){training}; more than --timeout {timeout_s:g} s")

    def estimate(self, work: Iterable[tuple[ReferenceModel, str, Sequence[str]]]) -> dict[str, dict[str, float | None]]:
        """Seconds per model and backend for ``work`` ((reference, backend, checks) groups); None where unknown."""
        seconds: dict[str, dict[str, float | None]] = {}
        for reference, backend, checks in work:
            kept = "fit-worker" in checks  # its trained model is kept for the storage checks
            each = [self.check_s(check, reference, backend, kept) for check in checks]
            known = [s for s in each if s is not None]
            seconds.setdefault(reference.name, {})[backend] = round(sum(known), 1) if len(known) == len(each) \
                else None
        return seconds

    @staticmethod
    def _overhead_s(reference: ReferenceModel) -> float:
        """What a check costs besides its model's calls."""
        return CHECK_OVERHEAD_S + reference.param_count * 4 / 2**20 * OVERHEAD_S_PER_WEIGHT_MIB


def estimate_lines(estimate: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    """``resnet50: about 24 min (cpu 21 min, webgl 2 min, wasm 1 min)`` per model, slowest backend first."""
    lines = []
    for model, backends in estimate.items():
        known = sorted(((s, b) for b, s in backends.items() if s is not None), reverse=True)
        unknown = [b for b, s in backends.items() if s is None]
        parts = [f"{b} {_duration(s)}" for s, b in known] + [f"{b} unknown until its predict" for b in unknown]
        total = f"about {_duration(sum(s for s, _ in known))}" if known else "no estimate"
        lines.append(f"{model}: {total} ({', '.join(parts)})")
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
