"""The factory of a session's browsers: which driver runs an engine here or on an endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.browser.driver import Browser
from harness.browser.endpoints import WEBDRIVER, BrowserEndpoint
from harness.browser.engines import Engine
from harness.browser.executables import resolve_browser
from harness.browser.playwright_driver import PlaywrightBrowser
from harness.browser.webdriver import WebDriverBrowser


def launch(engine: Engine, endpoint: BrowserEndpoint | None, playwright: Callable[[], Any],
           insecure_origin: str | None = None) -> Browser:
    """A started browser of ``engine``: on ``endpoint`` (over its protocol), or here (Playwright's own or a system
    build Playwright drives, else WebKitGTK over WebDriver). ``playwright`` gives the session's Playwright driver
    (started on first need); ``insecure_origin`` is the page's plain-HTTP origin off loopback (``--serve-on``)."""
    browser: Browser
    if endpoint is not None and endpoint.protocol == WEBDRIVER:
        browser = WebDriverBrowser(engine, endpoint=endpoint, insecure_origin=insecure_origin)
    elif endpoint is not None:
        browser = PlaywrightBrowser(playwright(), engine, endpoint, insecure_origin=insecure_origin)
    else:
        executable, own = resolve_browser(engine)
        browser = (WebDriverBrowser(engine, executable=executable) if engine.webdriver is not None and not own
                   else PlaywrightBrowser(playwright(), engine, executable=executable, own=own,
                                          insecure_origin=insecure_origin))
    return browser.start()
