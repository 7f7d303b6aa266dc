"""``tfjs-parity``: run parity checks from the command line.

Exit status: 0 every check passed, 1 a check failed or errored or (with ``--baseline``) a check
regressed, 2 usage error or a setup problem that stops the run before any check (no Chromium, no
tfjs bundles, a bad fixture or baseline).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.zoo import ZOO

if TYPE_CHECKING:
    from harness.results import CheckResult
    from harness.runner import RunOptions

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _names(raw: str, known: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        parser.error(f"--{what}: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(known)}")
    return names


def _backend_ids(raw: str, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    from harness.backend_variants import UnknownBackendError, backend_variant

    backends = tuple(dict.fromkeys(b.strip() for b in raw.split(",") if b.strip()))
    try:
        for backend in backends:
            backend_variant(backend)
    except UnknownBackendError as error:
        parser.error(f"--backends: {error.args[0]}")
    if not backends:
        parser.error("--backends: no backend given")
    return backends


def build_parser() -> argparse.ArgumentParser:
    from harness.backend_variants import BACKENDS, DEFAULT_BACKENDS, MATRICES
    from harness.baseline import RegressionRules
    from harness.runner import DEFAULT_CHECKS

    parser = argparse.ArgumentParser(
        prog="tfjs-parity", description="Keras vs TensorFlow.js parity in headless Chromium."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run parity checks on zoo models and write a report")
    models, backends, checks = ",".join(ZOO), ",".join(DEFAULT_BACKENDS), ",".join(DEFAULT_CHECKS)
    run.add_argument("--models", default=models, help=f"comma-separated zoo models (default: all: {models})")
    run.add_argument("--backends", default=None,
                     help=f"comma-separated backend ids (default: {backends}; known: {','.join(BACKENDS)})")
    run.add_argument("--matrix", choices=tuple(MATRICES), default=None,
                     help="a named backend set instead of --backends: " +
                          "; ".join(f"{name}: {','.join(ids)}" for name, ids in MATRICES.items()))
    run.add_argument("--tfjs", default="", metavar="V1,V2",
                     help="run every backend on each of these tfjs versions, side by side (installed in web/ "
                          "as npm aliases; default: the one pinned as @tensorflow/tfjs)")
    rules = RegressionRules()
    run.add_argument("--baseline", type=Path, default=None, metavar="PARITY.JSON",
                     help="an earlier parity.json: report regressions and improvements against it; "
                          "a regression makes the exit status 1")
    run.add_argument("--save-baseline", type=Path, default=None, metavar="FILE",
                     help="also write this run's report to FILE, as the baseline of a later run")
    run.add_argument("--error-growth", type=float, default=rules.error_factor, metavar="FACTOR",
                     help=f"a max abs error that grew by more than FACTOR is a regression (default: "
                          f"{rules.error_factor:g})")
    run.add_argument("--error-floor", type=float, default=rules.error_floor,
                     help=f"errors below this never count as grown (default: {rules.error_floor:g})")
    run.add_argument("--latency-growth", type=float, default=rules.latency_percent, metavar="PERCENT",
                     help=f"an in-browser median latency that grew by more than PERCENT is a regression "
                          f"(default: {rules.latency_percent:g})")
    run.add_argument("--latency-floor-ms", type=float, default=rules.latency_floor_ms, metavar="MS",
                     help=f"latency growth of at most MS never counts (default: {rules.latency_floor_ms:g})")
    run.add_argument("--junit", type=Path, default=None, metavar="FILE", help="also write JUnit XML to FILE")
    run.add_argument("--checks", default=checks, help=f"comma-separated checks (default: {checks})")
    run.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default: reports/)")
    run.add_argument("--fixtures", type=Path, default=None, help="fixture cache directory (default: fixtures/)")
    run.add_argument("--timeout", type=float, default=120.0, help="per-check timeout in seconds (default: 120)")
    run.add_argument("--upload-limit-mib", type=float, default=256.0,
                     help="largest model upload the server accepts from the page, in MiB (default: 256)")
    _add_check_command(commands, backends)
    return parser


def _add_check_command(commands: Any, backends: str) -> None:
    from harness.variants import QUANTIZATIONS

    check = commands.add_parser(
        "check", help="convert a model of your own and check it on every backend",
        description="Convert MODEL (Keras .h5, tf_keras or TF SavedModel directory, Keras 3 .keras with "
                    "--via-savedmodel, or a converted tfjs model directory with --inputs and --expected) and "
                    "check that the browser gives the same answers.")
    check.add_argument("model", type=Path, metavar="MODEL")
    check.add_argument("--inputs", default="", help="comma-separated .npy files, one per model input "
                       "(default: seeded random inputs of the model's shapes and dtypes)")
    check.add_argument("--expected", default="", help="comma-separated .npy reference outputs (converted tfjs models)")
    check.add_argument("--input-shape", action="append", default=[], metavar="D1,D2,...",
                       help="an input's shape without the batch dimension, for unknown dimensions; once per input")
    check.add_argument("--batch", type=int, default=8, help="generated batch size (default: 8)")
    check.add_argument("--input-range", default="0,1", metavar="LOW,HIGH",
                       help="range of generated float inputs (default: 0,1)")
    check.add_argument("--seed", type=int, default=0, help="seed of generated inputs (default: 0)")
    check.add_argument("--backends", default=backends, help=f"comma-separated backends (default: {backends})")
    check.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                       help="also quantize the weights and judge with the derived quantization tolerance")
    check.add_argument("--via-savedmodel", action="store_true",
                       help="Keras 3 .keras: export a SavedModel (model.export) and convert it to a graph model")
    check.add_argument("--custom-objects", type=Path, default=None, metavar="FILE.py",
                       help="Python file defining the model's custom Keras layers (CUSTOM_OBJECTS or layer classes)")
    check.add_argument("--custom-js", type=Path, default=None, metavar="FILE.js",
                       help="JS file registering the same layers with tf.serialization.registerClass")
    check.add_argument("--out", type=Path, default=Path("reports"), help="report directory (default: reports/)")
    check.add_argument("--timeout", type=float, default=120.0, help="per-check timeout in seconds (default: 120)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfjs-parity`` and ``python -m harness``."""
    from harness.backend_variants import DEFAULT_BACKENDS, MATRICES, with_versions
    from harness.baseline import RegressionRules
    from harness.runner import DEFAULT_CHECKS, RunOptions

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_PASS
    if args.command == "check":
        return _check(args, parser)
    for option, value in (("--timeout", args.timeout), ("--upload-limit-mib", args.upload_limit_mib),
                          ("--error-growth", args.error_growth), ("--latency-growth", args.latency_growth)):
        if value <= 0:
            return _usage_error(parser, f"{option} must be positive")
    if args.matrix and args.backends:
        return _usage_error(parser, "give --matrix or --backends, not both")
    if args.baseline and not args.baseline.is_file():
        return _usage_error(parser, f"--baseline: {args.baseline} is not a file")
    try:
        backends = MATRICES[args.matrix] if args.matrix else _backend_ids(args.backends or ",".join(DEFAULT_BACKENDS),
                                                                         parser)
        versions = _tfjs_versions(args.tfjs)
        options = RunOptions(
            models=_names(args.models, tuple(ZOO), "models", parser),
            backends=with_versions(backends, versions),
            checks=_names(args.checks, DEFAULT_CHECKS, "checks", parser),
            out=args.out,
            timeout_s=args.timeout,
            upload_limit=int(args.upload_limit_mib * 2**20),
            baseline=args.baseline,
            save_baseline=args.save_baseline,
            junit=args.junit,
            rules=RegressionRules(args.error_growth, args.error_floor, args.latency_growth, args.latency_floor_ms),
            **({"fixtures": args.fixtures} if args.fixtures else {}),
        )
    except SystemExit:
        return EXIT_USAGE
    except ValueError as error:
        return _usage_error(parser, str(error))
    return _run(options)


