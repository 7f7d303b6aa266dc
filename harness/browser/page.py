"""The parity page as Python sees it: its operations, its errors, and ``BackendPage``, the page a driver makes.

Every page call is a job on the page (``parity.start``) that Python polls with its own timeout,
so a hung or crashed page surfaces as ``CheckTimeoutError`` or ``PageCrashedError`` instead of
hanging the run. The drivers (``playwright_driver``, ``webdriver``) make the pages; ``driver``
holds the protocol they share.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from harness.browser.backends import assert_in_effect, backend_variant, split_backend_id
from harness.errors import HarnessError, SetupError


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


class PageLoadTimeoutError(CheckTimeoutError):
    """A new page did not load (its browser session start, navigate, fetch and start its scripts) within its timeout,
    or its WebDriver session's start broke off while the server still answers: either way, worth one more try."""


Outcome = TypeVar("Outcome")


def or_thrown(call: Callable[..., Outcome], *args: Any) -> Outcome | BrowserError:
    """``call(*args)``'s value, or the ``BrowserError`` it raised where the page threw (tfjs cannot run it there: a
    finding, not a broken page); a timeout or a crash still raises."""
    try:
        return call(*args)
    except (CheckTimeoutError, PageCrashedError):
        raise
    except BrowserError as error:
        return error


class Downloads(Protocol):
    """A page's downloads as they reach Python (``Capability.DOWNLOADS``)."""

    def clear(self) -> None:
        """Forget downloads not taken yet."""

    def make_room(self, count: int) -> None:
        """Wait until ``count`` more downloads fit in the browser's rate limit, and book them."""

    def take(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        """The next ``count`` downloads (each with ``suggested_filename``, ``failure()``, ``save_as(path)``)."""


class Trace(Protocol):
    """A trace of a page's calls, one chunk per check (``Capability.TRACES``)."""

    def start_chunk(self, title: str) -> None:
        """Start recording a check."""

    def stop_chunk(self, path: Path | None = None) -> None:
        """Stop recording; write the chunk to ``path`` (None: drop it)."""


@dataclass
class BackendPage(ABC):
    """A page with one tfjs backend active (in its own browser context or session), made by a ``driver.Browser``.
    ``downloads`` and ``trace`` are what the driver can give of them (None: it cannot)."""

    backend: str
    timeout_s: float
    info: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # every message of the page and its workers, timed
    downloads: Downloads | None = None
    trace: Trace | None = None
    crashed: bool = False
    _models: dict[str, int] = field(default_factory=dict)
    _reads: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @abstractmethod
    def call(self, operation: PageOperation, *args: Any, timeout_s: float | None = None) -> Any:
        """Run the page's ``operation`` (``parity.start``, then ``parity.poll`` until it ends) and return its value;
        ``CheckTimeoutError`` past the timeout, ``PageCrashedError`` if the page is gone, ``BrowserError`` if the
        operation threw."""

    @abstractmethod
    def screenshot(self, path: Path, summary: str) -> None:
        """Write ``summary`` on the page and a screenshot of it to ``path``."""

    @abstractmethod
    def close(self) -> None:
        """Close the page without waiting for it (it may be hung)."""

    def failed(self, op: str, outcome: dict[str, Any]) -> BrowserError:
        """The error of an operation the page reports as failed, with the page's last console errors."""
        console = "".join(f"\n  console: {line}" for line in self.console_errors[-3:])
        self.console_errors.clear()
        return BrowserError(f"{op} on {self.backend} failed: {outcome['error']}{console}", outcome.get("thrownIn"))

    def record_console(self, kind: str, text: str, source: str = "page") -> None:
        """Keep every console message (for a failed check's evidence) and the errors apart: they explain a failed
        call."""
        self.console.append(f"{time.strftime('%H:%M:%S')} [{source}] {kind}: {text}")
        if kind == "error":
            self.console_errors.append(text)

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


SHOW_SUMMARY = """(text) => {
  let panel = document.getElementById('parity-failure');
  if (!panel) {
    panel = document.createElement('pre');
    panel.id = 'parity-failure';
    panel.style.cssText = 'white-space:pre-wrap;font:13px monospace;border:2px solid #c62828;padding:8px';
    document.body.appendChild(panel);
  }
  panel.textContent = text;
}"""


PAGE_READY = "() => self.parity && self.parity.start"


def page_url(origin: str, backend: str) -> str:
    """The parity page for ``backend``: the default tfjs, or the version its id names."""
    _, version = split_backend_id(backend)
    return f"{origin}/" + (f"?tfjs={version}" if version else "")


def activate_backend(page: BackendPage) -> None:
    """Make ``page.backend``'s variant the page's backend and keep the facts the page reports; raises
    ``BackendNotInEffectError`` if they show something else (another variant or tfjs version)."""
    variant = backend_variant(page.backend)
    page.info = page.call(PageOperation.SET_BACKEND, variant.tfjs_backend, variant.flags, variant.wasm_threads,
                          variant.emulation)
    assert_in_effect(page.backend, page.info)


class BrowserEndpointError(SetupError):
    """A remote browser server could not be reached, or refused the connection."""
