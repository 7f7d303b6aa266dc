"""One protocol for the browsers a session drives (``launch`` picks the driver).

Two drivers implement ``Browser``: Playwright (``playwright_driver``: browsers launched here, and
Playwright browser servers) and WebDriver (``webdriver``: WebKitGTK's MiniBrowser here, and any
WebDriver server: Selenium Grid, safaridriver, Appium, cloud device grids). What a driver cannot
do is a ``Capability`` it lacks, with the reason: a check that needs it is a named ``skip``
(``Check.needs``), and a failed check's evidence keeps what the page can give.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import Engine
from harness.browser.page import BackendPage
from harness.options import DEFAULT_TIMEOUT_S


class Capability(str, Enum):
    """What a check or the evidence may need of a browser beyond running the page."""

    DOWNLOADS = "downloads"  # files the page downloads reach Python (``downloads://``)
    TRACES = "traces"  # a trace of each check's page calls, console and network


class Browser(Protocol):
    """A browser of one engine for a session: it makes one ``BackendPage`` per backend."""

    engine: Engine
    endpoint: BrowserEndpoint | None  # where it runs; None: launched here

    @property
    def label(self) -> str:
        """``"Chromium 156.0.7258.5"``: the engine (or remote browser) and its version."""

    def start(self) -> Browser:
        """Launch or connect; a ``SetupError`` names what is missing or unreachable."""

    def lacks(self, capability: Capability) -> str | None:
        """Why this browser cannot give ``capability``, or None when it can."""

    def responsive(self) -> bool:
        """Whether the browser still answers (False once a remote endpoint or the browser is gone)."""

    def new_page(self, origin: str, backend: str, timeout_s: float = DEFAULT_TIMEOUT_S, trace: bool = False,
                 cookie: dict[str, str] | None = None) -> BackendPage:
        """A fresh page at ``origin`` with backend id ``backend`` in effect, holding ``cookie`` (the server's
        secret) before its first request, traced when ``trace`` and the browser can."""

    def close(self) -> None:
        """End the browser (or the connection to it)."""
