"""A whole parity run: references, one session, every model x backend x check, and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.browser.tfjs_versions import TfjsSelection
from harness.browser.uploads import DEFAULT_UPLOAD_LIMIT_BYTES
from harness.checks import DEFAULT_CHECKS, check_applies, recorded_reason
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S
from harness.reference.cache import DEFAULT_FIXTURES_DIR, ensure_references
from harness.reference.directory import ReferenceModel
from harness.report.baseline import RegressionRules, compare_with_baseline, load_baseline
from harness.report.files import REPORT_JSON, write_atomically, write_report
from harness.report.junit import write_junit
from harness.report.progress import Progress
from harness.results import CheckResult
from harness.run.session import ParitySession, fresh_evidence_folder, reference_environment
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


def run_parity(options: RunOptions) -> tuple[Path, list[CheckResult]]:
    """Run every check, showing each as it finishes; the reports are rewritten after each backend so nothing
    measured is lost. TensorFlow's own log lines go to ``OUT/tensorflow.log``."""
    baseline = load_baseline(options.baseline) if options.baseline else None
    with tensorflow_log(options.out):
        references = ensure_references(list(options.models), options.fixtures)
        planned = [(backend, name, check) for backend in options.backends for name in options.models
                   for check in options.checks
                   if recorded_reason(check, references[name]) or check_applies(check, references[name])]
        progress = Progress(len(planned), options.progress)
        results = progress.rows
        with ParitySession(options.timeout_s, on_result=progress, upload_limit=options.upload_limit,
                           tfjs=options.tfjs, evidence=fresh_evidence_folder(options.out)) as session:
            for backend in options.backends:
                for _, name, check in [p for p in planned if p[0] == backend]:
                    reason = recorded_reason(check, references[name])
                    if reason:
                        session.skip(check, references[name], backend, reason)
                    else:
                        session.run_check(check, references[name], backend)
                _write(options, session, references, baseline, results)
        progress.finish()
    if options.save_baseline:
        write_atomically(options.save_baseline, (options.out / REPORT_JSON).read_text())
    return options.out / REPORT_JSON, results


def _write(options: RunOptions, session: ParitySession, references: dict[str, ReferenceModel],
           baseline: list[dict[str, Any]] | None, results: list[CheckResult]) -> None:
    """The report (and JUnit file) of every row so far."""
    environment = {**session.environment(), **reference_environment(references), "tensorflow_log": TENSORFLOW_LOG}
    comparison = None
    if baseline is not None:
        comparison = {"path": str(options.baseline), **compare_with_baseline(baseline, results, options.rules)}
    write_report(options.out, environment, results, comparison)
    if options.junit:
        write_junit(options.junit, results, comparison)
