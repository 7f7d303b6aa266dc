"""Find each engine's browser for Playwright, and install one when asked
(``python -m harness.browser.executables --ensure chromium,firefox``).

Search order, per engine (``engines.ENGINES``): its override variable (``TFJS_PARITY_CHROMIUM``,
``TFJS_PARITY_FIREFOX``), Playwright's own build, then the system's (``/usr/bin/chromium``,
``/usr/bin/firefox-esr``, ...). Playwright's own build comes first after the override so the
harness uses it on a laptop where ``playwright install`` works. Installing tries ``playwright
install ENGINE``, then (as root with apt) the OS packages, with Xvfb for an engine that runs headed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.browser.display import display_available
from harness.browser.engines import ENGINES, Engine, engine_names
from harness.errors import HarnessError, SetupError

INSTALL_TIMEOUT_S = 600


class BrowserNotFoundError(SetupError):
    """No usable browser for an engine; the message says exactly what to run."""


def playwright_build(engine: Engine) -> Path | None:
    """Playwright's own build of ``engine`` if it is installed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = Path(getattr(playwright, engine.name).executable_path)
    return path if path.is_file() else None


def _system_build(engine: Engine) -> Path | None:
    for candidate in engine.system_candidates:
        found = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return Path(found)
    return None


def choose_browser(engine: Engine, own: Path | None) -> Path | None:
    """The override, else ``own`` (Playwright's installed build, if any), else the system's."""
    return browser_choice(engine, own)[0]


def checked_override(engine: Engine) -> Path | None:
    """The executable ``engine``'s override variable names, if set; ``BrowserNotFoundError`` if it is not one."""
    override = os.environ.get(engine.env_var)
    if override and not os.access(override, os.X_OK):
        raise BrowserNotFoundError(f"{engine.env_var}={override} is not an executable file")
    return Path(override) if override else None


def browser_choice(engine: Engine, own: Path | None) -> tuple[Path | None, str]:
    """``choose_browser``'s pick and how it was found (for ``tfjs-parity doctor``)."""
    override = checked_override(engine)
    if override:
        return override, f"from {engine.env_var}"
    if own:
        return own, f"Playwright's own {engine.label}"
    system = _system_build(engine)
    return system, (f"the system's {engine.label}; Playwright's own is not installed" if system else "none found")


def find_browser(engine: Engine) -> Path | None:
    """The browser to launch for ``engine``, or None."""
    return choose_browser(engine, playwright_build(engine))


def resolve_browser(engine: Engine) -> tuple[Path, bool]:
    """The browser to launch for ``engine`` (installed if none is found) and whether it is Playwright's own build.
    Runs on a thread of its own: looking for Playwright's builds starts a Playwright driver, and the caller's
    thread may already run one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        own = pool.submit(playwright_build, engine).result()
        chosen = choose_browser(engine, own)
        if chosen is None or not _usable(engine, chosen, own):
            chosen = pool.submit(ensure_browser, engine).result()
    return chosen, chosen == own


def _run(command: list[str], env: dict[str, str] | None = None) -> bool:
    print(f"tfjs-parity: running `{' '.join(command)}`", file=sys.stderr)
    try:
        return subprocess.run(command, env=env, timeout=INSTALL_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"tfjs-parity: {error}", file=sys.stderr)
        return False


def _ready(engine: Engine) -> Path | None:
    """The engine's browser, if it, its WebDriver program (for a system build driven over WebDriver) and (for a
    headed engine) a virtual display program are there."""
    own = playwright_build(engine)
    found = choose_browser(engine, own)
    return found if _usable(engine, found, own) else None


def _usable(engine: Engine, found: Path | None, own: Path | None) -> bool:
    """Whether ``found`` can run: its WebDriver program is there (a system build driven over WebDriver), and a
    display (a headed engine)."""
    missing_driver = engine.webdriver is not None and found != own and shutil.which(engine.webdriver) is None
    return found is not None and not missing_driver and (not engine.headed or display_available())


def ensure_browser(engine: Engine) -> Path:
    """Find ``engine``'s browser, installing it if none is found; raises with instructions if that fails."""
    if found := _ready(engine):
        return found
    if _run([sys.executable, "-m", "playwright", "install", engine.name]) and (found := _ready(engine)):
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-qq"], env)
        _run(["apt-get", "install", "-y", "-qq", *engine.apt_packages], env)
        if found := _ready(engine):
            return found
    raise BrowserNotFoundError(
        f"no usable {engine.label} found. Install one and re-run:\n"
        f"  {sys.executable} -m playwright install {engine.name}\n"
        f"or, on Debian/Ubuntu:  sudo apt-get install -y {' '.join(engine.apt_packages)}\n"
        f"or point {engine.env_var} at a {engine.label} binary."
        + ("\nIt runs with a window: it needs Xvfb (apt-get install -y xvfb) or a DISPLAY." if engine.headed else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.browser.executables", description=__doc__)
    parser.add_argument("--ensure", action="store_true", help="install a browser for each engine that has none")
    parser.add_argument("engines", nargs="?", default="chromium", help=f"comma-separated: {', '.join(ENGINES)}")
    args = parser.parse_args(argv)
    try:
        for engine in (ENGINES[name] for name in engine_names(args.engines, "engines")):
            path = ensure_browser(engine) if args.ensure else find_browser(engine)
            if path is None:
                print(f"tfjs-parity: no {engine.label} found (run with --ensure to install one)", file=sys.stderr)
                return 1
            print(path)
    except HarnessError as error:
        print(f"tfjs-parity: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
