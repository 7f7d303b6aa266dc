"""Checks: each takes a ``CheckContext`` and returns a ``CheckResult``. ``CHECKS`` maps names to them."""

from __future__ import annotations

from harness.checks.base import CheckContext, CheckFunction
from harness.checks.inference import check_predict, check_topology

CHECKS: dict[str, CheckFunction] = {
    "topology": check_topology,
    "predict": check_predict,
}

__all__ = ["CHECKS", "CheckContext", "CheckFunction"]
