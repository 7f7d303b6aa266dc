"""Live progress while a run measures: one plain line per finished check (CI logs, pipes), or on a
terminal one line rewritten in place with the counts and the time left, or nothing (``-q``).

A skip whose reason the model's checks share (a graph model's training and storage checks, a model
saved without ``compile()``) is shown once per model: the summary at the end lists every check and
backend it covers."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from harness.results import STATUSES, CheckResult

MODES = ("lines", "bar", "quiet")


def row_line(row: CheckResult, done: int, total: int) -> str:
    """``[ 12/198] pass   mlp / predict / webgl: max abs err 8.9e-08, 0.031 of tolerance (0.42 s)``; a row a remote
    browser endpoint ran names it (``... / webgl @ grid-1: ...``)."""
    width = len(str(total))
    figures = []
    exact = row.atol == 0 and row.rtol == 0
    if exact and row.max_abs_err is not None:
        figures.append("identical" if row.max_abs_err == 0 else f"differs by {row.max_abs_err:.2g}")
    elif row.max_abs_err is not None:
        figures.append(f"max abs err {row.max_abs_err:.2g}")
    if row.tolerance_ratio is not None:
        figures.append(f"{row.tolerance_ratio:.2g} of tolerance")
    if row.status in ("skip", "xfail", "error", "fail") and row.message:
        reason = row.message.splitlines()[0]
        figures.append(reason if len(reason) <= 100 else reason[:97] + "...")
    seconds = f" ({row.seconds:.2f} s)" if row.seconds and row.status != "skip" else ""
    endpoint = f" @ {row.details['endpoint']}" if isinstance(row.details.get("endpoint"), str) else ""
    return (f"[{done:>{width}}/{total}] {row.status:<6} {row.model} / {row.check} / {row.backend}{endpoint}"
            f"{': ' + ', '.join(figures) if figures else ''}{seconds}")


class Progress:
    """A result listener (``ParitySession(on_result=...)``) that keeps each finished row in ``rows`` and shows
    it; ``total`` is the expected number of rows (for the counts and the time left)."""

    def __init__(self, total: int, mode: str | None = None, stream: TextIO | None = None,
                 earlier: list[CheckResult] | None = None) -> None:
        self._stream = stream
        self.mode = mode or ("bar" if self.stream.isatty() else "lines")
        self.total = max(total, 1)
        self.rows: list[CheckResult] = list(earlier or [])  # ``earlier``: rows of the run this one resumes
        self.counts: dict[str, int] = {status: sum(r.status == status for r in self.rows) for status in STATUSES}
        self._earlier = len(self.rows)
        self._skips_shown: set[tuple[str, str]] = set()  # (model, reason) of the skips shown so far
        self.started = time.perf_counter()

    @property
    def stream(self) -> TextIO:
        """The given stream, else ``sys.stderr`` as it is now (``run.tensorflow_log`` swaps it during a run)."""
        return self._stream or sys.stderr

    def __call__(self, row: CheckResult) -> None:
        self.rows.append(row)
        self.counts[row.status] += 1
        done = len(self.rows)
        self.total = max(self.total, done)
        if self.mode == "lines" and self._shows(row):
            line = row_line(row, done, self.total)
            if row.status == "skip":
                line += " (its other checks skipped for this reason: one line in the summary)"
            print(line, file=self.stream, flush=True)
        elif self.mode == "bar":
            if row.status in ("fail", "error"):  # a failure stays on screen above the bar
                print("\r\033[K" + row_line(row, done, self.total), file=self.stream)
            print("\r\033[K" + self._bar(done, row), end="", file=self.stream, flush=True)

    def _shows(self, row: CheckResult) -> bool:
        """Whether ``row`` gets a line: every row but a skip whose model and reason were shown already."""
        if row.status != "skip":
            return True
        key = (row.model, row.message)
        shown = key in self._skips_shown
        self._skips_shown.add(key)
        return not shown

    def _bar(self, done: int, row: CheckResult) -> str:
        elapsed = time.perf_counter() - self.started
        left = elapsed / max(done - self._earlier, 1) * (self.total - done)
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items() if n)
        return (f"{done}/{self.total} checks ({counts}), {elapsed:.0f} s, about {left:.0f} s left; "
                f"last: {row.model} / {row.check} / {row.backend}")

    def finish(self) -> None:
        """End the in-place line, so what follows starts on its own line."""
        if self.mode == "bar" and self.rows:
            print(file=self.stream, flush=True)
