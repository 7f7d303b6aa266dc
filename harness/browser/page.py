"""Browsers through Playwright's sync API: one browser per engine, one page (and context) per backend.

Every page call is a job on the page (``parity.start``) that Python polls with its own timeout,
so a hung or crashed page surfaces as ``CheckTimeoutError`` or ``PageCrashedError`` instead of
hanging the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from harness.browser.backends import assert_in_effect, backend_variant, split_backend_id
from harness.browser.display import display
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import CHROMIUM, Engine
from harness.errors import HarnessError, SetupError
from harness.options import DEFAULT_TIMEOUT_S



class PageOperation(str, Enum):
    """The page's operations: the keys of ``operations`` in ``web/page.js``, the only names ``BackendPage.call``
    takes (``tests/test_page_operations.py`` keeps the two lists equal)."""

    INFO = "info"
    SET_BACKEND = "setBackend"
    LOAD = "load"
    TOPOLOGY = "topology"
    PREDICT = "predict"
    LAYER_OUTPUTS = "layerOutputs"
    WITH_INNER_OUTPUTS = "withInnerOutputs"
    PERTURB_WEIGHT = "perturbWeight"
    MOST_VISIBLE = "mostVisible"
    PLANT = "plant"
    DISPOSE = "dispose"
    TRAIN = "train"
    TRAIN_IN_WORKER = "trainInWorker"
    CORE_API = "coreApi"
    FINGERPRINT = "fingerprint"
    SAVE = "save"
    TRAINED_MODEL = "trainedModel"
    LIST_MODELS = "listModels"
    CLEAR_STORAGE = "clearStorage"
    COPY_MODEL = "copyModel"
    MOVE_MODEL = "moveModel"
    REMOVE_MODEL = "removeModel"
    TAMPER_STORED = "tamperStored"
    GRAPH_RUN = "graphRun"
    MEMORY = "memory"
    SPEED = "speed"
    GRAPH_NODES = "graphNodes"
    LAYER_ALONE = "layerAlone"
    KERNEL_ALONE = "kernelAlone"
    OPEN_REPRO = "openRepro"
    ADD_SCRIPT = "addScript"
    REGISTERED_CLASSES = "registeredClasses"
    PROBE_LAYERS = "probeLayers"


POLL_INTERVAL_MS = 5
CONNECT_TIMEOUT_S = 60  # a cloud grid may queue a session for a while before it starts a browser
# Chromium silently drops a page's downloads beyond 10 within one second; stay below that.
DOWNLOADS_PER_SECOND = 8
CHROMIUM_ARGS = (
    # The machines this runs on have no network; without these Chromium floods it with requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    # WebGL/WebGPU on SwiftShader when there is no GPU.
    "--enable-unsafe-swiftshader",
    "--enable-unsafe-webgpu",
    "--ignore-gpu-blocklist",
)


class BrowserError(HarnessError):
    """The page reported an error (a JS exception in a harness operation). ``thrown_in``: where the page says the
    exception was thrown (``web/errors.js``): ``"tfjs"``, ``"harness"`` (the page's own code), ``"user script"`` (a
    ``--custom-js``) or ``"unknown"``; ``frame`` the script's path; both empty when the page did not say."""

    def __init__(self, message: str, thrown_in: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.thrown_in = (thrown_in or {}).get("place", "")
        self.frame = (thrown_in or {}).get("frame", "")


class PageCrashedError(BrowserError):
    """The page's renderer crashed or the page was closed under the call."""


class CheckTimeoutError(BrowserError):
    """A page call did not finish within its timeout."""


@dataclass
class BackendPage:
    """A page with one tfjs backend active, in its own browser context."""

    backend: str
    context: Any
    page: Any
    timeout_s: float
    info: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # every message of the page and its workers, timed
    tracing: bool = False  # a Playwright trace runs on the context (see ``evidence``)
    downloads: list[Any] = field(default_factory=list)
    _download_times: list[float] = field(default_factory=list)
    crashed: bool = False
    _models: dict[str, int] = field(default_factory=dict)
    _reads: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def call(self, operation: PageOperation, *args: Any, timeout_s: float | None = None) -> Any:
        """Run the page's ``operation`` and return its value."""
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
            console = "".join(f"\n  console: {line}" for line in self.console_errors[-3:])
            self.console_errors.clear()
            raise BrowserError(f"{op} on {self.backend} failed: {outcome['error']}{console}", outcome.get("thrownIn"))
        return outcome["value"]

    def record_console(self, kind: str, text: str, source: str = "page") -> None:
        """Keep every console message (for a failed check's evidence) and the errors apart: they explain a failed
        call."""
        self.console.append(f"{time.strftime('%H:%M:%S')} [{source}] {kind}: {text}")
        if kind == "error":
            self.console_errors.append(text)

    def make_room_for_downloads(self, count: int) -> None:
        """Wait until ``count`` more downloads fit in Chromium's per-second limit, and book them."""
        while True:
            now = time.monotonic()
            self._download_times[:] = [t for t in self._download_times if now - t < 1.0]
            if len(self._download_times) + count <= DOWNLOADS_PER_SECOND:
                self._download_times.extend([now] * count)
                return
            self.page.wait_for_timeout((1.0 - (now - self._download_times[0])) * 1000 + POLL_INTERVAL_MS)

    def take_downloads(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        """The next ``count`` downloads the page started (Playwright ``Download``s), waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(self.downloads) < count:
            if time.monotonic() > deadline:
                raise BrowserError(f"the page on {self.backend} started {len(self.downloads)} downloads within "
                                   f"{timeout_s:g} s, not {count}")
            self.page.wait_for_timeout(POLL_INTERVAL_MS * 4)
        taken, self.downloads[:] = self.downloads[:count], self.downloads[count:]
        return taken

    def model(self, url: str) -> int:
        """The id of the model at ``url`` on this page, loading it on first use: one model, warmed by the first check
        that calls it, shared by the checks that only read it (never changed, never disposed by them)."""
        if url not in self._models:
            self._models[url] = self.call(PageOperation.LOAD, url)
        return self._models[url]

    def read(self, operation: PageOperation, model_id: int, *args: Any) -> Any:
        """``call(operation, model_id, *args)``, remembered for a shared model (``model``): a read-only operation
        gives the same answer again, so later checks reuse the first one."""
        if model_id not in self._models.values():
            return self.call(operation, model_id, *args)
        key = (operation, model_id, *map(repr, args))
        if key not in self._reads:
            self._reads[key] = self.call(operation, model_id, *args)
        return self._reads[key]

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


PAGE_READY = "() => self.parity && self.parity.start"


def page_url(origin: str, backend: str) -> str:
    """The parity page for ``backend``: the default tfjs, or the version its id names."""
    _, version = split_backend_id(backend)
    return f"{origin}/" + (f"?tfjs={version}" if version else "")


def activate_backend(page: BackendPage) -> None:
    """Make ``page.backend``'s variant the page's backend and keep the facts the page reports; raises
    ``BackendNotInEffectError`` if they show something else (another variant or tfjs version)."""
    variant = backend_variant(page.backend)
    page.info = page.call(PageOperation.SET_BACKEND, variant.tfjs_backend, variant.flags, variant.wasm_threads)
    assert_in_effect(page.backend, page.info)


class BrowserEndpointError(SetupError):
    """A remote browser server could not be reached, or refused the connection."""


class ParityBrowser:
    """One browser of one engine for the whole session, launched here or, with ``endpoint``, by a remote Playwright
    browser server; makes a fresh ``BackendPage`` per backend on demand. ``playwright`` is the session's driver
    (Playwright's sync API allows one per thread)."""

    def __init__(self, playwright: Any, engine: Engine = CHROMIUM, endpoint: BrowserEndpoint | None = None,
                 executable: Path | None = None, own: bool = False, headless: bool = True,
                 insecure_origin: str | None = None) -> None:
        self._playwright = playwright
        self.engine = engine
        self.endpoint = endpoint
        # The page's origin when it is plain HTTP off loopback (``--serve-on``): Chromium is told to count it a
        # secure context, which cross-origin isolation (threaded WASM) and WebGPU need.
        self._insecure_origin = insecure_origin
        self._executable = executable  # with ``own``: Playwright's own build (from ``executables.resolve_browser``)
        self._own = own
        self._headless = headless
        self._browser: Any = None

    def start(self) -> ParityBrowser:
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
            options.update(args=self._chromium_args(), chromium_sandbox=False)
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

        ours = self._chromium_args() if self.engine is CHROMIUM else []
        launch = {**endpoint.launch, "args": [*ours, *endpoint.launch.get("args", [])]}
        headers = {"x-playwright-launch-options": json.dumps(launch), **endpoint.headers}
        try:
            return getattr(self._playwright, self.engine.name).connect(
                endpoint.url, expose_network="<loopback>", headers=headers, timeout=CONNECT_TIMEOUT_S * 1000)
        except PlaywrightError as error:
            first = str(error.message).strip().splitlines()[0].removeprefix("BrowserType.connect: ")
            hint = (f"the server has no Playwright {self.engine.label}: give this endpoint a \"launch\": "
                    "{\"executablePath\": ...} in a --browser-endpoint file, or install Playwright's browsers there "
                    "(docs/remote.md)" if "Executable doesn't exist" in first else
                    "is a Playwright browser server of the same major.minor version as this Playwright listening "
                    "there?")
            raise BrowserEndpointError(f"browser endpoint {endpoint.name} ({endpoint.public_url}): cannot connect: "
                                       f"{first} ({hint})") from None

    def _chromium_args(self) -> list[str]:
        if not self._insecure_origin:
            return list(CHROMIUM_ARGS)
        return [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={self._insecure_origin}"]

    @property
    def label(self) -> str:
        """``"Chromium 156.0.7258.5"``: the engine and its version."""
        return f"{self.engine.label} {self.version}"

    @property
    def version(self) -> str:
        return self._browser.version

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

    def new_context(self) -> Any:
        """A fresh Playwright browser context (for pages outside the parity page, such as a report)."""
        return self._browser.new_context()

    def new_page(self, origin: str, backend: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 trace: bool = False, cookie: dict[str, str] | None = None) -> BackendPage:
        """A fresh page at ``origin`` with backend id ``backend`` (see ``backends``) in effect, with a Playwright
        trace running on its context when ``trace``, holding ``cookie`` (the server's secret, ``--serve-on``) before
        its first request; raises ``BrowserError`` if it cannot be, ``BackendNotInEffectError`` if the page runs
        something else (another variant or tfjs version)."""
        context = self._browser.new_context()
        if cookie:
            context.add_cookies([{**cookie, "url": origin, "httpOnly": True, "sameSite": "Strict"}])
        if trace:
            # No DOM snapshots or screencast: the page has no UI to show; the calls, console and network are what count.
            context.tracing.start(snapshots=False, screenshots=False, sources=False)
            # Each check records a chunk of its own (``evidence``). The chunk ``start`` opens would never end, and
            # Playwright removes a chunk's temp directory only when it ends.
            context.tracing.stop_chunk()
        page = context.new_page()
        backend_page = BackendPage(backend=backend, context=context, page=page, timeout_s=timeout_s, tracing=trace)
        page.on("crash", lambda _: setattr(backend_page, "crashed", True))
        page.on("pageerror", lambda error: backend_page.record_console("error", str(error)))
        page.on("console", lambda msg: backend_page.record_console(msg.type, msg.text, _source(msg)))
        page.on("download", lambda download: backend_page.downloads.append(download))
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.goto(page_url(origin, backend), wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_function(PAGE_READY, timeout=timeout_s * 1000)
            activate_backend(backend_page)
        except PlaywrightTimeout:
            backend_page.close()
            raise CheckTimeoutError(f"the page for {backend} did not load within {timeout_s:g} s (--timeout)") from None
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
