"""A whole parity run: references, then every model x backend x check in the local browser or sharded over remote
browser endpoints (``run.shards``), and the report."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import engines_of
from harness.browser.tfjs_versions import TfjsSelection
from harness.browser.uploads import DEFAULT_UPLOAD_LIMIT_BYTES
from harness.checks import DEFAULT_CHECKS, check_applies, recorded_reason
from harness.checks.power import measure_power
from harness.errors import HarnessError
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S, reference_timeout
from harness.reference.cache import DEFAULT_FIXTURES_DIR, ensure_references
from harness.reference.directory import ReferenceModel
from harness.report.baseline import RegressionRules, compare_with_baseline, load_baseline
from harness.report.files import REPORT_JSON, write_atomically, write_report
from harness.report.journal import Journal
from harness.report.junit import write_junit
from harness.report.progress import Progress
from harness.results import CheckResult
from harness.run.interrupt import RunInterrupted, deadline, end_everything_started
from harness.run.repeats import Repeats
from harness.run.session import (
    EVIDENCE_DIRECTORY,
    ParitySession,
    ResultListener,
    fresh_evidence_folder,
    reference_environment,
)
from harness.run.shards import Group, Shards
from harness.run.tensorflow_log import TENSORFLOW_LOG, tensorflow_log


@dataclass(frozen=True)
class RunOptions:
    """What to run and where to write the report."""

    models: tuple[str, ...]
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    checks: tuple[str, ...] = DEFAULT_CHECKS
    out: Path = DEFAULT_REPORT_DIR
    fixtures: Path = DEFAULT_FIXTURES_DIR
    timeout_s: float = DEFAULT_TIMEOUT_S
    upload_limit: int = DEFAULT_UPLOAD_LIMIT_BYTES
    baseline: Path | None = None
    save_baseline: Path | None = None
    junit: Path | None = None
    rules: RegressionRules = RegressionRules()
    tfjs: TfjsSelection | None = None  # None: the pinned tfjs only
    progress: str | None = None  # a ``report.progress.MODES`` entry; None: bar on a terminal, else lines
    endpoints: tuple[BrowserEndpoint, ...] = ()  # remote browser servers sharing the work; (): launch browsers here
    parallel: int = 1  # without endpoints: how many browsers launched here share the work
    resume: bool = False  # continue the interrupted run whose journal is in ``out``: run only the checks it lacks
    repeat: int = 1  # run the selection this many times; the report lists the rows that changed (``run.repeats``)
    power: str | None = None  # a backend id: after the checks, plant faults to show what predict catches there
    reference_timeout_s: float | None = None  # the missing references' build; None: options.reference_timeout's default


def run_parity(options: RunOptions) -> tuple[Path, list[CheckResult]]:
    """Run every check, showing each as it finishes. Each row is journaled as it finishes (``report.journal``) and
    the report is rewritten after each (model, backend) group, its rows in the usual order (backend, model, check)
    whichever browser ran them. On SIGINT or SIGTERM (``KeyboardInterrupt``, see ``run.interrupt``) the report of
    every finished row is written, marked interrupted, and ``RunInterrupted`` raised. TensorFlow's own log lines
    go to ``OUT/tensorflow.log``."""
    baseline = load_baseline(options.baseline) if options.baseline else None
    selection = {"models": list(options.models), "backends": list(options.backends), "checks": list(options.checks)}
    journal = Journal.start(options.out, selection, resume=options.resume)
    measured = {(r.model, r.backend, r.check) for r in journal.rows}
    with tensorflow_log(options.out), contextlib.closing(journal):
        limit = reference_timeout(options.reference_timeout_s, options.timeout_s)
        try:
            with deadline(limit, f"building the references of {', '.join(options.models)} in {options.fixtures} "
                          "(Keras, the converter, training runs; --reference-timeout gives it more)"):
                references = ensure_references(list(options.models), options.fixtures)
        except KeyboardInterrupt as stop:
            end_everything_started()  # the fixture builders
            raise RunInterrupted(str(stop) or "SIGINT", None) from None
        everything = [Group(name, backend, tuple(check for check in options.checks if recorded_reason(
            check, references[name]) or check_applies(check, references[name])))
            for backend in options.backends for name in options.models]
        order = {(g.backend, g.model, check): i for i, g in enumerate(everything) for check in options.checks}
        groups = [Group(g.model, g.backend, tuple(c for c in g.checks if (g.model, g.backend, c) not in measured))
                  for g in everything]
        groups = [g for g in groups if g.checks]
        groups += [replace(g, repeat=r) for r in range(1, options.repeat) for g in everything if g.checks]
        total = sum(len(g.checks) for g in everything)
        progress = Progress(total * options.repeat, options.progress, earlier=journal.rows)
        evidence = options.out / EVIDENCE_DIRECTORY if options.resume else fresh_evidence_folder(options.out)
        rows, again = list(journal.rows), Repeats(options.repeat)
        running = threading.local()  # the repeat of the group each browser's thread runs

        def record(row: CheckResult) -> None:
            if getattr(running, "repeat", 0):
                again.add(row)
            else:
                journal.append(row)
                rows.append(row)
            progress(row)

        def make_session(endpoint: BrowserEndpoint | None, listener: ResultListener) -> ParitySession:
            return ParitySession(options.timeout_s, on_result=listener, upload_limit=options.upload_limit,
                                 tfjs=options.tfjs, evidence=evidence, endpoint=endpoint,
                                 engines=engines_of(options.backends))

        def run_check(session: ParitySession, group: Group, check: str) -> CheckResult:
            running.repeat = group.repeat
            reference = references[group.model]
            reason = recorded_reason(check, reference)
            return (session.skip(check, reference, group.backend, reason) if reason
                    else session.run_check(check, reference, group.backend))

        def ordered() -> list[CheckResult]:
            return sorted(rows, key=lambda r: order[(r.backend, r.model, r.check)])

        blocks: dict[str, Any] = {}

        def write(**more: Any) -> None:
            blocks.update(more, repeats=again.summary(ordered()) if options.repeat > 1 else None)
            _write(options, shards.environment(), references, baseline, ordered(), blocks)

        shards = Shards(options.endpoints or (None,) * options.parallel, make_session, record, after_group=write)
        try:
            shards.run(groups, run_check)
            write()
            if options.power:
                write(power=_power(options, options.power, references))
        except KeyboardInterrupt as stop:
            shards.stop()
            end_everything_started()
            signal_name = str(stop) or "SIGINT"
            write(interrupted=f"{signal_name} after {len(rows)} of {total} checks; `tfjs-parity run --resume "
                              f"{options.out}` with the same selection runs the rest")
            progress.finish()
            raise RunInterrupted(signal_name, options.out / REPORT_JSON) from None
        progress.finish()
    if options.save_baseline:
        write_atomically(options.save_baseline, (options.out / REPORT_JSON).read_text())
    return options.out / REPORT_JSON, ordered()


def _power(options: RunOptions, backend: str, references: dict[str, ReferenceModel]) -> dict[str, Any]:
    """``checks.power`` for every model on ``backend``, in a session of its own; a model it cannot measure says
    why (the others are still measured)."""
    models: dict[str, Any] = {}
    endpoint = options.endpoints[0] if options.endpoints else None
    with ParitySession(options.timeout_s, tfjs=options.tfjs, endpoint=endpoint, engines=engines_of((backend,))) \
            as session:
        for name, reference in references.items():
            try:
                models[name] = measure_power(session.page(backend), reference, session.model_url(reference))
            except HarnessError as error:
                models[name] = {"note": f"could not be measured: {error}"}
                session.discard_page(backend)
    return {"backend": backend, "models": models}


def _write(options: RunOptions, environment: dict[str, Any], references: dict[str, ReferenceModel],
           baseline: list[dict[str, Any]] | None, results: list[CheckResult], blocks: dict[str, Any]) -> None:
    """The report (and JUnit file) of every row so far."""
    environment = {**environment, **reference_environment(references), "tensorflow_log": TENSORFLOW_LOG}
    comparison = None
    if baseline is not None:
        comparison = {"path": str(options.baseline), **compare_with_baseline(baseline, results, options.rules)}
    write_report(options.out, environment, results, comparison, blocks)
    if options.junit:
        write_junit(options.junit, results, comparison)
