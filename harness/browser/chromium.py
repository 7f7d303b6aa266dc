"""Find a Chromium for Playwright, and install one when asked (``python -m harness.browser.chromium --ensure``).

Search order: ``TFJS_PARITY_CHROMIUM``, Playwright's own browser, ``/usr/bin/chromium``,
``chromium-browser``, ``google-chrome``. Playwright's own browser comes first after the
override so the harness uses it on a laptop where ``playwright install`` works.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import SetupError

ENV_VAR = "TFJS_PARITY_CHROMIUM"
SYSTEM_CANDIDATES = ("/usr/bin/chromium", "chromium-browser", "google-chrome")
INSTALL_TIMEOUT_S = 600


class ChromiumNotFoundError(SetupError):
    """No usable Chromium; the message says exactly what to run."""


def playwright_chromium() -> Path | None:
    """Playwright's own Chromium if it is installed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = Path(playwright.chromium.executable_path)
    return path if path.is_file() else None


def _system_chromium() -> Path | None:
    for candidate in SYSTEM_CANDIDATES:
        found = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return Path(found)
    return None


def choose_chromium(own: Path | None) -> Path | None:
    """The override, else ``own`` (Playwright's installed Chromium, if any), else a system Chromium."""
    return chromium_choice(own)[0]


def chromium_choice(own: Path | None) -> tuple[Path | None, str]:
    """``choose_chromium``'s pick and how it was found (for ``tfjs-parity doctor``)."""
    override = os.environ.get(ENV_VAR)
    if override:
        if not os.access(override, os.X_OK):
            raise ChromiumNotFoundError(f"{ENV_VAR}={override} is not an executable file")
        return Path(override), f"from {ENV_VAR}"
    if own:
        return own, "Playwright's own Chromium"
    system = _system_chromium()
    return system, ("a system Chromium; Playwright's own is not installed" if system else "none found")


def find_chromium() -> Path | None:
    """The Chromium to launch, or None."""
    return choose_chromium(playwright_chromium())


def _run(command: list[str]) -> bool:
    print(f"tfjs-parity: trying `{' '.join(command)}`", file=sys.stderr)
    try:
        return subprocess.run(command, timeout=INSTALL_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"tfjs-parity: {error}", file=sys.stderr)
        return False


def ensure_chromium() -> Path:
    """Find a Chromium, installing one if none is found; raises with instructions if that fails."""
    found = find_chromium()
    if found:
        return found
    if _run([sys.executable, "-m", "playwright", "install", "chromium"]) and (found := find_chromium()):
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            print(f"tfjs-parity: running `{' '.join(command)}`", file=sys.stderr)
            subprocess.run(command, env=env, timeout=INSTALL_TIMEOUT_S, check=False)
        if found := find_chromium():
            return found
    raise ChromiumNotFoundError(
        "no Chromium found. Install one and re-run:\n"
        f"  {sys.executable} -m playwright install chromium\n"
        "or, on Debian/Ubuntu:  sudo apt-get install -y chromium\n"
        f"or point {ENV_VAR} at a Chromium/Chrome binary."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.browser.chromium", description=__doc__)
    parser.add_argument("--ensure", action="store_true", help="install a Chromium if none is found")
    args = parser.parse_args(argv)
    try:
        path = ensure_chromium() if args.ensure else find_chromium()
    except ChromiumNotFoundError as error:
        print(f"tfjs-parity: {error}", file=sys.stderr)
        return 1
    if path is None:
        print("tfjs-parity: no Chromium found (run with --ensure to install one)", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
