"""``run --repeat N``: the selection run N times in one invocation, and what changed between the runs: rows whose
status changed (a flaky check), rows whose largest error changed, and per backend the largest spread of a row's
error over the repeats. The report keeps the first run's rows; this is its ``repeats`` block."""

from __future__ import annotations

from typing import Any

from harness.results import CheckResult

Key = tuple[str, str, str]


def _key(row: CheckResult) -> Key:
    return row.model, row.backend, row.check


class Repeats:
    """The rows of runs 2..N (``add``, called under the run's row lock), summarised against the first run's."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._rows: dict[Key, list[CheckResult]] = {}

    def add(self, row: CheckResult) -> None:
        self._rows.setdefault(_key(row), []).append(row)

    def summary(self, first: list[CheckResult]) -> dict[str, Any]:
        """``{"count", "runs_measured", "status_changed": [...], "error_changed": [...], "largest_spread": {backend:
        {"spread", "model", "check"}}}``; each changed row lists its statuses and errors in run order."""
        status_changed, error_changed = [], []
        spread: dict[str, dict[str, Any]] = {}
        for row in first:
            runs = [row, *self._rows.get(_key(row), [])]
            errors = [r.max_abs_err for r in runs if r.max_abs_err is not None]
            width = max(errors) - min(errors) if errors else 0.0
            widest = spread.setdefault(row.backend, {"spread": 0.0, "model": None, "check": None})
            if errors and (widest["model"] is None or width > widest["spread"]):
                widest.update(spread=width, model=row.model, check=row.check)
            entry = {"model": row.model, "backend": row.backend, "check": row.check,
                     "statuses": [r.status for r in runs], "max_abs_err": [r.max_abs_err for r in runs]}
            if len(set(entry["statuses"])) > 1:
                status_changed.append(entry)
            elif width > 0:
                error_changed.append(entry)
        runs_measured = 1 + min((len(v) for v in self._rows.values()), default=0) if self._rows else 1
        return {"count": self.count, "runs_measured": runs_measured, "status_changed": status_changed,
                "error_changed": error_changed, "largest_spread": spread}
