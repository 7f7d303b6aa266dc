"""``tfjs-parity run``: the zoo's references (built once, cached), then every model x backend x check through the
run engine (``run.engine``), with a baseline comparison, JUnit, and ``--power``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks import DEFAULT_CHECKS, check_applies, recorded_reason
from harness.run.power import power_block
from harness.options import reference_timeout
from harness.reference.cache import DEFAULT_FIXTURES_DIR, ensure_references
from harness.reference.directory import ReferenceModel
from harness.report.baseline import RegressionRules, compare_with_baseline, load_baseline
from harness.report.document import build_report
from harness.report.files import write_atomically
from harness.report.junit import write_junit
from harness.results import CheckResult
from harness.run.engine import RunEngine, RunOutcome, RunSettings, row_order, run_or_skip
from harness.run.interrupt import deadline
from harness.run.session import reference_environment
from harness.run.shards import Group
from harness.run.tensorflow_log import TENSORFLOW_LOG


@dataclass(frozen=True)
class RunOptions:
    """Which zoo models and checks to run, where and how (``settings``), and what to compare the report with."""

    models: tuple[str, ...]
    settings: RunSettings = RunSettings()
    checks: tuple[str, ...] = DEFAULT_CHECKS
    fixtures: Path = DEFAULT_FIXTURES_DIR
    baseline: Path | None = None
    save_baseline: Path | None = None
    junit: Path | None = None
    rules: RegressionRules = RegressionRules()
    power: str | None = None  # a backend id: after the checks, plant faults to show what predict catches there
    reference_timeout_s: float | None = None  # the missing references' build; None: options.reference_timeout's default


def run_parity(options: RunOptions) -> RunOutcome:
    """Build the references not yet cached, then run every check through the run engine (``run.engine``: journal,
    resume, browsers, progress, interrupts), the report's rows in the usual order (backend, model, check) whichever
    browser ran them; then ``--power`` and ``--save-baseline``."""
    baseline = load_baseline(options.baseline) if options.baseline else None
    settings = options.settings
    selection = {"models": list(options.models), "backends": list(settings.backends), "checks": list(options.checks)}
    references: dict[str, ReferenceModel] = {}
    order = row_order(("backend", settings.backends), ("model", options.models), ("check", options.checks))

    def build(rows: list[CheckResult], environment: dict[str, Any], blocks: dict[str, Any]) -> dict[str, Any]:
        environment = {**environment, **reference_environment(references), "tensorflow_log": TENSORFLOW_LOG}
        comparison = None
        if baseline is not None:
            comparison = {"path": str(options.baseline), **compare_with_baseline(baseline, rows, options.rules)}
        if options.junit:
            write_junit(options.junit, rows, comparison)
        return build_report(environment, rows, comparison, blocks)

    with RunEngine(settings, selection, f"`tfjs-parity run --resume {settings.out}` with the same selection runs the "
                   "rest", order, build) as engine:
        limit = reference_timeout(options.reference_timeout_s, settings.timeout_s)
        with deadline(limit, f"building the references of {', '.join(options.models)} in {options.fixtures} "
                      "(Keras, the converter, training runs; --reference-timeout gives it more)"):
            references.update(ensure_references(list(options.models), options.fixtures))
        groups = [Group(name, backend, tuple(check for check in options.checks if recorded_reason(
            check, references[name]) or check_applies(check, references[name])))
            for backend in settings.backends for name in options.models]
        engine.expect(sum(len(g.checks) for g in groups))
        engine.run(groups, lambda session, group, check: run_or_skip(session, references[group.model], group.backend,
                                                                     check), references)
        if options.power:
            engine.write(power=power_block(options.settings, options.power, references))
        outcome = engine.finish()
    if options.save_baseline:
        write_atomically(options.save_baseline, outcome.path.read_text())
    return outcome
