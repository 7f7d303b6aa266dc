"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (a CI job's timeout): both arrive as ``KeyboardInterrupt``
in the main thread; the run then writes every finished row, marks its report interrupted, and ends
every process it started and removes the private directories its servers made
(``end_everything_started``), since a check in flight may never return. And a ``deadline`` for a
Python-side step that may hang."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.browser.slots import remove_open_stores
from harness.errors import HarnessError
from harness.run.process_memory import process_tree

SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
EXIT_INTERRUPTED = 130  # what shells report for a process ended by Ctrl-C


class StepTimeoutError(HarnessError):
    """A step on the Python side (a reference build: Keras, the converter) did not finish within its time."""


@contextlib.contextmanager
def deadline(seconds: float, step: str) -> Iterator[None]:
    """Raise ``StepTimeoutError`` naming ``step`` if the block runs longer than ``seconds`` (SIGALRM: Python code,
    and C code that waits interruptibly, stop; on threads other than the main one there is no deadline)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_number: int, _frame: object) -> None:
        raise StepTimeoutError(f"{step} did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class RunInterrupted(Exception):  # noqa: N818 - not an error: the user asked for it
    """A run stopped on a signal, after writing its report (``path``: parity.json, and ``report`` its document; None
    if it had none)."""

    def __init__(self, signal_name: str, path: Path | None, report: dict[str, Any] | None = None) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.path = path
        self.report = report


class _Interrupt:
    """Which signal stopped the run (``None`` until one has)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def handle(self, number: int, _frame: object) -> None:
        if self.signal_name is None:
            self.signal_name = SIGNAL_NAMES.get(signal.Signals(number), str(number))
            raise KeyboardInterrupt(self.signal_name)
        # a second signal while the report is written: ignored, the run is already stopping


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """For the duration, SIGINT and SIGTERM raise ``KeyboardInterrupt("SIGINT")`` (or ``"SIGTERM"``) once, in the
    main thread; later ones are ignored. Off the main thread (a run started by a test, an application's worker
    thread), signals stay whoever's they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupt = _Interrupt()
    previous = {number: signal.signal(number, interrupt.handle) for number in SIGNAL_NAMES}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def end_everything_started(grace_s: float = 3.0) -> None:
    """SIGTERM every process below this one (Playwright's drivers, the browsers, Xvfb, WebDriver), SIGKILL what is
    left after ``grace_s``, and remove the save slots' private directories (``slots``) no server will close now."""
    targets = process_tree(os.getpid())[1:]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(is_alive(pid) for pid in targets):
        time.sleep(0.05)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in targets:  # reap our own children, so none is left a zombie
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    remove_open_stores()


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"
