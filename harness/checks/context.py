"""What every check receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Iterable
from typing import Protocol

from harness.browser.page import BackendPage
from harness.reference.directory import ReferenceModel
from harness.results import CheckResult
from harness.browser.server import ParityServer
from harness.verdict.agreement import DEFAULT_MIN_TOP1


@dataclass(frozen=True)
class CheckOptions:
    """What a run asks of every check beyond its model and backend (``--min-top1``, ``--bench-batch``)."""

    # The least top-1 agreement with Keras per variant (``verdict.agreement``).
    min_top1: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_TOP1))
    bench_batch: int | None = None  # the batch ``speed`` times calls at (None: the reference's)


@dataclass(frozen=True)
class CheckContext:
    """A check's inputs: the page with its backend active, the reference, where the page finds it, and
    the server (for checks that save models through it)."""

    check: str
    backend: str
    page: BackendPage
    reference: ReferenceModel
    model_url: str
    server: ParityServer | None = None
    options: CheckOptions = field(default_factory=CheckOptions)

    def result(self, **fields: object) -> CheckResult:
        """A ``CheckResult`` for this model, backend and check (saying so when its reference is weak)."""
        result = CheckResult(model=self.reference.name, backend=self.backend, check=self.check,
                             **fields)  # type: ignore[arg-type]
        if self.reference.weak_reference:
            result.details["weak_reference"] = list(self.reference.weak_reference)
        return result


class CheckFunction(Protocol):
    def __call__(self, context: CheckContext) -> CheckResult: ...


def check_family(family: str, values: Iterable[str],
                 check: Callable[[CheckContext, str], CheckResult]) -> dict[str, CheckFunction]:
    """``{"family[value]": check with that value}`` for each value, e.g. ``save-load[http]``."""
    def bound(value: str) -> CheckFunction:
        def run(context: CheckContext) -> CheckResult:
            return check(context, value)

        return run

    return {f"{family}[{value}]": bound(value) for value in values}
