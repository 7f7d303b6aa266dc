"""WebKitGTK's MiniBrowser over WebDriver (Selenium and WebKitGTK's ``WebKitWebDriver``): the engine Playwright
cannot drive from a stock build. Used for WebKit when Playwright's own WebKit is not installed.

The page API is the same JavaScript (``parity.start`` then ``parity.poll``), called with
``execute_script``; each backend page is a WebDriver session of its own (its own MiniBrowser, so
storage is not shared between backends, as with Playwright's contexts). WebDriver gives no console,
no downloads and no traces: a failed check's evidence is what the row says, and checks that need
downloads are named skips (``engines.WEBKIT``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from harness.browser.display import display
from harness.browser.engines import Engine
from harness.browser.page import (
    PAGE_READY,
    POLL_INTERVAL_MS,
    BackendPage,
    BrowserError,
    CheckTimeoutError,
    PageCrashedError,
    PageOperation,
    activate_backend,
    page_url,
)
from harness.errors import SetupError
from harness.options import DEFAULT_TIMEOUT_S

class WebDriverPage(BackendPage):
    """A ``BackendPage`` whose ``page`` is a Selenium WebDriver session."""

    def call(self, operation: PageOperation, *args: Any, timeout_s: float | None = None) -> Any:
        """Run the page's ``operation`` and return its value (polled, with its own timeout)."""
        from selenium.common.exceptions import TimeoutException, WebDriverException

        op = PageOperation(operation).value
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        try:
            self.page.set_script_timeout(timeout)
            job = self.page.execute_script("return parity.start(arguments[0], arguments[1])", op, list(args))
            while (outcome := self.page.execute_script("return parity.poll(arguments[0])", job)) is None:
                if time.monotonic() > deadline:
                    raise CheckTimeoutError(f"{op} on {self.backend} did not finish within {timeout:g} s")
                time.sleep(POLL_INTERVAL_MS / 1000)
        except TimeoutException as error:
            raise CheckTimeoutError(f"{op} on {self.backend} did not finish within {timeout:g} s") from error
        except WebDriverException as error:
            self.crashed = True
            raise PageCrashedError(f"page for {self.backend} failed during {op}: {error.msg}") from error
        if not outcome["ok"]:
            raise BrowserError(f"{op} on {self.backend} failed: {outcome['error']}", outcome.get("thrownIn"))
        return outcome["value"]

    def close(self) -> None:
        """End the page's WebDriver session (and its MiniBrowser)."""
        with contextlib.suppress(Exception):
            self.page.quit()


class WebDriverBrowser:
    """WebKitGTK's MiniBrowser (``executable``), one WebDriver session per backend page, headed on the harness's
    virtual display."""

    def __init__(self, engine: Engine, executable: Path) -> None:
        self.engine = engine
        self.endpoint = None
        self._executable = executable
        self._driver = shutil.which(engine.webdriver or "")
        self.version = "unknown"

    def start(self) -> WebDriverBrowser:
        """Check that the WebDriver program is there (the browser's version is known once a page has started)."""
        if self._driver is None:
            raise SetupError(f"{self.engine.label}: {self.engine.webdriver} not found: apt-get install -y "
                             f"{' '.join(self.engine.apt_packages)} (`make setup` does it as root), or install "
                             "Playwright's WebKit")
        return self

    @property
    def label(self) -> str:
        return f"{self.engine.label} {self.version} (WebKitGTK MiniBrowser over WebDriver)"

    def responsive(self) -> bool:
        """Always: each page has its own browser process, so there is no shared browser to lose."""
        return True

    def new_page(self, origin: str, backend: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 trace: bool = False, cookie: dict[str, str] | None = None) -> BackendPage:
        """A fresh MiniBrowser at ``origin`` with backend id ``backend`` in effect (``trace`` is not available over
        WebDriver), holding ``cookie`` before the page loads; raises as ``ParityBrowser.new_page`` does."""
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        options = Options()
        options.binary_location = str(self._executable)
        options.add_argument("--automation")
        service = Service(self._driver, env={**os.environ, "DISPLAY": display()})
        try:
            driver = webdriver.WebKitGTK(options=options, service=service)
        except WebDriverException as error:
            raise BrowserError(f"{self.engine.label}: could not start {self._executable}: {error.msg}") from error
        self.version = driver.capabilities.get("browserVersion") or self.version
        page = WebDriverPage(backend=backend, context=None, page=driver, timeout_s=timeout_s)
        try:
            driver.set_page_load_timeout(timeout_s)
            if cookie:  # WebDriver sets a cookie for the document's own origin only: one (a 404) is loaded first
                driver.get(f"{origin}/cookie")
                driver.add_cookie({**cookie, "path": "/", "httpOnly": True, "sameSite": "Strict"})
            driver.get(page_url(origin, backend))
            deadline = time.monotonic() + timeout_s
            while not driver.execute_script(f"return !!({PAGE_READY})()"):
                if time.monotonic() > deadline:
                    raise CheckTimeoutError(f"the page for {backend} did not load within {timeout_s:g} s")
                time.sleep(POLL_INTERVAL_MS / 1000)
            activate_backend(page)
        except Exception:
            page.close()
            raise
        return page

    def close(self) -> None:
        """Nothing is shared between pages: each page's ``close`` ends its own browser."""
