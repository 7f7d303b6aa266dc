"""A run's journal: each row appended as one JSON line the moment it finishes, flushed to disk, so a
crash of the harness itself loses at most the check in flight. The report is rebuilt from it, and
``run --resume OUT`` continues an interrupted run from it, running only the checks it lacks.

The first line names the run's selection (models, backends, checks); a resumed run must select the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from harness.errors import UsageError
from harness.report.files import ReportWriteError
from harness.results import CheckResult

JOURNAL = "parity.journal.jsonl"


class Journal:
    """Rows of one run, appended as they finish; ``rows`` holds those of an earlier, interrupted run when resumed."""

    def __init__(self, path: Path, handle: TextIO, rows: list[CheckResult]) -> None:
        self.path = path
        self.rows = rows
        self._handle = handle

    @classmethod
    def start(cls, directory: Path, selection: dict[str, Any], resume: bool = False) -> Journal:
        """A new journal in ``directory`` (an earlier one replaced), or with ``resume`` the earlier one continued,
        its rows kept; ``UsageError`` when there is none or it selected other checks."""
        path = directory / JOURNAL
        rows = read_journal(path, selection) if resume else []
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle = path.open("w", encoding="utf-8")  # rewritten whole: a line cut short by a crash is gone
            handle.writelines(json.dumps(line, allow_nan=True) + "\n"
                              for line in [{"selection": selection}, *(row.to_dict() for row in rows)])
            _sync(handle)
        except OSError as error:
            raise ReportWriteError(f"cannot write the report to {directory}: {error.strerror} ({error.filename}); "
                                   "give --out a directory you can write to") from None
        return cls(path, handle, rows)

    def append(self, row: CheckResult) -> None:
        """Add ``row``, on disk before this returns."""
        try:
            self._handle.write(json.dumps(row.to_dict(), allow_nan=True) + "\n")
            _sync(self._handle)
        except OSError as error:
            raise ReportWriteError(f"cannot write to {self.path}: {error.strerror} (after {len(self.rows)} rows of an "
                                   "earlier run and the rows printed above)") from None

    def close(self) -> None:
        self._handle.close()


def read_journal(path: Path, selection: dict[str, Any]) -> list[CheckResult]:
    """The rows of the journal at ``path``, whose run selected ``selection``; a last line cut short by a crash is
    dropped (its check runs again)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"--resume {path.parent}: no {JOURNAL} there, so no interrupted run to continue") from None
    try:
        recorded = json.loads(lines[0])["selection"] if lines else None
    except (json.JSONDecodeError, KeyError, TypeError):
        recorded = None
    if recorded != selection:
        differences = "; ".join(f"{key}: {','.join(recorded.get(key) or [])} there, {','.join(value)} now"
                                for key, value in selection.items() if (recorded or {}).get(key) != value) \
            if isinstance(recorded, dict) else "its first line is not a run's selection"
        raise UsageError(f"--resume {path.parent}: {path.name} is of another selection ({differences}); resume with "
                         "the same --models, --backends (or --matrix, --browsers, --tfjs) and --checks")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            rows.append(CheckResult.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError) as error:
            if number == len(lines):
                break  # the harness stopped while writing it
            raise UsageError(f"--resume: {path}, line {number}: not a row ({error})") from None
    return rows


def _sync(handle: TextIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
