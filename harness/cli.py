"""``tfjs-parity``: run parity checks from the command line.

Exit status: 0 every check passed; 1 a check failed or errored, or (with ``--baseline``) a check
regressed, or (with ``--repeat``) a check changed status between runs; 2 usage error or a setup
problem that stops the run before any check (no Chromium, no tfjs bundles, a bad fixture or
baseline, no browser endpoint reachable): every ``HarnessError`` that escapes a run; 3 every check
passed but a browser endpoint was lost during the run (its unfinished checks ran on another); 130
interrupted by SIGINT (Ctrl-C) or SIGTERM: the report holds every check finished before, marked
interrupted, and ``run --resume OUT`` runs the rest.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, UsageError
from harness.options import (
    DEFAULT_REPORT_DIR,
    DEFAULT_TIMEOUT_S,
    DEFAULT_UPLOAD_LIMIT_MIB,
    REFERENCE_TIMEOUT_FACTOR,
    MAX_DEFAULT_PARALLEL,
    comma_list,
    comma_numbers,
    default_parallel,
    known_names,
    mib_to_bytes,
)
from harness.reference.onnx_routes import ROUTE_NAMES
from harness.reference.zoo import ZOO

if TYPE_CHECKING:
    from harness.browser.endpoints import BrowserEndpoint
    from harness.browser.tfjs_versions import TfjsSelection
    from harness.run.engine import RunOutcome, RunSettings
    from harness.run.zoo_run import RunOptions
    from harness.verdict.acceptance import AcceptList

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ENDPOINT_LOST = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    from harness.browser.backends import BACKENDS, DEFAULT_BACKENDS, MATRICES
    from harness.report.baseline import RegressionRules
    from harness.checks import DEFAULT_CHECKS

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
    run.add_argument("--fixtures", type=Path, default=None, help="fixture cache directory (default: fixtures/)")
    run.add_argument("--resume", type=Path, default=None, metavar="OUT",
                     help="continue the interrupted run whose report is in OUT (same selection): keep its finished "
                          "rows, run only the checks it lacks, and write the report there")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run the selection N times and report the rows whose status or error changed between the "
                          "runs, and each backend's largest error spread (the report's rows are the first run's)")
    run.add_argument("--power", nargs="?", const="cpu", default=None, metavar="BACKEND",
                     help="after the checks, plant faults into each model on BACKEND (default cpu) and report which "
                          "ones predict catches, and the smallest change of one weight it flags (docs/power.md)")
    _add_report_and_timeout(run)
    _add_accept_options(run, "the zoo's own accepted list (harness/verdict/zoo_accepted.toml) always applies; ")
    _add_tfjs_options(run)
    _add_check_command(commands, backends)
    commands.add_parser("doctor", help="say whether a run can work here (libraries, Chromium, tfjs, each backend), "
                                       "and what to do if not; exit 1 when something blocks a run")
    return parser


def _add_check_command(commands: Any, backends: str) -> None:
    from harness.checks import USER_CHECKS

    check = commands.add_parser(
        "check", help="convert models of your own and check them on every backend",
        description="Convert each MODEL (Keras .h5, tf_keras or TF SavedModel directory, Keras 3 .keras, ONNX "
                    ".onnx, a PyTorch FILE.py:FACTORY, or a converted tfjs model directory with --inputs and "
                    "--expected; docs/your-model.md) and "
                    "check that the browser gives the same answers: inference, conversions, training (when the "
                    "model was saved after compile(), or with --train) and storage, in one run and one report.")
    check.add_argument("models", type=Path, nargs="+", metavar="MODEL")
    check.add_argument("--checks", default=",".join(USER_CHECKS),
                       help=f"comma-separated checks (default: {','.join(USER_CHECKS)}; also core-api, "
                            "fine-tune-worker)")
    check.add_argument("--train", type=Path, default=None, metavar="FILE.json",
                       help="how the training checks train: optimizer, learning_rate, loss, metrics, epochs, "
                            "batch_size, samples, heldout_samples, validation_split, patience, max_epochs (overrides "
                            "the model's own compile config field by field)")
    check.add_argument("--data", type=Path, default=None, metavar="FILE.npz",
                       help="training data: arrays named after the model's inputs and outputs (or x0.., y0..); "
                            "default: seeded inputs and a linear teacher's targets of the loss' kind")
    check.add_argument("--inputs", default="", help="comma-separated .npy files, one per model input "
                       "(default: seeded random inputs of the model's shapes and dtypes)")
    check.add_argument("--expected", default="", help="comma-separated .npy reference outputs (converted tfjs models)")
    check.add_argument("--input-shape", action="append", default=[], metavar="D1,D2,...",
                       help="an input's shape without the batch dimension, for unknown dimensions; once per input")
    check.add_argument("--inner-output", action="append", default=[], metavar="LAYER",
                       help="also compare this layer's outputs with Keras' in predict, each channel within its own "
                            "float32 rounding: for a head that hides deeper errors (global pooling into a few "
                            "classes; see --power); once per layer, Keras models only")
    check.add_argument("--batch", type=int, default=8, help="generated batch size (default: 8)")
    check.add_argument("--input-range", default="0,1", metavar="LOW,HIGH",
                       help="range of generated float inputs (default: 0,1)")
    check.add_argument("--seed", type=int, default=0, help="seed of generated inputs (default: 0)")
    check.add_argument("--backends", default=backends, help=f"comma-separated backends (default: {backends})")
    check.add_argument("--via-savedmodel", action="store_true",
                       help="Keras 3 .keras: export a SavedModel (model.export) and convert it to a graph model, "
                            "instead of the default layers route (a Keras 2 twin tfjs can train)")
    check.add_argument("--route", default=None, choices=ROUTE_NAMES,
                       help="an ONNX or PyTorch model: convert it on this route only (default: each in turn until one "
                            f"holds every Python hop: {', '.join(ROUTE_NAMES)}; docs/onnx.md)")
    check.add_argument("--custom-objects", type=Path, default=None, metavar="FILE.py",
                       help="Python file defining the model's custom Keras layers (CUSTOM_OBJECTS or layer classes)")
    check.add_argument("--custom-js", type=Path, default=None, metavar="FILE.js",
                       help="JS file registering the same layers with tf.serialization.registerClass")
    check.add_argument("--repair", action="store_true",
                       help="remove config fields tfjs rejects that are metadata only (initializers, regularizers, "
                            "constraints), write the repaired model to OUT/repaired/NAME/ and run every check on it")
    check.add_argument("--resume", type=Path, default=None, metavar="OUT",
                       help="continue the interrupted check whose report is in OUT (same MODELs, --backends and "
                            "--checks): keep its finished rows, run only the checks it lacks (rebuilding the "
                            "references of models not finished), and write the report there")
    _add_report_and_timeout(check)
    _add_accept_options(check)
    _add_tfjs_options(check)


def _add_accept_options(command: argparse.ArgumentParser, zoo: str = "") -> None:
    command.add_argument("--accept", default="", metavar="ID[,ID]",
                         help="known issues you have decided to live with (ids such as tfjs-missing-kernel, named in "
                              "a failed row): their rows become xfail and the exit status 0; docs/known-issues.md")
    command.add_argument("--accept-file", type=Path, default=None, metavar="FILE",
                         help=f"a TOML file of accepted known issues, one reason each, optionally scoped to models, "
                              f"backends, checks (commit it beside your model); {zoo}an entry nothing fails with any "
                              "more is reported stale")


def _acceptances(args: argparse.Namespace) -> AcceptList:
    """``--accept``, ``--accept-file`` and, for ``run``, the zoo's own list; a ``UsageError`` names what is wrong."""
    from harness.verdict.acceptance import AcceptList, accepted_ids, read_accept_file, zoo_acceptances

    accept = zoo_acceptances() if args.command == "run" else AcceptList()
    if args.accept_file is not None:
        accept += read_accept_file(args.accept_file)
    return accept + accepted_ids(args.accept)


