"""The run engine that ``tfjs-parity run``, ``tfjs-parity check`` and the pytest API drive.

A front end plans its work (the zoo's cached references, or users' models prepared one by one) and
hands the engine (model, backend) groups of checks. The engine owns everything else a run does: the
journal and ``--resume`` (``report.journal``), the evidence folder, the progress line, the browsers
(one launched here, several in parallel, or remote endpoints: ``run.shards``), the report rewritten
after each group in the front end's row order, interrupts (SIGINT/SIGTERM: every finished row kept,
the report marked interrupted, ``RunInterrupted`` raised), and the in-memory outcome the front end
prints and turns into an exit status.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS, out_of_scope
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import engines_of
from harness.browser.page import BackendPage
from harness.browser.server import ServeAddress
from harness.browser.tfjs_versions import TfjsSelection
from harness.browser.uploads import DEFAULT_UPLOAD_LIMIT_BYTES
from harness.checks import (
    CHECKS,
    CheckOptions,
    check_applies,
    check_stage,
    conversion_failure,
    recorded_reason,
    skip_reason,
)
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S
from harness.reference.directory import ReferenceModel
from harness.report.files import REPORT_JSON, write_document
from harness.report.journal import Journal
from harness.report.progress import Progress
from harness.results import CheckResult
from harness.run.cost import ModelCosts, estimate_lines
from harness.run.interrupt import RunInterrupted, atomic, end_everything_started
from harness.run.repeats import Repeats
from harness.run.session import EVIDENCE_DIRECTORY, ParitySession, ResultListener, fresh_evidence_folder
from harness.run.shards import Group, Shards, merge_environments
from harness.run.tensorflow_log import tensorflow_log
from harness.verdict.acceptance import AcceptList


@dataclass(frozen=True)
class RunSettings:
    """Where and how a run's checks run, whichever front end asked for them."""

    backends: tuple[str, ...] = DEFAULT_BACKENDS
    out: Path = DEFAULT_REPORT_DIR
    timeout_s: float = DEFAULT_TIMEOUT_S
    upload_limit: int = DEFAULT_UPLOAD_LIMIT_BYTES
    tfjs: TfjsSelection | None = None  # None: the pinned tfjs only
    progress: str | None = None  # a ``report.progress.MODES`` entry; None: bar on a terminal, else lines
    endpoints: tuple[BrowserEndpoint, ...] = ()  # remote browser servers sharing the work; (): launch browsers here
    parallel: int = 1  # without endpoints: how many browsers launched here share the work
    resume: bool = False  # continue the interrupted run whose journal is in ``out``: run only the checks it lacks
    repeat: int = 1  # run the groups this many times; the report lists the rows that changed (``run.repeats``)
    accept: AcceptList = field(default_factory=AcceptList)  # known issues accepted: their rows are ``xfail``
    check_options: CheckOptions = field(default_factory=CheckOptions)  # ``--min-top1``, ``--bench-batch``
    serve_on: ServeAddress | None = None  # where the page is served for a remote browser (None: 127.0.0.1)


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run gives its front end: the report (as written to ``path``) and its rows, in order."""

    path: Path
    report: dict[str, Any]
    rows: list[CheckResult]


# A front end's report: the rows so far (in order), the browsers' environment and the blocks -> the JSON document.
BuildReport = Callable[[list[CheckResult], dict[str, Any], dict[str, Any]], dict[str, Any]]
RowOrder = Callable[[CheckResult], Any]


def row_order(*dimensions: tuple[str, Sequence[str]]) -> RowOrder:
    """Rows sorted by each ``(field, names in order)`` in turn: ``row_order(("backend", backends), ("model", models),
    ("check", checks))`` is the zoo's order."""
    positions = [(field, {name: i for i, name in enumerate(names)}) for field, names in dimensions]
    return lambda row: tuple(where[getattr(row, field)] for field, where in positions)


def run_or_skip(session: ParitySession, reference: ReferenceModel, backend: str, check: str) -> CheckResult:
    """``check``'s row: run where it applies to ``reference``; a ``fail`` or ``error`` where the conversion it needs
    failed (``ParitySession.conversion_failed``); else a ``skip`` row saying why (the reason its build recorded
    first)."""
    failure = conversion_failure(check, reference)
    if failure is not None:
        return session.conversion_failed(check, reference, backend, failure)
    reason = recorded_reason(check, reference) or (None if check_applies(check, reference)
                                                   else skip_reason(check, reference))
    return session.skip(check, reference, backend, reason) if reason else session.run_check(check, reference, backend)


