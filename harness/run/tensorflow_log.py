"""TensorFlow's own log lines go to a file in the report directory, not the terminal.

TensorFlow, XLA and absl write from C++ straight to file descriptor 2 ("Unable to register cuDNN
factory", "computation placer already registered", "failed call to cuInit"), and from Python through
``logging`` and ``warnings``. During a run, descriptor 2 points at ``OUT/tensorflow.log`` (so do the
Playwright driver's and the browser's own messages), Python's logging and warnings are written
there too, and the harness's own messages still reach the terminal through ``sys.stderr``. Nothing
is hidden: the report names the file.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.report.files import ReportWriteError

TENSORFLOW_LOG = "tensorflow.log"


@contextmanager
def tensorflow_log(out: Path) -> Iterator[Path]:
    """Send descriptor 2, Python logging and warnings to ``out/tensorflow.log`` while the block runs."""
    path = out / TENSORFLOW_LOG
    try:
        out.mkdir(parents=True, exist_ok=True)
        log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in the finally below
    except OSError as error:
        raise ReportWriteError(f"cannot write the report to {out}: {error.strerror} ({error.filename}); give --out a "
                               "directory you can write to") from None
    sys.stderr.flush()
    saved_fd = os.dup(2)
    os.dup2(log.fileno(), 2)
    terminal = sys.stderr
    if _on_descriptor_2(sys.stderr):  # else pytest's capture or another wrapper already holds it
        sys.stderr = open(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        if sys.stderr is not terminal:  # left open: a handler made meanwhile may still write to it
            sys.stderr.flush()
            sys.stderr = terminal
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        log.close()


def _on_descriptor_2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
