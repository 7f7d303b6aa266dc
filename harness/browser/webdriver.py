"""Browsers over WebDriver (Selenium): WebKitGTK's MiniBrowser here (``WebKitWebDriver``: the engine Playwright
cannot drive from a stock build), and any WebDriver server a ``webdriver+http://`` endpoint names (Selenium Grid,
safaridriver, Appium, a cloud device grid).

The page API is the same JavaScript (``parity.start`` then ``parity.poll``), called with
``execute_script``; each backend page is a WebDriver session of its own (its own browser, so
storage is not shared between backends, as with Playwright's contexts). WebDriver gives no console,
no downloads and no traces (``lacks``): a failed check's evidence is its screenshot and what the
row says, and checks that need downloads are named skips.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.browser.display import display
from harness.browser.driver import Capability
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import CHROMIUM, Engine, chromium_args
from harness.browser.page import (
    CONNECT_TIMEOUT_S,
    PAGE_READY,
    POLL_INTERVAL_MS,
    SHOW_SUMMARY,
    BackendPage,
    BrowserEndpointError,
    BrowserError,
    CheckTimeoutError,
    PageCrashedError,
    PageLoadTimeoutError,
    PageOperation,
    activate_backend,
    page_url,
)
from harness.errors import SetupError
from harness.options import DEFAULT_TIMEOUT_S

LACKS = {
    Capability.DOWNLOADS: "needs the browser's downloads, which WebDriver cannot collect (it has no download API), so "
                          "the saved files cannot be read",
    Capability.TRACES: "WebDriver records no trace",
}
# The browserName a session asks a WebDriver server for when the endpoint's capabilities name none.
BROWSER_NAMES = {"chromium": "chrome", "firefox": "firefox", "webkit": "safari"}
STATUS_TIMEOUT_S = 10


@dataclass
class WebDriverPage(BackendPage):
    """A ``BackendPage`` whose page is a Selenium WebDriver session (``driver``)."""

    driver: Any = None

    def call(self, operation: PageOperation, *args: Any, timeout_s: float | None = None) -> Any:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from urllib3.exceptions import HTTPError

        op = PageOperation(operation).value
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        try:
            self.driver.set_script_timeout(timeout)
            job = self.driver.execute_script("return parity.start(arguments[0], arguments[1])", op, list(args))
            while (outcome := self.driver.execute_script("return parity.poll(arguments[0])", job)) is None:
                if time.monotonic() > deadline:
                    raise CheckTimeoutError(f"{op} on {self.backend} did not finish within {timeout:g} s")
                time.sleep(POLL_INTERVAL_MS / 1000)
        except TimeoutException as error:
            raise CheckTimeoutError(f"{op} on {self.backend} did not finish within {timeout:g} s") from error
        except WebDriverException as error:
            self.crashed = True
            raise PageCrashedError(f"page for {self.backend} failed during {op}: {error.msg}") from error
        except (HTTPError, OSError) as error:  # the WebDriver server itself is gone
            self.crashed = True
            raise PageCrashedError(f"page for {self.backend} was lost during {op}: the WebDriver server stopped "
                                   f"answering ({type(error).__name__})") from error
        if not outcome["ok"]:
            raise self.failed(op, outcome)
        return outcome["value"]

    def screenshot(self, path: Path, summary: str) -> None:
        self.driver.execute_script(f"({SHOW_SUMMARY})(arguments[0])", summary)
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        """End the page's WebDriver session (and its browser)."""
        with contextlib.suppress(Exception):
            self.driver.quit()