def _add_tfjs_options(command: argparse.ArgumentParser) -> None:
    from harness.browser.backends import PROFILES

    command.add_argument("--profile", choices=tuple(PROFILES), default=None,
                         help="run the selected backends as a class of device does: " +
                              "; ".join(f"{name}: {what}" for name, (_, what) in PROFILES.items()))
    command.add_argument("--browsers", default="chromium", metavar="ENGINE[,ENGINE]",
                         help="browser engines to run every backend on: chromium, firefox, webkit (columns like "
                              "firefox:webgl; default: chromium)")
    command.add_argument("--tfjs", default="", metavar="V1,V2",
                         help="run every backend on each of these tfjs versions, side by side; a version other "
                              "than the default is installed with npm on first use into the per-user cache "
                              "($TFJS_PARITY_CACHE, default ~/.cache/tfjs-parity)")
    command.add_argument("--tfjs-dir", type=Path, default=None, metavar="DIR",
                         help="the default tfjs is your app's: DIR is its node_modules (with @tensorflow/tfjs, and "
                              "-backend-wasm / -backend-webgpu for those backends) or the folder holding it "
                              "(default: the version tfjs-parity pins)")


def _add_report_and_timeout(command: argparse.ArgumentParser) -> None:
    parallel = (f"one per core, at most {MAX_DEFAULT_PARALLEL}: {default_parallel()} here"
                if command.prog.endswith("run") else "1: the browser that prepared the models runs their checks")
    command.add_argument("--parallel", type=int, default=None, metavar="N",
                         help=f"browsers launched here that share the work, each with its own (model, backend) "
                              f"groups (default: {parallel}; with --browser-endpoint, the endpoints share it)")
    command.add_argument("--serve-on", default=None, metavar="ADDRESS[:PORT]",
                         help="serve the page on this address of this machine instead of 127.0.0.1, for a remote "
                              "browser to reach; every request then needs the run's secret cookie, which only the "
                              "harness' own pages get (docs/remote.md)")
    command.add_argument("--bench-batch", type=int, default=None, metavar="N",
                         help="the batch the speed check times calls at, the one your app predicts with (default: "
                              "the reference's batch; its samples are repeated to fill N)")
    command.add_argument("--min-top1", default=None, metavar="PCT|VARIANT=PCT,...",
                         help="least top-1 agreement with Keras' labels for a classification output, in percent of "
                              "the samples whose label is decidable: one value for every row, or per variant (float, "
                              "float16, uint16, uint8); default: 100 for float, float16 and uint16, 90 for uint8 "
                              "(docs/shipping.md)")
    command.add_argument("--upload-limit-mib", type=float, default=DEFAULT_UPLOAD_LIMIT_MIB,
                         help=f"largest model upload the server accepts from the page, in MiB (default: "
                              f"{DEFAULT_UPLOAD_LIMIT_MIB:g})")
    command.add_argument("--out", type=Path, default=DEFAULT_REPORT_DIR,
                         help=f"report directory (default: {DEFAULT_REPORT_DIR}/); TensorFlow's own log lines go to "
                              "tensorflow.log there")
    command.add_argument("-q", "--quiet", action="store_true",
                         help="print only the matrix and the failures at the end, no line per check")
    command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                         help=f"the least time each page call of a check gets, in seconds (default: "
                              f"{DEFAULT_TIMEOUT_S:g}); a check gets 3 x its estimate from the model's measured "
                              "cost where that is longer")
    command.add_argument("--reference-timeout", type=float, default=None, metavar="SECONDS",
                         help="how long building a reference may take (Keras, the converter, training runs: `check` "
                              "per model, `run` for the zoo models not yet cached) before it is an error naming the "
                              f"step (default: {REFERENCE_TIMEOUT_FACTOR} x --timeout)")
    command.add_argument("--browser-endpoint", default=None, metavar="WS_URL[,WS_URL]|FILE",
                         help="run in browsers on remote Playwright browser servers (`playwright run-server`, "
                              "Playwright's Docker image, a cloud grid; same major.minor Playwright version) instead "
                              "of launching Chromium here: ws:// URLs, or a JSON file of endpoints (docs/remote.md). "
                              "They reach this machine's 127.0.0.1 only through Playwright's tunnel; several share "
                              "the work")


