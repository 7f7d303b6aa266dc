"""A virtual X display for engines that run with a window (Firefox: headless it gets no WebGL context).

One Xvfb per process, started on first need on a display number Xvfb picks itself
(``-displayfd``), without TCP, and stopped when the process exits. Xvfb is preferred even when a
``DISPLAY`` is set, so no browser window opens on the user's screen; without Xvfb, ``DISPLAY``
is used if there is one.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import threading

from harness.errors import SetupError

START_TIMEOUT_S = 20
SCREEN = "1280x1024x24"

_lock = threading.Lock()
_display: str | None = None


class DisplayError(SetupError):
    """No display for a browser that needs one; the message says what to install."""


def display_available() -> bool:
    """Whether a headed browser can run here (Xvfb installed, or a display set)."""
    return shutil.which("Xvfb") is not None or bool(os.environ.get("DISPLAY"))


def display() -> str:
    """The ``DISPLAY`` value for a headed browser: this process's Xvfb (started now if need be), else the user's."""
    global _display
    with _lock:
        if _display is None:
            xvfb = shutil.which("Xvfb")
            if xvfb is None:
                if os.environ.get("DISPLAY"):
                    return os.environ["DISPLAY"]
                raise DisplayError("Firefox runs with a window, and there is no display: install Xvfb "
                                   "(`apt-get install -y xvfb`; `make setup` does it as root) or set DISPLAY")
            _display = _start_xvfb(xvfb)
        return _display


def _start_xvfb(xvfb: str) -> str:
    read, write = os.pipe()
    process = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
                               pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    os.close(write)
    number = b""
    with os.fdopen(read, "rb", buffering=0) as pipe:
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([pipe], [], [], START_TIMEOUT_S)
            chunk = pipe.read(16) if ready else b""
            if not chunk:
                process.kill()
                raise DisplayError(f"{xvfb} did not start a display within {START_TIMEOUT_S} s")
            number += chunk
    atexit.register(_stop, process)
    return f":{number.decode().strip()}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
