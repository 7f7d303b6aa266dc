"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (a CI job's timeout): both arrive as ``KeyboardInterrupt``
in the main thread (never inside an ``atomic`` block); the run then writes every finished row, marks its
report interrupted, and ends every process it started and removes the private directories its servers made
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
from types import FrameType
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


# Code where Python prints an exception and goes on ("Exception ignored in ..."): a finalizer, or a weakref callback
# run by the garbage collector. A ``KeyboardInterrupt`` raised there is lost, and the run went on as if never
# signalled (seen in the test suite under load: a ``WeakSet`` callback took the SIGINT).
SWALLOWING_FILES = ("_weakrefset.py", "weakref.py")
RETRY_S = 0.05


def _swallows(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` would be printed and dropped rather than propagate: it, or any frame
    it was called from, is a finalizer or a weakref callback (the handler may land deep below one: in the
    ``threading`` code that starts an earlier retry's timer, seen under load)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__" or frame.f_code.co_filename.endswith(SWALLOWING_FILES):
            return True
        frame = frame.f_back
    return False


class _Interrupt:
    """Which signal stopped the run (``None`` until one has)."""

    current: _Interrupt | None = None  # the run's, while ``interruptible`` is in force

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.holding = 0  # the depth of ``atomic`` blocks the main thread is in
        self.held = False  # a signal came inside one: raised as it ends

    def handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            return  # a second signal while the report is written: ignored, the run is already stopping
        if _swallows(frame):  # raised here it would be lost: the same signal again, a moment later
            threading.Timer(RETRY_S, os.kill, (os.getpid(), number)).start()
            return
        self.signal_name = SIGNAL_NAMES.get(signal.Signals(number), str(number))
        if self.holding:
            self.held = True
            return
        raise KeyboardInterrupt(self.signal_name)


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """A block a signal must not cut in two (a row journaled but not yet among the report's rows): a signal that
    comes inside it raises its ``KeyboardInterrupt`` as the block ends. Off the main thread, where no signal lands,
    or outside ``interruptible``, nothing changes."""
    interrupt = _Interrupt.current
    if interrupt is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupt.holding += 1
    try:
        yield
    finally:
        interrupt.holding -= 1
    if not interrupt.holding and interrupt.held:
        interrupt.held = False
        raise KeyboardInterrupt(interrupt.signal_name)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """For the duration, SIGINT and SIGTERM raise ``KeyboardInterrupt("SIGINT")`` (or ``"SIGTERM"``) once, in the
    main thread; later ones are ignored. Off the main thread (a run started by a test, an application's worker
    thread), signals stay whoever's they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupt = _Interrupt.current = _Interrupt()
    previous = {number: signal.signal(number, interrupt.handle) for number in SIGNAL_NAMES}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _Interrupt.current = None


def signalled() -> str | None:
    """The signal that stopped the run, once it came (its ``KeyboardInterrupt`` may have been lost on the way: a
    library that catches every exception, as Playwright's dispatcher does, turns it into an error of its own)."""
    return _Interrupt.current.signal_name if _Interrupt.current is not None else None


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
