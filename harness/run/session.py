"""A parity session: one server, one browser, one page per backend, and guarded check runs.

A check that raises is recorded as ``error`` with the reason. A crashed or hung page is closed
and replaced by a fresh one for the next check, so one bad check never ends the run.
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.browser.backends import out_of_scope
from harness.browser.driver import Browser
from harness.browser.endpoints import BrowserEndpoint, page_reachable
from harness.browser.engines import CHROMIUM, DEFAULT_ENGINES, ENGINES, Engine, split_engine
from harness.browser.evidence import CheckRecording, folder_name
from harness.browser.executables import checked_override
from harness.browser.launch import launch
from harness.browser.page import (
    BackendPage,
    BrowserError,
    CheckTimeoutError,
    PageCrashedError,
    PageLoadTimeoutError,
    PageOperation,
)
from harness.browser.server import ParityServer, ServeAddress
from harness.browser.tfjs_versions import TfjsSelection
from harness.browser.uploads import DEFAULT_UPLOAD_LIMIT_BYTES
from harness.checks import CHECKS, CheckContext, CheckFunction, CheckOptions, check_stage
from harness.errors import HarnessError
from harness.reference.directory import ReferenceModel
from harness.reference.keras_env import library_versions
from harness.results import CheckResult
from harness.run.cost import ModelCosts
from harness.verdict.acceptance import AcceptList
from harness.verdict.known_issues import (
    CONVERTER_REFUSED,
    TFJS_THREW,
    KnownIssue,
    cannot_run,
    failed_with,
    shown_by_graph,
)

ResultListener = Callable[[CheckResult], None]


class ParitySession:
    """Runs checks in the browser and hands each result to ``on_result``."""

    def __init__(self, timeout_s: float, on_result: ResultListener | None = None,
                 upload_limit: int = DEFAULT_UPLOAD_LIMIT_BYTES, tfjs: TfjsSelection | None = None,
                 evidence: Path | None = None, endpoint: BrowserEndpoint | None = None,
                 engines: tuple[str, ...] = DEFAULT_ENGINES, accept: AcceptList | None = None,
                 options: CheckOptions | None = None, serve_on: ServeAddress | None = None) -> None:
        self.timeout_s = timeout_s
        self.options = options or CheckOptions()  # what every check is asked (``--min-top1``, ``--bench-batch``)
        self.on_result = on_result
        self.accept = accept or AcceptList()  # known issues accepted: their rows are ``xfail`` (the pytest API's)
        self.evidence = evidence  # where a failed check's console log, screenshot and trace go (None: nowhere)
        self.endpoint = endpoint  # a remote browser server; None: launch browsers here
        page_reachable((endpoint,) if endpoint else (), serve_on is not None)
        self.engines = engines  # launched at start; another engine's browser is launched when a backend needs it
        self.server = ParityServer(upload_limit, tfjs, serve_on)
        self.backend_info: dict[str, dict[str, Any]] = {}
        self.costs = ModelCosts()  # each model's call cost per backend: each check's time limit follows it
        self._playwright: Any = None
        self._started = False
        self._browsers: dict[str, Browser] = {}
        self._pages: dict[str, BackendPage] = {}
        self._mounts: dict[Path, str] = {}
        self._scripts: list[Path] = []  # run in every page made (``add_page_script``)

    def start(self) -> ParitySession:
        """Start the server and the browser of each of ``engines`` (nothing if started already)."""
        if self._started:
            return self
        if self.endpoint is None:  # a bad override variable is reported before a browser starts
            for engine in self.engines:
                checked_override(ENGINES[engine])
        self.server.start()
        self._started = True
        try:
            for engine in self.engines:
                if self.endpoint is None or self.endpoint.serves(engine):
                    self.browser(ENGINES[engine])
        except BaseException:
            self.close()  # a driver left running would refuse every later sync_playwright() in this thread
            raise
        return self

    def browser(self, engine: Engine = CHROMIUM) -> Browser:
        """The session's browser of ``engine``, launched (or connected) on first use (``launch``)."""
        if engine.name not in self._browsers:
            self._browsers[engine.name] = launch(engine, self.endpoint, self._playwright_driver,
                                                 self.server.insecure_origin)
        return self._browsers[engine.name]

    def _playwright_driver(self) -> Any:
        """The session's Playwright driver, started on first need (a WebDriver-only session never starts one)."""
        from playwright.sync_api import sync_playwright

        if self._playwright is None:
            self._playwright = sync_playwright().start()
        return self._playwright

    def responsive(self) -> bool:
        """Whether every browser of the session still answers (see ``driver.Browser.responsive``)."""
        return all(browser.responsive() for browser in self._browsers.values())

    def close(self) -> None:
        """Close every page, the browsers, Playwright and the server."""
        for page in self._pages.values():
            page.close()
        self._pages.clear()
        for browser in self._browsers.values():
            browser.close()
        self._browsers.clear()
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None
        self._started = False
        self.server.stop()

    def __enter__(self) -> ParitySession:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.server.stop()  # interrupted: the caller ends the browsers (``run.interrupt``); closing them may hang
        else:
            self.close()

    def page(self, backend: str) -> BackendPage:
        """The live page for ``backend``, made on first use (and again after a crash or hang)."""
        page = self._pages.get(backend)
        if page is None or page.crashed:
            if page is not None:
                page.close()
            try:
                page = self._new_page(backend)
            except PageLoadTimeoutError as first:  # seen once in hundreds of pages on a loaded machine: tried again
                try:
                    page = self._new_page(backend)
                except PageLoadTimeoutError as second:
                    tries = "on two tries" if str(first) == str(second) else f"and on a first try: {first}"
                    raise PageLoadTimeoutError(f"{second} ({tries})") from None
            for script in self._scripts:
                page.call(PageOperation.ADD_SCRIPT, self.file_url(script.parent, script.name))
            self._pages[backend] = page
            self.backend_info[backend] = page.info
        return page

    def _new_page(self, backend: str) -> BackendPage:
        """A fresh page for ``backend`` in its engine's browser (launched on first use)."""
        return self.browser(split_engine(backend)[0]).new_page(
            self.server.origin, backend, timeout_s=self.timeout_s, trace=self.evidence is not None,
            cookie=self.server.cookie)

    def add_page_script(self, script: Path, backends: tuple[str, ...]) -> None:
        """Run ``script`` (a user's ``--custom-js``, served from its folder) in every open page and ``backends``'
        pages now, and in every page made later (after a crash or an error, a fresh page gets it too)."""
        self._scripts.append(script)
        for backend in dict.fromkeys([*self._pages, *backends]):
            page = self._pages.get(backend)
            if page is None:
                self.page(backend)
            else:
                page.call(PageOperation.ADD_SCRIPT, self.file_url(script.parent, script.name))

    def close_pages_except(self, backend: str) -> None:
        """Close every page but ``backend``'s, to free their memory when a run has moved on to ``backend``."""
        for other in [name for name in self._pages if name != backend]:
            self.discard_page(other)

    def discard_page(self, backend: str) -> None:
        """Close ``backend``'s page; the next check gets a fresh one."""
        page = self._pages.pop(backend, None)
        if page is not None:
            page.close()

    def _drop_dead_browsers(self) -> None:
        """Forget every browser that no longer answers, and its pages; the next check launches it again."""
        for name, browser in list(self._browsers.items()):
            if not browser.responsive():
                for backend in [b for b in self._pages if split_engine(b)[0].name == name]:
                    self._pages.pop(backend).close()
                browser.close()
                del self._browsers[name]

    def model_url(self, reference: ReferenceModel) -> str:
        """Where the page loads ``reference``'s model.json from."""
        return self.file_url(reference.directory, reference.model_json)

    def file_url(self, directory: Path, name: str) -> str:
        """Where the page finds file ``name`` of ``directory`` (mounted on first use)."""
        directory = directory.resolve()
        if directory not in self._mounts:
            self._mounts[directory] = self.server.mount(directory)
        return self._mounts[directory] + name

    def run_check(self, check: str, reference: ReferenceModel, backend: str,
                  function: CheckFunction | None = None, quiet: bool = False) -> CheckResult:
        """Run check ``check`` (or ``function`` under that name); never raises for a check's failure. ``quiet``: a
        rerun that is not a row of the run (an explanation's workaround search): no listener, no evidence."""
        started = time.perf_counter()
        recording: CheckRecording | None = None
        limit = self.costs.time_limit(check, reference, backend, self.timeout_s)
        raised = True  # until the check returns: a page whose check raised is not reused
        try:
            reason = out_of_scope(backend, check, check_stage(check) if function is None else None) or (
                self._lacks(check, backend) if function is None else None)
            if reason:  # the browser (on the endpoint that would run it) cannot: a row of that endpoint
                skipped = CheckResult(model=reference.name, backend=backend, check=check, status="skip",
                                      message=f"{check} on {backend}: {reason}",
                                      details={"endpoint": self.endpoint.name} if self.endpoint else {})
                return self._finish(skipped, started, quiet)
            function = function or CHECKS[check].run
            url = self.model_url(reference)
            page = self.page(backend)
            recording = CheckRecording(page, f"{reference.name} / {check} / {backend}")
            page.timeout_s = limit.seconds
            try:
                result = function(CheckContext(check, backend, page, reference, url, self.server,
                                                     self.options))
            finally:
                page.timeout_s = self.timeout_s
            raised = False
        except CheckTimeoutError as error:
            result = self._error(check, reference, backend, f"{error} (the check's limit: {limit.reason}); a fresh "
                                                            "page was made for the next check")
        except PageCrashedError as error:
            result = self._error(check, reference, backend, f"{error}; a fresh page was made for the next check")
        except BrowserError as error:
            result = self._browser_error(check, reference, backend, error)
        except (HarnessError, OSError, KeyError) as error:
            result = self._error(check, reference, backend, self._name_files(str(error), reference))
        except Exception as error:  # noqa: BLE001 - one broken check must not end the run
            result = self._error(check, reference, backend, f"{type(error).__name__}: {error}")
        if result.status == "fail" and "known_issue" not in result.details and (shown := self._shown_by_graph(
                check, reference)):
            failed_with(result, *shown)
        gone = result.status == "error" and not self.responsive()
        if gone and self.endpoint is None:  # a browser launched here: launch it again, the run goes on
            self._drop_dead_browsers()
            result.message += ("\n\nThe browser was gone after this check (killed, out of memory or crashed); it was "
                               "launched again for the next check.")
            gone = False
        if recording is not None and not gone:  # else (a lost remote endpoint) the check runs again elsewhere
            self._keep_evidence(recording, result) if not quiet else recording.drop()
        if raised or result.status == "error":  # models left on it, a lost WebGL context, a crash: not reused
            self.discard_page(backend)
        if self.endpoint is not None:
            result.details["endpoint"] = self.endpoint.name
        if limit.seconds > self.timeout_s:
            result.details["time_limit_s"] = limit.seconds
        self._finish(result, started, quiet)
        self.costs.learn(result, reference)
        return result

    def _lacks(self, check: str, backend: str) -> str | None:
        """Why ``backend``'s browser cannot give what ``check`` needs (``Check.needs``), or None."""
        browser = self.browser(split_engine(backend)[0])
        return next((reason for need in CHECKS[check].needs if (reason := browser.lacks(need))), None)

    def _keep_evidence(self, recording: CheckRecording, result: CheckResult) -> None:
        """A failed or errored row gets its check's console log, screenshot and trace (``evidence``), named in
        ``details["evidence"]`` relative to the report directory; a passing one drops them."""
        if self.evidence is None or result.status not in ("fail", "error"):
            recording.drop()
            return
        directory = self.evidence.joinpath(*map(folder_name, (result.model, result.backend, result.check)))
        summary = f"{result.status}: {result.model} / {result.check} / {result.backend}\n\n{result.message}"
        kept = recording.keep(directory, summary)
        result.details["evidence"] = {kind: str(Path(path).relative_to(self.evidence.parent))
                                      for kind, path in kept.items()}

    def skip(self, check: str, reference: ReferenceModel, backend: str, reason: str) -> CheckResult:
        """Record that ``check`` does not apply to ``reference``, and why."""
        result = CheckResult(model=reference.name, backend=backend, check=check, status="skip", message=reason)
        return self._finish(result, time.perf_counter())

    def conversion_failed(self, check: str, reference: ReferenceModel, backend: str,
                          failure: dict[str, str]) -> CheckResult:
        """The row of a check whose conversion failed when the reference was built: the converter refused the model
        (tfjs cannot have it that way: a ``fail``, ``tfjs-converter-refused``), or the harness' own export broke (an
        ``error``: a harness bug, not a property of the model)."""
        result = CheckResult(model=reference.name, backend=backend, check=check, status="error",
                             message=failure["message"], details={"conversion_failed_by": failure["by"]})
        if failure["by"] == "harness":
            result.message = (f"the harness' own export broke, not the model: {failure['message']}\n(a tfjs-parity "
                              "bug: please report it with this message)")
        else:
            failed_with(result, CONVERTER_REFUSED, f"the tensorflowjs converter refused this model for {check}")
        return self._finish(result, time.perf_counter())

    def record(self, result: CheckResult) -> CheckResult:
        """Hand a row (also one made outside ``run_check``: a model's preflight, a reference that could not be built)
        to the listener, an ``xfail`` if an acceptance covers its failure."""
        result = self.accept.apply(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _finish(self, result: CheckResult, started: float, quiet: bool = False) -> CheckResult:
        result.seconds = round(time.perf_counter() - started, 3)
        return result if quiet else self.record(result)

    def _browser_error(self, check: str, reference: ReferenceModel, backend: str, error: BrowserError) -> CheckResult:
        """What an exception in the page means. A known issue's message (a missing or limited kernel, see
        ``known_issues.CANNOT_RUN``), or an exception thrown in tfjs' code or the user's script: tfjs cannot run this
        here, a ``fail`` naming the known issue (``tfjs-threw`` when none explains it). Anything else (thrown in the
        page's own code, or a page that did not say where): the harness broke, an ``error`` naming files on disk."""
        message = self._name_files(str(error), reference)
        known = cannot_run(str(error))
        if known is None and error.thrown_in not in ("tfjs", "user script"):
            where = f" (thrown in the harness' page code, {error.frame})" if error.thrown_in == "harness" else ""
            return self._error(check, reference, backend, message + where)
        issue, reason = known or self._shown_by_graph(check, reference) or (
            TFJS_THREW, f"tfjs threw in {error.frame or error.thrown_in}")
        result = CheckResult(model=reference.name, backend=backend, check=check, status="fail", message=message,
                             details={"thrown_in": error.thrown_in, "frame": error.frame} if error.thrown_in else {})
        return failed_with(result, issue, f"tfjs cannot run this here: {reason}")

    @staticmethod
    def _shown_by_graph(check: str, reference: ReferenceModel) -> tuple[KnownIssue, str] | None:
        """The known issue the graph model ``check`` runs shows (``known_issues.shown_by_graph``), if it runs one."""
        conversion = CHECKS[check].conversion if check in CHECKS else None
        if conversion is None:
            return shown_by_graph(reference.directory / reference.model_json)
        entry = reference.conversions.get(conversion)
        return shown_by_graph(reference.directory / entry["directory"] / "model.json") if entry else None

    def _error(self, check: str, reference: ReferenceModel, backend: str, message: str) -> CheckResult:
        return CheckResult(model=reference.name, backend=backend, check=check, status="error", message=message)

    def _name_files(self, message: str, reference: ReferenceModel) -> str:
        """Replace the page's URLs of reference files and of saved models by their paths on disk."""
        prefix = self._mounts.get(reference.directory.resolve())
        message = message.replace(prefix, f"{reference.directory}/") if prefix else message
        return self.server.name_saved_files(message)

    def environment(self) -> dict[str, Any]:
        """The report's environment block: versions, platform, and each backend's facts."""
        return {
            "browser": self._browser_labels() or None,
            **({"browser_endpoints": {self.endpoint.name: self.endpoint_facts()}} if self.endpoint else {}),
            "tfjs": ", ".join(dict.fromkeys(str(i.get("tfjsVersion")) for i in self.backend_info.values())) or None,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "libraries": library_versions(),
            "backends": dict(self.backend_info),
            "tfjs_bundles": self.server.served_bundles(),
            "gpu_note": _gpu_note(self.backend_info),
        }

    def endpoint_facts(self) -> dict[str, Any]:
        """What the report records of a remote endpoint: its URL (no query string), browser, and each backend's facts
        there (renderer, cross-origin isolation, SIMD, threads...)."""
        assert self.endpoint is not None
        return {
            "url": self.endpoint.public_url,
            "browser": self._browser_labels(),
            "backends": dict(self.backend_info),
        }

    def _browser_labels(self) -> str:
        """``"Chromium 156.0..., Firefox 153.7.0"``: the session's browsers so far."""
        return ", ".join(browser.label for browser in self._browsers.values())


EVIDENCE_DIRECTORY = "evidence"


def fresh_evidence_folder(report_dir: Path) -> Path:
    """``report_dir/evidence``, emptied of an earlier run's evidence (a failed check of this run writes there)."""
    folder = report_dir / EVIDENCE_DIRECTORY
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def reference_environment(references: dict[str, ReferenceModel]) -> dict[str, Any]:
    """What the report records about the references: the oneDNN setting they were built with, and cache keys."""
    return {
        "onednn": ",".join(sorted({str(ref.build_info.get("onednn")) for ref in references.values()})),
        "fixtures": {name: ref.build_info.get("key") for name, ref in references.items()},
    }


def _gpu_note(backend_info: dict[str, dict[str, Any]]) -> str | None:
    renderers = {i.get("webglRenderer") or "" for i in backend_info.values()}
    if any("SwiftShader" in r for r in renderers):
        return "WebGL/WebGPU ran on SwiftShader (software rendering, no GPU): their timings are not GPU timings."
    return None
