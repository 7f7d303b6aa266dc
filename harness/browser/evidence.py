"""What a failed check leaves to look at, kept only on failure (as pytest-playwright's ``retain-on-failure``).

For each check the page records a trace chunk (where its driver can: ``driver.Capability.TRACES``),
and the page's and its workers' console messages are marked. When the check's row is ``fail`` or
``error``, ``EVIDENCE/<model>/<backend>/<check>/`` gets ``console.log`` (every message of the page
and its workers during the check), ``screenshot.png`` (the page, with the row's summary written on
it) and ``trace.zip`` (``playwright show-trace`` opens it: every page call, its console and
network). Otherwise the chunk is dropped. Nothing here may fail a run: a crashed page simply leaves less.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.browser.page import BackendPage

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(part: str) -> str:
    """``quantized[uint8]`` -> ``quantized-uint8``, ``cpu@4.21.0`` -> ``cpu-4.21.0``: safe, still recognisable."""
    return _UNSAFE.sub("-", part).strip("-") or "_"


class CheckRecording:
    """One check on one page: started before the check runs, then ``keep`` or ``drop``."""

    def __init__(self, page: BackendPage, title: str) -> None:
        self.page = page
        self.mark = len(page.console)
        trace = page.trace
        if trace is not None:
            _quietly(lambda: trace.start_chunk(title))

    def keep(self, directory: Path, summary: str) -> dict[str, str]:
        """Write the check's console log, a screenshot and its trace into ``directory``; returns the files written
        by kind (``console``, ``screenshot``, ``trace``)."""
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        console = directory / "console.log"
        console.write_text("\n".join(self.page.console[self.mark:]) + "\n" if self.page.console[self.mark:]
                           else "(no console messages during this check)\n")
        written["console"] = console
        if not self.page.crashed:
            screenshot = directory / "screenshot.png"
            if _quietly(lambda: self.page.screenshot(screenshot, summary)):
                written["screenshot"] = screenshot
        recorder = self.page.trace
        if recorder is not None:
            trace = directory / "trace.zip"
            if _quietly(lambda: recorder.stop_chunk(trace)):
                written["trace"] = trace
        return {kind: str(path) for kind, path in written.items()}

    def drop(self) -> None:
        """Forget the check's trace chunk."""
        if self.page.trace is not None:
            _quietly(self.page.trace.stop_chunk)


def _quietly(action: Any) -> bool:
    """Run ``action``; False if the page or its context refused (crashed, closed, hung)."""
    try:
        action()
    except Exception:  # noqa: BLE001 - evidence is best effort and must never fail the run
        return False
    return True