def _report_directory(args: argparse.Namespace) -> Path:
    """``--out``, or the directory of the run ``--resume`` continues (``--out`` may only repeat it)."""
    if args.resume is not None and args.out not in (DEFAULT_REPORT_DIR, args.resume):
        raise UsageError("--resume OUT writes its report to OUT: give --out the same directory, or leave it out")
    return args.resume or args.out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfjs-parity`` and ``python -m harness``."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_PASS
    try:
        return {"check": _check, "run": _run, "doctor": _doctor}[args.command](args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"tfjs-parity: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except HarnessError as error:
        print(f"tfjs-parity: cannot run: {error}", file=sys.stderr)
        return EXIT_USAGE


def console_main() -> None:
    """The ``tfjs-parity`` command and ``python -m harness``: ``main``, then exit with its status. An interrupted
    run leaves at once (``os._exit``) once its output is flushed: its report is written and its processes ended,
    but browsers' threads may still be inside Playwright, and the interpreter's cleanup then crashed at times
    (SIGSEGV instead of 130)."""
    from harness.run.interrupt import EXIT_INTERRUPTED

    status = main()
    if status == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(status)
    sys.exit(status)


def _run_options(args: argparse.Namespace) -> RunOptions:
    """``tfjs-parity run``'s options, checked; a ``UsageError`` names the option that is wrong."""
    from harness.browser.backends import DEFAULT_BACKENDS, MATRICES, backend_ids
    from harness.checks import DEFAULT_CHECKS
    from harness.report.baseline import RegressionRules
    from harness.run.zoo_run import RunOptions

    for option, value in (("--error-growth", args.error_growth), ("--latency-growth", args.latency_growth)):
        if value <= 0:
            raise UsageError(f"{option} must be positive")
    if args.matrix and args.backends:
        raise UsageError("give --matrix or --backends, not both")
    if args.baseline and not args.baseline.is_file():
        raise UsageError(f"--baseline: {args.baseline} is not a file")
    if args.repeat < 1 or (args.repeat > 1 and args.resume is not None):
        raise UsageError("--repeat must be at least 1, and a repeated run cannot be resumed (--resume)")
    backends = (MATRICES[args.matrix] if args.matrix
                else backend_ids(args.backends or ",".join(DEFAULT_BACKENDS), "--backends"))
    return RunOptions(
        models=known_names(args.models, tuple(ZOO), "--models"),
        settings=_run_settings(args, backends),
        checks=known_names(args.checks, DEFAULT_CHECKS, "--checks"),
        power=backend_ids(args.power, "--power")[0] if args.power else None,
        reference_timeout_s=args.reference_timeout,
        baseline=args.baseline,
        save_baseline=args.save_baseline,
        junit=args.junit,
        rules=RegressionRules(args.error_growth, args.error_floor, args.latency_growth, args.latency_floor_ms),
        **({"fixtures": args.fixtures} if args.fixtures else {}),
    )


def _run_settings(args: argparse.Namespace, backends: tuple[str, ...]) -> RunSettings:
    """Where and how the checks of ``run`` or ``check`` run (``run.engine``), checked; a ``UsageError`` names the
    option that is wrong."""
    from harness.browser.endpoints import page_reachable
    from harness.browser.server import parse_serve_on
    from harness.run.engine import RunSettings
    from harness.checks import CheckOptions
    from harness.verdict.agreement import parse_min_top1

    for option, value in (("--timeout", args.timeout), ("--upload-limit-mib", args.upload_limit_mib),
                          ("--reference-timeout", 1 if args.reference_timeout is None else args.reference_timeout)):
        if value <= 0:
            raise UsageError(f"{option} must be positive")
    serve_on = parse_serve_on(args.serve_on) if args.serve_on else None
    fixed_port = bool(serve_on and serve_on.port)
    if fixed_port and args.parallel is not None and args.parallel > 1:
        raise UsageError(f"--serve-on {args.serve_on} with --parallel {args.parallel}: each browser's server needs a "
                         "port of its own; give the address alone")
    parallel = args.parallel or (default_parallel() if args.command == "run" and not fixed_port else 1)
    if args.bench_batch is not None and args.bench_batch < 1:
        raise UsageError("--bench-batch must be at least 1")
    if args.parallel is not None and args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    if args.parallel is not None and args.browser_endpoint is not None:
        raise UsageError("give --parallel or --browser-endpoint, not both: the endpoints share the work")
    backends, tfjs = _expand(args, backends)
    endpoints = _endpoints(args)
    page_reachable(endpoints, serve_on is not None)
    return RunSettings(backends=backends, out=_report_directory(args), timeout_s=args.timeout,
                       upload_limit=mib_to_bytes(args.upload_limit_mib), tfjs=tfjs,
                       progress="quiet" if args.quiet else None, endpoints=endpoints,
                       parallel=parallel,
                       resume=args.resume is not None, repeat=getattr(args, "repeat", 1), accept=_acceptances(args),
                       check_options=CheckOptions(parse_min_top1(args.min_top1), args.bench_batch), serve_on=serve_on)


def _expand(args: argparse.Namespace, backends: tuple[str, ...]) -> tuple[tuple[str, ...], TfjsSelection]:
    """The backend ids at ``--tfjs``'s versions on ``--browsers``' engines, and the run's tfjs (``--tfjs-dir``,
    versions installed on first use); an ``UnknownTfjsVersionError`` (a ``UsageError``) names what is missing."""
    from harness.browser.backends import with_profile, with_versions
    from harness.browser.engines import engine_names, with_engines
    from harness.browser.tfjs_versions import check_backends, select_tfjs

    if args.tfjs_dir is not None and not args.tfjs_dir.is_dir():
        raise UsageError(f"--tfjs-dir {args.tfjs_dir}: no such directory")
    versions = comma_list(args.tfjs)
    selection = select_tfjs(versions, args.tfjs_dir)
    backends = with_engines(with_versions(with_profile(backends, args.profile), versions),
                            engine_names(args.browsers, "--browsers"))
    check_backends(selection, backends)
    return backends, selection


def _check(args: argparse.Namespace) -> int:
    from harness.browser.backends import backend_ids
    from harness.checks import CHECKS
    from harness.reference.user_build import InputPlan
    from harness.reference.user_training import read_train_file
    from harness.run.model_check import CheckOptions, ModelOptions, run_user_check

    value_range = comma_numbers(args.input_range, "--input-range", float)
    shapes = tuple(comma_numbers(shape, "--input-shape", int) for shape in args.input_shape)
    if len(value_range) != 2 or value_range[0] >= value_range[1]:
        raise UsageError(f"--input-range: {args.input_range!r} is not LOW,HIGH with LOW < HIGH")
    if args.batch < 2:
        raise UsageError("--batch must be at least 2 (a reference must vary)")
    if args.train is not None and not args.train.is_file():
        raise UsageError(f"--train {args.train}: no such file")
    plan = InputPlan(files=_paths(args.inputs), shapes=shapes, batch=args.batch, value_range=value_range,
                     seed=args.seed)
    settings = _run_settings(args, backend_ids(args.backends, "--backends"))
    how = ModelOptions(backends=settings.backends, checks=known_names(args.checks, tuple(CHECKS), "--checks"),
                       inputs=plan, expected=_paths(args.expected),
                       train=read_train_file(args.train) if args.train else {}, data=args.data,
                       via_savedmodel=args.via_savedmodel, custom_objects=args.custom_objects,
                       custom_js=args.custom_js, repair=args.repair, inner_outputs=tuple(args.inner_output),
                       route=args.route)
    options = CheckOptions(models=tuple(args.models), how=how, settings=settings,
                           reference_timeout_s=args.reference_timeout)
    return _run_and_print(lambda: run_user_check(options))


def _doctor(args: argparse.Namespace) -> int:
    from harness.run.doctor import diagnose, render

    findings = diagnose()
    print(render(findings))
    return EXIT_FAIL if any(f.status == "problem" for f in findings) else EXIT_PASS


def _endpoints(args: argparse.Namespace) -> tuple[BrowserEndpoint, ...]:
    from harness.browser.endpoints import parse_endpoints

    return parse_endpoints(args.browser_endpoint) if args.browser_endpoint is not None else ()


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in comma_list(raw, unique=False))