class RunEngine:
    """One run: ``with RunEngine(...) as engine``, then ``record`` rows made outside a browser check,
    ``run(groups, ...)`` the checks, ``finish()`` for the outcome. Leaving the block on an interrupt writes the report
    of every finished row, marked interrupted, and raises ``RunInterrupted``."""

    def __init__(self, settings: RunSettings, selection: dict[str, Any], resume_hint: str, order: RowOrder,
                 build: BuildReport) -> None:
        self.settings = settings
        self._selection = selection
        self._resume_hint = resume_hint  # how to run the rest, for an interrupted report
        self._order = order
        self._build = build
        self._lock = threading.RLock()
        self._running = threading.local()  # the repeat of the group each browser's thread runs
        self._repeats = Repeats(settings.repeat)
        self._blocks: dict[str, Any] = {}
        self._shards: Shards | None = None
        self._planning: ParitySession | None = None
        self._planning_environment: dict[str, Any] = {}
        self._page_scripts: list[Path] = []
        self._stack = contextlib.ExitStack()
        self.journal: Journal | None = None
        self._rows: list[CheckResult] = []  # the report's rows: the resumed run's, then this run's first repeat
        self._run_rows: list[CheckResult] = []  # this run's first repeat only
        self._total = 0
        self.progress: Progress  # made with the journal, which holds a resumed run's rows
        self.evidence = settings.out / EVIDENCE_DIRECTORY

    def __enter__(self) -> RunEngine:
        self.journal = Journal.start(self.settings.out, self._selection, resume=self.settings.resume)
        self._stack.enter_context(tensorflow_log(self.settings.out))
        self._stack.callback(self.journal.close)
        self.progress = Progress(1, self.settings.progress, earlier=self.journal.rows)
        self._rows = list(self.journal.rows)
        if not self.settings.resume:
            fresh_evidence_folder(self.settings.out)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                self._interrupted(str(exc[0]) or "SIGINT")
            elif self._planning is not None:
                self._close_planning()
        finally:
            self._stack.close()

    @property
    def measured(self) -> set[tuple[str, str, str]]:
        """The (model, backend, check) rows the resumed run already has."""
        assert self.journal is not None
        return {(row.model, row.backend, row.check) for row in self.journal.rows}

    @property
    def rows(self) -> list[CheckResult]:
        """Every row of the run so far (the resumed run's first), in the front end's order."""
        with self._lock:
            return sorted(self._rows, key=self._order)

    def expect(self, total: int) -> None:
        """The number of rows the run will have (for the progress line's counts and time left)."""
        self._total = total
        self.progress.total = max(total * self.settings.repeat, 1)

    def record(self, row: CheckResult) -> None:
        """Journal and show a finished row, an ``xfail`` if an acceptance covers its failure (a repeat's row goes to
        the repeats' summary instead of the report)."""
        assert self.journal is not None
        row = self.settings.accept.apply(row)
        with self._lock, atomic():
            if getattr(self._running, "repeat", 0):
                self._repeats.add(row)
            else:
                self.journal.append(row)
                self._rows.append(row)
                self._run_rows.append(row)
            self.progress(row)

    def add_page_script(self, script: Path, backends: tuple[str, ...]) -> None:
        """Run ``script`` (a user's ``--custom-js``, alone in its folder) in every page of every browser of the run
        (``backends``' pages of the planning browser open now)."""
        self._page_scripts.append(script)
        if self._planning is not None:
            self._planning.add_page_script(script, backends)

    def page(self, backend: str) -> BackendPage:
        """``backend``'s page in the planning browser, started on this thread on first use (a user's model is probed
        on a page before its reference is built); with one browser, the checks then run in it too."""
        if self._planning is None:
            endpoint = self.settings.endpoints[0] if self.settings.endpoints else None
            self._planning = self._session(endpoint, self.record).start()
        return self._planning.page(backend)

    def model_url(self, reference: ReferenceModel) -> str:
        """Where the planning browser's pages load ``reference``'s model.json from (after ``page``)."""
        assert self._planning is not None, "page() starts the planning browser"
        return self._planning.model_url(reference)

    def run(self, groups: Sequence[Group], run_one: Callable[[ParitySession, Group, str], CheckResult],
            references: Mapping[str, ReferenceModel]) -> None:
        """Run every check of ``groups`` (those the resumed run lacks), ``settings.repeat`` times, over the run's
        browsers, rewriting the report after each group; ``references`` are the groups' models, for the estimate
        printed first."""
        measured = self.measured
        todo = [Group(g.model, g.backend, tuple(c for c in g.checks if (g.model, g.backend, c) not in measured))
                for g in groups]
        todo = [g for g in todo if g.checks]
        todo += [replace(g, repeat=r) for r in range(1, self.settings.repeat) for g in groups if g.checks]
        if not todo:
            return
        self._estimate(todo, references)
        browsers = self.settings.endpoints or (None,) * self.settings.parallel  # None: a browser launched here
        if self._planning is not None and len(browsers) > 1:
            self._close_planning()  # its thread's Playwright cannot serve the shards' threads

        def run_check(session: ParitySession, group: Group, check: str) -> CheckResult:
            self._running.repeat = group.repeat
            return run_one(session, group, check)

        self._shards = Shards(browsers, self._shard_session, self.record, after_group=self.write)
        self._shards.run(todo, run_check)
        self._explain(references)

    def _explain(self, references: Mapping[str, ReferenceModel]) -> None:
        """Explain each numeric check that failed (``harness.explain``: cause, workaround), in a browser of its own
        once every check has run (so the other backends' rows count), and rewrite the report."""
        from harness.explain import explain, needs_explaining

        failing = [row for row in self._run_rows if needs_explaining(row) and row.model in references]
        if not failing:
            return
        if self.progress.mode != "quiet":
            print(f"Explaining {len(failing)} failed check(s): each first layer out of tolerance alone on every "
                  "backend, its kernels against TensorFlow, and the backends and flags where it passes",
                  file=self.progress.stream, flush=True)
        endpoint = self.settings.endpoints[0] if self.settings.endpoints else None
        with self._session(endpoint, None) as session:
            for row in failing:
                explain(session, row, references[row.model], self.settings.backends, self.rows, self.settings.out)
        self.write()

    def write(self, **blocks: Any) -> dict[str, Any]:
        """Rewrite the report of every row so far (``blocks``: see ``document.build_report``); returns it."""
        with self._lock:
            self._blocks.update(blocks)
            if self.settings.repeat > 1:
                self._blocks["repeats"] = self._repeats.summary(self.rows)
            self._blocks["acceptance"] = self.settings.accept.block(self.rows)
            report = self._build(self.rows, self.environment(), self._blocks)
            write_document(self.settings.out, report)
            return report

    def finish(self) -> RunOutcome:
        """Write the final report (with the time each estimated model and backend took); the run's outcome."""
        self.progress.finish()
        for model, backends in self._blocks.get("estimate", {}).items():
            for backend, entry in backends.items():
                entry["took_s"] = round(sum(r.seconds or 0 for r in self._run_rows
                                            if (r.model, r.backend) == (model, backend) and r.check in CHECKS), 1)
        return RunOutcome(self.settings.out / REPORT_JSON, self.write(), self.rows)

    def _estimate(self, groups: Sequence[Group], references: Mapping[str, ReferenceModel]) -> None:
        """Print how long ``groups``' checks should take per model and backend (``run.cost``), and keep it for the
        report's ``estimate`` block."""
        def runs(reference: ReferenceModel, backend: str, check: str) -> bool:
            return check_applies(check, reference) and not recorded_reason(check, reference) and \
                not conversion_failure(check, reference) and not out_of_scope(backend, check, check_stage(check))

        work = [(references[g.model], g.backend, [c for c in g.checks if runs(references[g.model], g.backend, c)])
                for g in groups if g.model in references]
        estimate = ModelCosts().estimate(work)
        self._blocks["estimate"] = {model: {backend: {"estimated_s": seconds} for backend, seconds in backends.items()}
                                    for model, backends in estimate.items()}
        if self.progress.mode != "quiet":
            lines = "".join(f"\n  {line}" for line in estimate_lines(estimate))
            print(f"Estimate (from what a sample costs Keras here, until each backend's predict measures a call):"
                  f"{lines}", file=self.progress.stream, flush=True)

    def environment(self) -> dict[str, Any]:
        """The browsers' part of the report's environment: every session's, merged."""
        planning = self._planning.environment() if self._planning is not None else self._planning_environment
        shards = self._shards.environment() if self._shards is not None else {}
        return merge_environments([e for e in (shards, planning) if e])

    def _session(self, endpoint: BrowserEndpoint | None, listener: ResultListener | None) -> ParitySession:
        session = ParitySession(self.settings.timeout_s, on_result=listener, upload_limit=self.settings.upload_limit,
                                tfjs=self.settings.tfjs, evidence=self.evidence, endpoint=endpoint,
                                engines=engines_of(self.settings.backends), options=self.settings.check_options,
                                serve_on=self.settings.serve_on)
        for script in self._page_scripts:
            session.add_page_script(script, ())
        return session

    def _shard_session(self, endpoint: BrowserEndpoint | None, listener: ResultListener) -> ParitySession:
        """A shard's session: the planning session when there is one (a single browser), else a new one."""
        if self._planning is None:
            return self._session(endpoint, listener)
        session, self._planning = self._planning, None  # the shard closes it
        self._planning_environment = session.environment()
        session.on_result = listener
        return session

    def _close_planning(self) -> None:
        assert self._planning is not None
        self._planning_environment = self._planning.environment()
        self._planning.close()
        self._planning = None

    def _interrupted(self, signal_name: str) -> None:
        """Stop the browsers, end every child process, write the report of the finished rows marked interrupted,
        and raise ``RunInterrupted`` (its report None when no row was measured)."""
        if self._shards is not None:
            self._shards.stop()
        if self._planning is not None:
            self._planning.server.stop()  # its browser ends with the child processes: closing it may hang
        end_everything_started()
        self.progress.finish()
        if not self._rows:
            raise RunInterrupted(signal_name, None) from None
        report = self.write(interrupted=f"{signal_name} after {len(self._rows)} of {self._total} checks; "
                                        f"{self._resume_hint}")
        raise RunInterrupted(signal_name, self.settings.out / REPORT_JSON, report) from None
