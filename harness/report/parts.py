"""Partial reports from pytest-xdist workers: each writes ``DIR/.parts/<worker>.json``, and the
controller merges them into one report instead of the workers overwriting each other's."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.report.document import build_report
from harness.report.files import write_atomically, write_report
from harness.results import CheckResult

PARTS_DIR = ".parts"


def write_part(directory: Path, worker: str, environment: dict[str, Any], results: Iterable[CheckResult]) -> None:
    """A worker's partial report, merged later by ``merge_parts``."""
    write_atomically(directory / PARTS_DIR / f"{worker}.json", json.dumps(build_report(environment, results)))


def merge_parts(directory: Path) -> Path | None:
    """Merge every worker's partial report into ``parity.json``/``parity.md``; None if there are none."""
    parts = sorted((directory / PARTS_DIR).glob("*.json"))
    if not parts:
        return None
    environment: dict[str, Any] = {}
    results: list[CheckResult] = []
    for part in parts:
        raw = json.loads(part.read_text())
        backends = {**environment.get("backends", {}), **raw["environment"].get("backends", {})}
        environment = {**environment, **raw["environment"], "backends": backends}
        results += [CheckResult.from_dict(r) for r in raw["results"]]
    path = write_report(directory, environment, results)
    for part in parts:
        part.unlink()
    return path
