"""``tfjs-parity``: run parity checks from the command line.

Exit status: 0 every check passed, 1 a check failed or errored, 2 usage error or a setup
problem that stops the run before any check (no Chromium, no tfjs bundles, a bad fixture).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.zoo import ZOO

if TYPE_CHECKING:
    from harness.runner import RunOptions

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _names(raw: str, known: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        parser.error(f"--{what}: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(known)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    from harness.runner import DEFAULT_CHECKS
    from harness.tolerances import DEFAULT_BACKENDS, PREDICT_TOLERANCES

    parser = argparse.ArgumentParser(
        prog="tfjs-parity", description="Keras vs TensorFlow.js parity in headless Chromium."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run parity checks on zoo models and write a report")
    models, backends, checks = ",".join(ZOO), ",".join(DEFAULT_BACKENDS), ",".join(DEFAULT_CHECKS)
    run.add_argument("--models", default=models, help=f"comma-separated zoo models (default: all: {models})")
    run.add_argument("--backends", default=backends,
                     help=f"comma-separated backends (default: {backends}; known: {','.join(PREDICT_TOLERANCES)})")
    run.add_argument("--checks", default=checks, help=f"comma-separated checks (default: {checks})")
    run.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default: reports/)")
    run.add_argument("--fixtures", type=Path, default=None, help="fixture cache directory (default: fixtures/)")
    run.add_argument("--timeout", type=float, default=120.0, help="per-check timeout in seconds (default: 120)")
    run.add_argument("--upload-limit-mib", type=float, default=256.0,
                     help="largest model upload the server accepts from the page, in MiB (default: 256)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfjs-parity`` and ``python -m harness``."""
    from harness.runner import DEFAULT_CHECKS, RunOptions
    from harness.tolerances import PREDICT_TOLERANCES

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_PASS
    for option, value in (("--timeout", args.timeout), ("--upload-limit-mib", args.upload_limit_mib)):
        if value <= 0:
            parser.print_usage(sys.stderr)
            print(f"tfjs-parity: error: {option} must be positive", file=sys.stderr)
            return EXIT_USAGE
    try:
        options = RunOptions(
            models=_names(args.models, tuple(ZOO), "models", parser),
            backends=_names(args.backends, tuple(PREDICT_TOLERANCES), "backends", parser),
            checks=_names(args.checks, DEFAULT_CHECKS, "checks", parser),
            out=args.out,
            timeout_s=args.timeout,
            upload_limit=int(args.upload_limit_mib * 2**20),
            **({"fixtures": args.fixtures} if args.fixtures else {}),
        )
    except SystemExit:
        return EXIT_USAGE
    return _run(options)


def _run(options: RunOptions) -> int:
    from harness.chromium import ChromiumNotFoundError
    from harness.fixtures import DegenerateReferenceError
    from harness.references import ReferenceError
    from harness.report import render_matrix, summary_line
    from harness.results import PASSING_STATUSES
    from harness.runner import run_parity
    from harness.training_references import TrainingReferenceError

    try:
        report_path, results = run_parity(options)
    except (ChromiumNotFoundError, DegenerateReferenceError, TrainingReferenceError, ReferenceError,
            FileNotFoundError) as error:
        print(f"tfjs-parity: cannot run: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = json.loads(report_path.read_text())
    print(render_matrix(report))
    for result in results:
        if result.status in ("fail", "error"):
            print(f"\n[{result.status}] {result.model} / {result.check} / {result.backend}\n{result.message}")
    for result in results:
        if result.status in ("xfail", "skip"):
            print(f"[{result.status}] {result.model} / {result.check} / {result.backend}: "
                  f"{result.message.splitlines()[0]}")
    print(f"\n{summary_line(report)}\nreport: {report_path} (and {report_path.with_suffix('.md')})")
    return EXIT_PASS if all(r.status in PASSING_STATUSES for r in results) else EXIT_FAIL