def _run(args: argparse.Namespace) -> int:
    from harness.run.zoo_run import run_parity

    options = _run_options(args)
    return _run_and_print(lambda: run_parity(options))


def _run_and_print(run: Callable[[], RunOutcome]) -> int:
    """Run, then print the outcome (``report.terminal``); the exit status says whether every check passed, or that
    a signal stopped the run (``EXIT_INTERRUPTED``, after its report is written)."""
    from harness.report.terminal import render_outcome
    from harness.results import PASSING_STATUSES
    from harness.run.interrupt import EXIT_INTERRUPTED, RunInterrupted, interruptible

    try:
        with interruptible():
            outcome = run()
    except RunInterrupted as stopped:
        # The other browsers' threads end with the process, their pending Playwright calls unfinished by design.
        logging.getLogger("asyncio").disabled = True
        if stopped.path is None or stopped.report is None:
            print(f"tfjs-parity: {stopped} before any check ran; no report written", file=sys.stderr)
        else:
            print(render_outcome(stopped.report, stopped.path))
        return EXIT_INTERRUPTED
    report = outcome.report
    print(render_outcome(report, outcome.path))
    passed = all(r.status in PASSING_STATUSES for r in outcome.rows)
    if not passed or (report.get("baseline") or {}).get("regressions") or (report.get("repeats") or {}).get(
            "status_changed"):
        return EXIT_FAIL
    return EXIT_ENDPOINT_LOST if report["environment"].get("browser_endpoints_lost") else EXIT_PASS