def _tfjs_versions(raw: str) -> tuple[str, ...]:
    """``--tfjs``'s versions, each installed in web/ (else ``UnknownTfjsVersionError``, a ``ValueError``)."""
    from harness.server import WEB_DIR
    from harness.tfjs_versions import check_versions

    versions = tuple(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    check_versions(versions, WEB_DIR / "node_modules")
    return versions


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"tfjs-parity: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()) for p in raw.split(",") if p.strip())


def _numbers(raw: str, option: str, kind: type) -> tuple[Any, ...]:
    try:
        return tuple(kind(v) for v in raw.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option}: {raw!r} is not a comma-separated list of numbers") from None


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.user_check import CheckOptions, run_user_check
    from harness.user_reference import InputPlan

    try:
        value_range = _numbers(args.input_range, "--input-range", float)
        shapes = tuple(_numbers(shape, "--input-shape", int) for shape in args.input_shape)
    except ValueError as error:
        return _usage_error(parser, str(error))
    if len(value_range) != 2 or value_range[0] >= value_range[1]:
        return _usage_error(parser, f"--input-range: {args.input_range!r} is not LOW,HIGH with LOW < HIGH")
    if args.batch < 2 or args.timeout <= 0:
        return _usage_error(parser, "--batch must be at least 2 (a reference must vary) and --timeout positive")
    try:
        backends = _backend_ids(args.backends, parser)
    except SystemExit:
        return EXIT_USAGE
    plan = InputPlan(files=_paths(args.inputs), shapes=shapes, batch=args.batch, value_range=value_range,
                     seed=args.seed)
    options = CheckOptions(model=args.model, backends=backends, out=args.out, inputs=plan,
                           expected=_paths(args.expected), quantize=args.quantize, via_savedmodel=args.via_savedmodel,
                           custom_objects=args.custom_objects, custom_js=args.custom_js, timeout_s=args.timeout)
    return _run_and_print(lambda: run_user_check(options))


def _run(options: RunOptions) -> int:
    from harness.runner import run_parity

    return _run_and_print(lambda: run_parity(options))


def _run_and_print(run: Callable[[], tuple[Path, list[CheckResult]]]) -> int:
    """Run, then print the matrix, every failure in full, and the report's path; setup problems exit 2."""
    from harness.artifacts import ArtifactError
    from harness.baseline import BaselineError
    from harness.chromium import ChromiumNotFoundError
    from harness.fixtures import DegenerateReferenceError
    from harness.model_formats import ModelFormatError
    from harness.references import ReferenceError
    from harness.report import render_matrix, summary_line
    from harness.results import PASSING_STATUSES
    from harness.training_references import TrainingReferenceError

    try:
        report_path, results = run()
    except (ChromiumNotFoundError, DegenerateReferenceError, TrainingReferenceError, ReferenceError,
            ModelFormatError, ArtifactError, BaselineError, FileNotFoundError) as error:
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
    regressions = (report.get("baseline") or {}).get("regressions", [])
    if regressions:
        print(f"\nRegressions against the baseline {report['baseline']['path']}:")
        for change in regressions:
            print(f"  {change['model']} / {change['check']} / {change['backend']}: {change['summary']}")
    print(f"\n{summary_line(report)}\nreport: {report_path} (and {report_path.with_suffix('.md')}, "
          f"{report_path.with_suffix('.html')})")
    passed = all(r.status in PASSING_STATUSES for r in results)
    return EXIT_PASS if passed and not regressions else EXIT_FAIL
