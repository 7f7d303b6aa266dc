"""Browsers through Playwright's sync API: launched here or on a Playwright browser server, one browser per engine,
one page (and context) per backend."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.browser.display import display
from harness.browser.driver import Capability
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import CHROMIUM, FIREFOX, Engine, chromium_args
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
from harness.options import DEFAULT_TIMEOUT_S

# Chromium silently drops a page's downloads beyond 10 within one second; stay below that.
DOWNLOADS_PER_SECOND = 8
SCREENSHOT_TIMEOUT_MS = 5000
BIDI_DOWNLOADS = ("needs the browser's downloads, which Playwright 1.64 does not report from Firefox over WebDriver "
                  "BiDi (checked: a page's download link gives no download event, so the saved files cannot be "
                  "read)")


class PlaywrightDownloads:
    """A Playwright page's downloads (``Capability.DOWNLOADS``), kept as the page starts them."""

    def __init__(self, page: Any) -> None:
        self._page = page
        self._started: list[Any] = []
        self._times: list[float] = []
        page.on("download", lambda download: self._started.append(download))

    def clear(self) -> None:
        self._started.clear()

    def make_room(self, count: int) -> None:
        """Wait until ``count`` more downloads fit in Chromium's per-second limit, and book them."""
        while True:
            now = time.monotonic()
            self._times[:] = [t for t in self._times if now - t < 1.0]
            if len(self._times) + count <= DOWNLOADS_PER_SECOND:
                self._times.extend([now] * count)
                return
            self._page.wait_for_timeout((1.0 - (now - self._times[0])) * 1000 + POLL_INTERVAL_MS)

    def take(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        """The next ``count`` downloads the page started (Playwright ``Download``s), waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(self._started) < count:
            if time.monotonic() > deadline:
                raise BrowserError(f"the page started {len(self._started)} downloads within {timeout_s:g} s, not "
                                   f"{count}")
            self._page.wait_for_timeout(POLL_INTERVAL_MS * 4)
        taken, self._started[:] = self._started[:count], self._started[count:]
        return taken


class PlaywrightTrace:
    """A Playwright trace on a page's context (``Capability.TRACES``): no DOM snapshots or screencast (the page has
    no UI to show); the calls, console and network are what count."""

    def __init__(self, context: Any) -> None:
        self._tracing = context.tracing
        self._tracing.start(snapshots=False, screenshots=False, sources=False)
        # Each check records a chunk of its own. The chunk ``start`` opens would never end, and Playwright removes a
        # chunk's temp directory only when it ends.
        self._tracing.stop_chunk()

    def start_chunk(self, title: str) -> None:
        self._tracing.start_chunk(title=title)

    def stop_chunk(self, path: Path | None = None) -> None:
        self._tracing.stop_chunk(path=str(path)) if path is not None else self._tracing.stop_chunk()


@dataclass
class PlaywrightPage(BackendPage):
    """A ``BackendPage`` in a Playwright browser context of its own."""

    context: Any = None
    page: Any = None

    def call(self, operation: PageOperation, *args: Any, timeout_s: float | None = None) -> Any:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        op = PageOperation(operation).value
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        try:
            # wait_for_function, unlike evaluate, honours a timeout even when the page is hung.
            job = self.page.wait_for_function(
                "([op, args]) => parity.start(op, args)", arg=[op, list(args)], timeout=timeout * 1000
            ).json_value()
            remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
            handle = self.page.wait_for_function(
                "job => parity.poll(job)", arg=job, timeout=remaining_ms, polling=POLL_INTERVAL_MS
            )
            outcome = handle.json_value()
        except PlaywrightTimeout as error:
            raise CheckTimeoutError(f"{op} on {self.backend} did not finish within {timeout:g} s") from error
        except PlaywrightError as error:
            if self.crashed or "crash" in str(error).lower() or "closed" in str(error).lower():
                self.crashed = True
                raise PageCrashedError(f"page for {self.backend} crashed during {op}: {error.message}") from error
            raise BrowserError(f"{op} on {self.backend}: {error.message}") from error
        if not outcome["ok"]:
            raise self.failed(op, outcome)
        return outcome["value"]

    def screenshot(self, path: Path, summary: str) -> None:
        self.page.evaluate(SHOW_SUMMARY, summary)
        self.page.screenshot(path=str(path), timeout=SCREENSHOT_TIMEOUT_MS)

    def close(self) -> None:
        """Close the page (without waiting for unload handlers: it may be hung) and its context."""
        try:
            self.page.close(run_before_unload=False)
            self.context.close()
        except Exception:  # noqa: BLE001 - a crashed or hung context may refuse to close cleanly
            pass


def _source(message: Any) -> str:
    """Which script logged a console message: the page, or a worker named by its file."""
    worker = getattr(message, "worker", None)
    return f"worker {worker.url.rsplit('/', 1)[-1]}" if worker else "page"


class PlaywrightBrowser:
    """One browser of one engine for the whole session, launched here or, with ``endpoint``, by a remote Playwright
    browser server (a ``driver.Browser``). ``playwright`` is the session's driver (Playwright's sync API allows one
    per thread)."""

    def __init__(self, playwright: Any, engine: Engine = CHROMIUM, endpoint: BrowserEndpoint | None = None,
                 executable: Path | None = None, own: bool = False, headless: bool = True,
                 insecure_origin: str | None = None) -> None:
        self._playwright = playwright
        self.engine = engine
        self.endpoint = endpoint
        self._insecure_origin = insecure_origin  # see ``engines.chromium_args``
        self._executable = executable  # with ``own``: Playwright's own build (from ``executables.resolve_browser``)
        self._own = own
        self._headless = headless
        self._browser: Any = None

    def start(self) -> PlaywrightBrowser:
        """Launch the engine's browser (``executable``), or connect to ``endpoint``."""
        if self.endpoint is not None:
            self._browser = self._connect(self.endpoint)
            return self
        own = self._own
        # The harness ends its browsers itself on a signal (``run.interrupt``), after it has kept every finished row.
        options: dict[str, Any] = {"executable_path": None if own else str(self._executable),
                                   "headless": self._headless and not self.engine.headed,
                                   "handle_sigint": False, "handle_sigterm": False, "handle_sighup": False}
        if self.engine is CHROMIUM:
            options.update(args=chromium_args(self._insecure_origin), chromium_sandbox=False)
        elif not own and self.engine.system_channel:
            options["channel"] = self.engine.system_channel
        if self.engine.headed:
            options["env"] = {**os.environ, "DISPLAY": display()}
        self._browser = getattr(self._playwright, self.engine.name).launch(**options)
        return self

    def _connect(self, endpoint: BrowserEndpoint) -> Any:
        """The remote browser. It reaches this machine's 127.0.0.1 (the parity server) only through Playwright's
        tunnel (``expose_network``). Our launch arguments are offered; a server may ignore them, so each page's
        facts still decide whether a backend is in effect (``backends.assert_in_effect``)."""
        from playwright.sync_api import Error as PlaywrightError

        ours = chromium_args(self._insecure_origin) if self.engine is CHROMIUM else []
        launch = {**endpoint.launch, "args": [*ours, *endpoint.launch.get("args", [])]}
        headers = {"x-playwright-launch-options": json.dumps(launch), **endpoint.headers}
        try:
            return getattr(self._playwright, self.engine.name).connect(
                endpoint.url, expose_network="<loopback>", headers=headers, timeout=CONNECT_TIMEOUT_S * 1000)
        except PlaywrightError as error:
            first = str(error.message).strip().splitlines()[0].removeprefix("BrowserType.connect: ")
            hint = (f"the server has no Playwright {self.engine.label}: give this endpoint a \"launch\": "
                    "{\"executablePath\": ...} in a --browser-endpoint file, or install Playwright's browsers there, "
                    "or give it the \"engine\" it runs (docs/remote.md)" if "Executable doesn't exist" in first else
                    "is a Playwright browser server of the same major.minor version as this Playwright listening "
                    "there?")
            raise BrowserEndpointError(f"browser endpoint {endpoint.name} ({endpoint.public_url}): cannot connect: "
                                       f"{first} ({hint})") from None

    @property
    def label(self) -> str:
        """``"Chromium 156.0.7258.5"``: the engine and its version."""
        return f"{self.engine.label} {self._browser.version}"

    def new_context(self) -> Any:
        """A fresh Playwright browser context (for pages outside the parity page, such as a rendered report)."""
        return self._browser.new_context()

    def lacks(self, capability: Capability) -> str | None:
        """Playwright gives traces everywhere, and downloads everywhere but from Firefox (``BIDI_DOWNLOADS``)."""
        return BIDI_DOWNLOADS if capability is Capability.DOWNLOADS and self.engine is FIREFOX else None

    def responsive(self) -> bool:
        """Whether the browser still answers (one round trip: a context made and closed). False once it is gone: a
        remote endpoint dropped, or the browser died; a crashed page leaves it responsive."""
        if self._browser is None or not self._browser.is_connected():
            return False
        try:
            self._browser.new_context().close()
        except Exception:  # noqa: BLE001 - whatever the transport says, the browser cannot run checks
            return False
        return True

    def new_page(self, origin: str, backend: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 trace: bool = False, cookie: dict[str, str] | None = None) -> BackendPage:
        """A fresh page in a context of its own (see ``driver.Browser.new_page``); raises ``BrowserError`` if it
        cannot be, ``BackendNotInEffectError`` if the page runs something else (another variant or tfjs version)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        context = self._browser.new_context()
        if cookie:
            context.add_cookies([{**cookie, "url": origin, "httpOnly": True, "sameSite": "Strict"}])
        page = context.new_page()
        backend_page = PlaywrightPage(backend=backend, timeout_s=timeout_s, context=context, page=page,
                                      trace=PlaywrightTrace(context) if trace else None,
                                      downloads=None if self.lacks(Capability.DOWNLOADS) else PlaywrightDownloads(page))
        page.on("crash", lambda _: setattr(backend_page, "crashed", True))
        page.on("pageerror", lambda error: backend_page.record_console("error", str(error)))
        page.on("console", lambda msg: backend_page.record_console(msg.type, msg.text, _source(msg)))
        unanswered: dict[Any, str] = {}  # request -> its path, until its response has arrived
        page.on("request", lambda request: unanswered.__setitem__(request, urlsplit(request.url).path))
        page.on("requestfinished", lambda request: unanswered.pop(request, None))
        page.on("requestfailed", lambda request: unanswered.pop(request, None))
        step = "navigating to the page"
        try:
            page.goto(page_url(origin, backend), wait_until="load", timeout=timeout_s * 1000)
            step = "waiting for the page's scripts to start"
            page.wait_for_function(PAGE_READY, timeout=timeout_s * 1000)
            activate_backend(backend_page)
        except PlaywrightTimeout:
            backend_page.close()
            waiting = f"; no answer yet to {', '.join(sorted(set(unanswered.values())))}" if unanswered else ""
            raise PageLoadTimeoutError(f"the page for {backend} did not load within {timeout_s:g} s (--timeout), "
                                       f"{step}{waiting}") from None
        except Exception:
            backend_page.close()
            raise
        return backend_page

    def close(self) -> None:
        """Close the browser (unless it is already gone)."""
        if self._browser is not None and self._browser.is_connected():
            with contextlib.suppress(Exception):  # a remote browser may drop while it closes
                self._browser.close()
        self._browser = None
