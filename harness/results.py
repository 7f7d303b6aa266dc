"""One row of a parity report: a model x backend x check outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# xfail: failed exactly as a known upstream bug does (see harness/known_issues.py).
# skip: the check cannot run here (for example, tfjs has no kernel for it on this backend).
Status = Literal["pass", "fail", "error", "xfail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "xfail", "skip")
PASSING_STATUSES: tuple[Status, ...] = ("pass", "xfail", "skip")


@dataclass
class CheckResult:
    """The outcome of one check. ``details`` holds check-specific figures (worst element, timings...)."""

    model: str
    backend: str
    check: str
    status: Status
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    atol: float | None = None
    rtol: float | None = None
    # The largest error / allowance (atol + rtol * |expected|) of the row's comparisons: 1 is at the limit.
    tolerance_ratio: float | None = None
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CheckResult:
        """Inverse of ``to_dict``."""
        return cls(**raw)
