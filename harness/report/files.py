"""Writing the report: ``parity.json`` (the source of truth), and ``parity.md`` and ``parity.html``
rendered from it, each written atomically (temp file + rename) so a crash never leaves half a report."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import SetupError
from harness.report.document import build_report
from harness.report.html import render_html
from harness.report.markdown import render_markdown
from harness.results import CheckResult

REPORT_JSON = "parity.json"
REPORT_MD = "parity.md"
REPORT_HTML = "parity.html"


class ReportWriteError(SetupError):
    """The report directory cannot be written (not a directory, read-only, full)."""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(directory: Path, environment: dict[str, Any], results: Iterable[CheckResult],
                 baseline: dict[str, Any] | None = None, blocks: dict[str, Any] | None = None) -> Path:
    """Write ``parity.json``, ``parity.md`` and ``parity.html`` into ``directory`` (``blocks``: see
    ``document.build_report``); returns the JSON path."""
    return write_document(directory, build_report(environment, results, baseline, blocks))


def write_document(directory: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` (a ``document.build_report`` document) as ``parity.json``, ``parity.md`` and ``parity.html``
    into ``directory``; returns the JSON path."""
    json_path = directory / REPORT_JSON
    try:
        write_atomically(json_path, json.dumps(report, indent=2, allow_nan=True) + "\n")
        write_atomically(directory / REPORT_MD, render_markdown(report))
        write_atomically(directory / REPORT_HTML, render_html(report))
    except OSError as error:
        raise ReportWriteError(f"cannot write the report to {directory}: {error.strerror} ({error.filename})") \
            from None
    return json_path