class WebDriverBrowser:
    """One browser per backend page over WebDriver (a ``driver.Browser``): WebKitGTK's MiniBrowser (``executable``)
    through a ``WebKitWebDriver`` started here, headed on the harness's virtual display; or, with ``endpoint``,
    sessions of a remote WebDriver server asked for the endpoint's capabilities."""

    def __init__(self, engine: Engine, executable: Path | None = None, endpoint: BrowserEndpoint | None = None,
                 insecure_origin: str | None = None) -> None:
        self.engine = engine
        self.endpoint = endpoint
        self._executable = executable
        self._insecure_origin = insecure_origin
        self._driver = shutil.which(engine.webdriver or "") if endpoint is None else None
        self._browser = "MiniBrowser" if endpoint is None else "unknown browser"
        self._version = "unknown"

    def start(self) -> WebDriverBrowser:
        """Check that the WebDriver program is there, or that the endpoint's server answers (the browser's version is
        known once a page has started)."""
        if self.endpoint is not None:
            if not self._answers():
                raise BrowserEndpointError(f"browser endpoint {self.endpoint.name} ({self.endpoint.public_url}): "
                                           f"cannot connect: no WebDriver server answers {self._status_url()} (is the "
                                           "grid, safaridriver or WebKitWebDriver listening there?)")
            return self
        if self._driver is None:
            raise SetupError(f"{self.engine.label}: {self.engine.webdriver} not found: apt-get install -y "
                             f"{' '.join(self.engine.apt_packages)} (`make setup` does it as root), or install "
                             "Playwright's WebKit")
        return self

    @property
    def label(self) -> str:
        where = "WebKitGTK MiniBrowser over WebDriver" if self.endpoint is None else "over WebDriver"
        return f"{self.engine.label} {self._version} ({self._browser} {where})" if self.endpoint is None else \
            f"{self._browser} {self._version} ({where})"

    def lacks(self, capability: Capability) -> str | None:
        return LACKS.get(capability)

    def responsive(self) -> bool:
        """Here: always (each page has its own browser process, so there is no shared browser to lose); on an
        endpoint: whether its server still answers ``/status``."""
        return self.endpoint is None or self._answers()

    def new_page(self, origin: str, backend: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 trace: bool = False, cookie: dict[str, str] | None = None) -> BackendPage:
        """A fresh WebDriver session at ``origin`` (see ``driver.Browser.new_page``; no trace over WebDriver)."""
        from selenium.common.exceptions import WebDriverException
        from urllib3.exceptions import HTTPError

        try:
            driver = self._session(timeout_s)
        except WebDriverException as error:
            raise BrowserError(f"{self._where()}: could not start a browser session: {error.msg}") from error
        except (HTTPError, OSError) as error:
            if self.responsive():  # the server answers: this session's start broke or hung, not the server
                raise PageLoadTimeoutError(f"{self._where()}: starting a browser session broke off "
                                           f"({type(error).__name__}: {error}); the server still answers") from error
            raise PageCrashedError(f"{self._where()}: the WebDriver server stopped answering while starting a "
                                   f"session ({type(error).__name__})") from error
        self._browser = driver.capabilities.get("browserName") or self._browser
        self._version = driver.capabilities.get("browserVersion") or self._version
        page = WebDriverPage(backend=backend, timeout_s=timeout_s, driver=driver)
        try:
            driver.set_page_load_timeout(timeout_s)
            if cookie:  # WebDriver sets a cookie for the document's own origin only: one (a 404) is loaded first
                driver.get(f"{origin}/cookie")
                driver.add_cookie({**cookie, "path": "/", "httpOnly": True, "sameSite": "Strict"})
            driver.get(page_url(origin, backend))
            deadline = time.monotonic() + timeout_s
            while not driver.execute_script(f"return !!({PAGE_READY})()"):
                if time.monotonic() > deadline:
                    raise PageLoadTimeoutError(f"the page for {backend} did not load within {timeout_s:g} s")
                time.sleep(POLL_INTERVAL_MS / 1000)
            activate_backend(page)
        except Exception:
            page.close()
            raise
        return page

    def _session(self, timeout_s: float) -> Any:
        """A new WebDriver session: a MiniBrowser through a WebKitWebDriver started here, or one the endpoint's
        server starts with the endpoint's capabilities."""
        from selenium import webdriver

        if self.endpoint is None:
            from selenium.webdriver.webkitgtk.options import Options
            from selenium.webdriver.webkitgtk.service import Service

            options = Options()
            options.binary_location = str(self._executable)
            options.add_argument("--automation")
            service = Service(self._driver, env={**os.environ, "DISPLAY": display()})
            return webdriver.WebKitGTK(options=options, service=service)
        from selenium.webdriver.common.options import ArgOptions
        from selenium.webdriver.remote.client_config import ClientConfig
        from selenium.webdriver.remote.remote_connection import RemoteConnection

        remote = ArgOptions()
        for name, value in self._capabilities().items():
            remote.set_capability(name, value)
        parts = urlsplit(self.endpoint.server_url)
        config = ClientConfig(self._server_address(), username=parts.username, password=parts.password,
                              timeout=int(max(timeout_s, CONNECT_TIMEOUT_S)) + 30)
        return webdriver.Remote(command_executor=RemoteConnection(client_config=config), options=remote)

    def _capabilities(self) -> dict[str, Any]:
        """The endpoint's capabilities, with a ``browserName`` for its engine if it names none, and (for Chrome)
        the Chromium arguments a launched Chromium gets."""
        assert self.endpoint is not None
        capabilities = {"browserName": BROWSER_NAMES[self.engine.name], **self.endpoint.capabilities}
        if self.engine is CHROMIUM and capabilities["browserName"] == "chrome":
            options = dict(capabilities.get("goog:chromeOptions", {}))
            options["args"] = [*chromium_args(self._insecure_origin), *options.get("args", [])]
            capabilities["goog:chromeOptions"] = options
        return capabilities

    def _server_address(self) -> str:
        """The endpoint's server URL without user info (given to the client apart)."""
        assert self.endpoint is not None
        parts = urlsplit(self.endpoint.server_url)
        host = f"{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))

    def _status_url(self) -> str:
        """The server's ``/status`` (W3C WebDriver), without credentials."""
        return f"{self._server_address().split('?')[0].rstrip('/')}/status"

    def _answers(self) -> bool:
        """Whether the endpoint's WebDriver server answers ``GET /status`` (any HTTP answer: a busy server may say it
        is not ready for a new session)."""
        assert self.endpoint is not None
        parts = urlsplit(self.endpoint.server_url)
        request = urllib.request.Request(self._status_url())
        if parts.username:
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=STATUS_TIMEOUT_S):
                return True
        except urllib.error.HTTPError:
            return True
        except (OSError, ValueError):
            return False

    def _where(self) -> str:
        return f"browser endpoint {self.endpoint.name}" if self.endpoint is not None else self.engine.label

    def close(self) -> None:
        """Nothing is shared between pages: each page's ``close`` ends its own browser session."""
