"""Regressions and improvements of a run against an earlier report (its ``parity.json``, the baseline).

Rows are matched by model, backend and check. A regression is one of:
- a check that passed in the baseline and now fails or errors;
- a max abs error that grew by more than ``error_factor`` and is now above ``error_floor``
  (errors below the floor are float32 noise: a change there means nothing);
- an in-browser median latency (``details.median_ms``) that grew by more than ``latency_percent``
  and by more than ``latency_floor_ms`` (a 0.2 ms predict doubling is timer noise).
The same rules the other way round are improvements. Rows only in one of the two reports are listed
as added or gone, not judged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.results import CheckResult

FAILED = ("fail", "error")


@dataclass(frozen=True)
class RegressionRules:
    """When a change counts. ``error_floor``: 1e-6 is ten times the ~1e-7 float32 noise of the zoo's
    predictions; ``latency_percent`` and ``latency_floor_ms``: on a shared 2-core machine the median of
    four predict calls of a small model moved from 5.5 to 9.8 ms (+76%) between two identical runs, so
    only a doubling by more than 5 ms counts."""

    error_factor: float = 2.0
    error_floor: float = 1e-6
    latency_percent: float = 100.0
    latency_floor_ms: float = 5.0


@dataclass(frozen=True)
class Change:
    """One regression or improvement: which row, what changed, and the values before and after."""

    model: str
    backend: str
    check: str
    kind: str  # "status", "error" or "latency"
    before: Any
    after: Any
    summary: str


class BaselineError(UsageError):
    """The baseline file is not a parity report."""


def load_baseline(path: Path) -> list[dict[str, Any]]:
    """The result rows of the report at ``path``; ``BaselineError`` names the file if it is not one."""
    try:
        rows = json.loads(path.read_text())["results"]
        return [row for row in rows if {"model", "backend", "check", "status"} <= row.keys()]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BaselineError(f"baseline {path} is not a parity.json report: {error}") from None


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["model"], row["backend"], row["check"]


def _status_change(before: dict[str, Any], after: dict[str, Any]) -> tuple[bool, Change] | None:
    b, a = before["status"], after["status"]
    if b == "pass" and a in FAILED:
        return True, Change(*_key(after), "status", b, a, f"{b} -> {a}")
    if b in FAILED and a == "pass":
        return False, Change(*_key(after), "status", b, a, f"{b} -> {a}")
    return None


def _grew(before: float | None, after: float | None, factor: float, floor: float) -> bool:
    return before is not None and after is not None and after > floor and after > factor * before


def _error_change(before: dict[str, Any], after: dict[str, Any], rules: RegressionRules) -> tuple[bool, Change] | None:
    b, a = before.get("max_abs_err"), after.get("max_abs_err")
    if before["status"] == "xfail" or after["status"] == "xfail":
        return None  # a known upstream bug's figure is the bug's, not the backend's
    for regressed, (small, large) in ((True, (b, a)), (False, (a, b))):
        if _grew(small, large, rules.error_factor, rules.error_floor):
            ratio = f"{large / small:.3g}x" if small else "from 0"
            return regressed, Change(*_key(after), "error", b, a,
                                     f"max abs error {b:.3g} -> {a:.3g} ({ratio}, limit {rules.error_factor:g}x)")
    return None


def _latency_change(before: dict[str, Any], after: dict[str, Any],
                    rules: RegressionRules) -> tuple[bool, Change] | None:
    b = (before.get("details") or {}).get("median_ms")
    a = (after.get("details") or {}).get("median_ms")
    if not a or not b:
        return None
    factor = 1 + rules.latency_percent / 100
    for regressed, (small, large) in ((True, (b, a)), (False, (a, b))):
        if large > factor * small and large - small > rules.latency_floor_ms:
            change = 100 * (a - b) / b
            return regressed, Change(*_key(after), "latency", b, a,
                                     f"median latency {b:.1f} -> {a:.1f} ms ({change:+.0f}%, limit "
                                     f"+{rules.latency_percent:g}%)")
    return None


def compare_with_baseline(baseline: list[dict[str, Any]], results: list[CheckResult],
                          rules: RegressionRules) -> dict[str, Any]:
    """The report's ``baseline`` block: regressions, improvements, and rows added or gone."""
    before = {_key(row): row for row in baseline}
    after = {_key(row): row for row in (r.to_dict() for r in results)}
    regressions: list[Change] = []
    improvements: list[Change] = []
    for key, now in after.items():
        if key not in before:
            continue
        for found in (_status_change(before[key], now), _error_change(before[key], now, rules),
                      _latency_change(before[key], now, rules)):
            if found:
                (regressions if found[0] else improvements).append(found[1])
    return {
        "rules": asdict(rules),
        "regressions": [asdict(c) for c in regressions],
        "improvements": [asdict(c) for c in improvements],
        "added": [list(k) for k in after if k not in before],
        "gone": [list(k) for k in before if k not in after],
    }
