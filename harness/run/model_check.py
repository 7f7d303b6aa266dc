"""``tfjs-parity check MODEL [MODEL ...]``: users' own models, each converted and checked on every backend.

One run, one TensorFlow import, one browser and one report for all the models. First every MODEL's
format is detected (refusing Keras 3 files unless ``via_savedmodel``) and the browser starts with
the user's ``custom_js`` in each backend's page. Then, model by model: load, preflight (one
``preflight`` row per backend), build the reference through the same pipeline as the zoo's
(``reference.keras_build`` for a Keras model), and run every selected check on every backend; a
check that cannot apply to this model is a ``skip`` row that says why. A model whose reference
cannot be built (unreadable, outputs that prove nothing, bad ``--data``) gets one ``error`` row
per backend naming the cause, and the run goes on with the next model; the run then ends with that
cause (exit status 2). Each model's reference directory is kept in ``out/models/NAME/``, so a
failure can be reproduced; the report is rewritten after each model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.browser.endpoints import BrowserEndpoint
from harness.browser.engines import engines_of
from harness.browser.tfjs_versions import TfjsSelection
from harness.checks import CONVERSION_CHECKS, STORAGE_CHECKS, TRAINING_CHECKS, USER_CHECKS, check_applies, skip_reason
from harness.checks.conversion import CONVERSION_OF_CHECK
from harness.checks.route import judge_hops
from harness.errors import HarnessError, UsageError
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S, known_names, reference_timeout
from harness.reference.artifacts import copy_model_files
from harness.reference.directory import GRAPH_DIRECTORY, ReferenceModel
from harness.reference.formats import (
    KERAS3_ROUTE_HINT,
    LAYERS_FORMATS,
    ModelFormatError,
    detect_format,
    export_keras3_savedmodel,
    load_custom_objects,
    load_keras2_model,
    torch_model,
)
from harness.reference.inner_outputs import UnknownLayerError
from harness.reference.keras_env import configure_tensorflow_environment
from harness.reference.config_preflight import (
    ConfigFinding,
    LayerProbe,
    config_findings,
    layer_probes,
    probe_requests,
    repair_model_json,
    repairs,
)
from harness.reference.preflight import Problem, preflight
from harness.reference.user_build import (
    InputPlan,
    UnsupportedModelError,
    build_graph_reference,
    build_layers_reference,
    build_tfjs_reference,
)
from harness.reference.user_training import check_train_fields, read_train_file, resolve_training
from harness.report.files import REPORT_JSON, write_report
from harness.report.journal import Journal
from harness.report.progress import Progress
from harness.results import CheckResult
from harness.run.interrupt import RunInterrupted, deadline, end_everything_started
from harness.run.session import EVIDENCE_DIRECTORY, ParitySession, fresh_evidence_folder
from harness.run.tensorflow_log import TENSORFLOW_LOG, tensorflow_log

MODELS_DIRECTORY = "models"
REPAIRED_DIRECTORY = "repaired"  # --repair's model.json files (with their weights), one folder per model
CUSTOM_JS_DIRECTORY = "custom-js"  # only the user's --custom-js is served from here
CUSTOM_JS = "custom.js"


@dataclass(frozen=True)
class ModelOptions:
    """How models are checked: the same for every MODEL of a ``tfjs-parity check`` run, or one ``parity.check``
    call of the pytest API. ``train`` holds fields already checked (``user_training.check_train_fields``)."""

    backends: tuple[str, ...] = DEFAULT_BACKENDS
    checks: tuple[str, ...] = USER_CHECKS
    inputs: InputPlan = field(default_factory=InputPlan)
    expected: tuple[Path, ...] = ()
    train: dict[str, Any] = field(default_factory=dict)
    data: Path | None = None
    via_savedmodel: bool = False
    custom_objects: Path | None = None
    custom_js: Path | None = None
    repair: bool = False
    inner_outputs: tuple[str, ...] = ()  # layers whose outputs predict compares too (``reference.inner_outputs``)


@dataclass(frozen=True)
class CheckOptions:
    """What ``tfjs-parity check`` was asked to do: which models, how, and where the report goes."""

    models: tuple[Path, ...]
    how: ModelOptions = field(default_factory=ModelOptions)
    out: Path = DEFAULT_REPORT_DIR
    timeout_s: float = DEFAULT_TIMEOUT_S
    tfjs: TfjsSelection | None = None  # None: the pinned tfjs only
    progress: str | None = None  # a ``report.progress.MODES`` entry; None: bar on a terminal, else lines
    endpoint: BrowserEndpoint | None = None  # a remote browser server; None: launch Chromium here
    reference_timeout_s: float | None = None  # per model's reference build; None: options.reference_timeout's default
    resume: bool = False  # continue the interrupted run whose journal is in ``out``: run only the checks it lacks


@dataclass(frozen=True)
class UserModel:
    """One MODEL of the run: its path, format, and the name its rows carry."""

    path: Path
    kind: str
    name: str
    refused: str | None = None  # why the file cannot be checked (its format); the other models still are


def model_options(backends: tuple[str, ...], checks: tuple[str, ...], train: dict[str, Any] | str | Path | None = None,
                  data: str | Path | None = None, inputs: Sequence[str | Path] = (),
                  expected: Sequence[str | Path] = (), batch: int = 8,
                  value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                  shapes: tuple[tuple[int, ...], ...] = (), **how: Any) -> ModelOptions:
    """``ModelOptions`` from the pytest API's arguments, each checked; ``UsageError`` names the argument."""
    from harness.browser.backends import backend_ids
    from harness.checks import CHECKS

    unknown = sorted(set(how) - {"via_savedmodel", "custom_objects", "custom_js", "repair", "inner_outputs"})
    if unknown:
        raise UsageError(f"unknown argument {', '.join(unknown)}")
    backends = backend_ids(",".join(backends), "backends")
    checks = known_names(",".join(checks), tuple(CHECKS), "checks")
    if batch < 2 or len(value_range) != 2 or value_range[0] >= value_range[1]:
        raise UsageError("batch must be at least 2 (a reference must vary) and value_range (LOW, HIGH) with LOW < HIGH")
    fields = (check_train_fields(train, "train=") if isinstance(train, dict)
              else read_train_file(Path(train)) if train is not None else {})
    plan = InputPlan(files=tuple(Path(i) for i in inputs), shapes=shapes, batch=batch,
                     value_range=(value_range[0], value_range[1]), seed=seed)
    paths = {k: Path(v) for k, v in how.items() if k in ("custom_objects", "custom_js") and v is not None}
    if "inner_outputs" in how:
        if isinstance(how["inner_outputs"], str):
            raise UsageError(f"inner_outputs: a list of layer names, not the string {how['inner_outputs']!r}")
        how["inner_outputs"] = tuple(how["inner_outputs"])
    return ModelOptions(backends=backends, checks=checks, inputs=plan, expected=tuple(Path(e) for e in expected),
                        train=fields, data=Path(data) if data is not None else None, **{**how, **paths})


def validate(models: tuple[Path, ...], how: ModelOptions, names: tuple[str, ...] = (),
             taken: set[str] | None = None) -> list[UserModel]:
    """Every model with its format and a name (``names`` when given, else each file's stem) not in ``taken``
    (``-2``, ``-3``... added; the new names join it), after every check that needs no browser. A model whose
    format is wrong is ``refused`` (its rows say why, the others run); ``UsageError`` (``ModelFormatError``) names
    the problem when every model is."""
    if len(models) > 1:
        for flag, value in (("--inputs", how.inputs.files), ("--expected", how.expected), ("--data", how.data)):
            if value:
                raise UsageError(f"{flag} belongs to one model; check models that need it one at a time")
    if how.custom_js is not None and not how.custom_js.is_file():
        raise ModelFormatError(f"--custom-js {how.custom_js}: no such file")
    if how.data is not None and not how.data.is_file():
        raise UsageError(f"--data {how.data}: no such file")
    found: list[UserModel] = []
    taken = set() if taken is None else taken
    for index, path in enumerate(models):
        refused = None
        try:
            if not _utf8(str(path)):
                raise ModelFormatError(f"{os.fsencode(path)!r}: the file name is not UTF-8; rename the file (reports "
                                       "and browsers need text names)")
            kind = detect_format(path)
            if kind == "keras3" and not how.via_savedmodel:
                raise ModelFormatError(f"{path}: a Keras 3 model: {KERAS3_ROUTE_HINT}")
        except ModelFormatError as error:
            kind, refused = "refused", str(error)
        torch = torch_model(path)
        stem = (names[index] if names else torch[1] if torch else path.stem if path.name != "model.json"
                else path.parent.name)
        stem = stem if _utf8(stem) else stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        found.append(UserModel(path, kind, name, refused))
    if all(model.refused for model in found):  # nothing to check: say why before any browser starts
        raise ModelFormatError("\n".join(str(model.refused) for model in found))
    return found


def run_user_check(options: CheckOptions) -> tuple[Path, list[CheckResult]]:
    """Check every model on every backend; each row is journaled as it finishes (``report.journal``) and the
    report rewritten after each model. With ``options.resume``, the journal's rows are kept and only the checks
    they lack run. A model whose reference could not be built ends the run with its cause, after the others ran."""
    models = validate(options.models, options.how)
    selection = {"models": [str(path) for path in options.models], "backends": list(options.how.backends),
                 "checks": list(options.how.checks)}
    journal = Journal.start(options.out, selection, resume=options.resume)
    measured = {(row.model, row.backend, row.check) for row in journal.rows}
    to_run = [model for model in models if not _finished(model.name, options.how, journal.rows)]
    for directory in [options.out / MODELS_DIRECTORY / model.name for model in to_run] if options.resume \
            else [options.out / MODELS_DIRECTORY]:
        shutil.rmtree(directory, ignore_errors=True)
    # One preflight row and one row per check, for each model and backend.
    progress = Progress(len(models) * len(options.how.backends) * (len(options.how.checks) + 1), options.progress,
                        earlier=journal.rows)
    results = progress.rows

    def record(row: CheckResult) -> None:
        journal.append(row)
        progress(row)

    environment = {**_environment(models), "tensorflow_log": TENSORFLOW_LOG}
    evidence = options.out / EVIDENCE_DIRECTORY if options.resume else fresh_evidence_folder(options.out)
    session = ParitySession(options.timeout_s, on_result=record, tfjs=options.tfjs, evidence=evidence,
                            endpoint=options.endpoint, engines=engines_of(options.how.backends))
    refused = [row.message for row in journal.rows
               if row.check == "reference" and row.backend == options.how.backends[0]]
    with tensorflow_log(options.out), contextlib.closing(journal):
        try:
            with session:
                checker = ModelChecker(session, options.out, options.reference_timeout_s)
                _, newly_refused = checker.check(to_run, options.how, after_model=lambda: write_report(
                    options.out, {**session.environment(), **environment}, results), measured=measured)
                refused += newly_refused
        except KeyboardInterrupt as stop:  # SIGINT or SIGTERM (``run.interrupt``): keep what was measured
            end_everything_started()
            signal_name = str(stop) or "SIGINT"
            write_report(options.out, {**session.environment(), **environment}, results,
                         blocks={"interrupted": f"{signal_name} after {len(results)} of {progress.total} checks; "
                                               f"`tfjs-parity check --resume {options.out}` with the same models "
                                               "and options runs the rest"})
            progress.finish()
            raise RunInterrupted(signal_name, options.out / REPORT_JSON) from None
        if not to_run:  # everything was measured before: the report of the journal's rows
            write_report(options.out, {**session.environment(), **environment}, results)
        progress.finish()
    if refused:
        raise _RefusedModels("\n".join(refused))
    return options.out / REPORT_JSON, results


def _finished(name: str, how: ModelOptions, rows: list[CheckResult]) -> bool:
    """Whether ``rows`` (an interrupted run's) hold everything model ``name`` gets on every backend: its reference
    error, a preflight that found problems (no check follows it), or its preflight and every check."""
    have = {(row.backend, row.check): row for row in rows if row.model == name}

    def done(backend: str) -> bool:
        preflight = have.get((backend, "preflight"))
        return (backend, "reference") in have or preflight is not None and (
            bool(preflight.details.get("problems")) or all((backend, check) in have for check in how.checks))

    return all(done(backend) for backend in how.backends)


def _utf8(text: str) -> bool:
    """Whether ``text`` (a path as Python decodes it) came from valid UTF-8 (no escaped bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ModelChecker:
    """Checks users' models in one session, call after call (the CLI's one run, or the pytest API's calls):
    reference directories go to ``out/models/NAME/``, and every row reaches the session's listener."""

    def __init__(self, session: ParitySession, out: Path, reference_timeout_s: float | None = None) -> None:
        configure_tensorflow_environment()  # before anything imports TensorFlow, whoever calls
        self.session = session
        self.out = out
        self.reference_timeout_s = reference_timeout(reference_timeout_s, session.timeout_s)  # per model's build
        self.names: set[str] = set()  # the models' names so far: each call's are new (``validate(taken=...)``)
        self._scripts = 0

    def check(self, models: list[UserModel], how: ModelOptions, after_model: Callable[[], object] | None = None,
              measured: set[tuple[str, str, str]] | None = None) -> tuple[list[CheckResult], list[str]]:
        """Check ``models`` (from ``validate``) as ``how`` says, but not the (model, backend, check) rows already
        ``measured``; returns their rows, and the causes of models whose reference could not be built (each also an
        ``error`` row per backend)."""
        measured = measured or set()
        custom_objects = load_custom_objects(how.custom_objects)
        if how.custom_js is not None:
            self._add_script(how.custom_js, how.backends)
        registered = set(self.session.page(how.backends[0]).call("registeredClasses"))

        def probe(probes: list[LayerProbe]) -> list[ConfigFinding]:  # the live page: an error replaces it
            return config_findings(probes, self.session.page(how.backends[0]).call("probeLayers",
                                                                                 probe_requests(probes)))

        rows: list[CheckResult] = []
        refused = []
        for model in models:
            try:
                if model.refused:
                    raise ModelFormatError(model.refused)
                with deadline(self.reference_timeout_s, f"building the reference of {model.name} ({model.path}: "
                              "Keras, the converter, training runs; --reference-timeout gives it more)"):
                    reference, problems, changes = _prepare(model, how, self.out, custom_objects, registered, probe)
            except Exception as error:  # noqa: BLE001 - a model that cannot be prepared must not end the others
                error = error if isinstance(error, HarnessError) else HarnessError(f"{type(error).__name__}: {error}")
                refused.append(f"{model.name}: {error}")
                rows += [self.session.record(_setup_error(model, backend, error)) for backend in how.backends]
            else:
                for backend in how.backends:
                    if (model.name, backend, "preflight") not in measured:
                        rows.append(self.session.record(_preflight_result(model, backend, problems, changes,
                                                                          self.out, reference)))
                    if reference is not None:
                        rows += _run_checks(self.session, reference, backend, tuple(
                            check for check in how.checks if (model.name, backend, check) not in measured))
            if after_model is not None:
                after_model()
        return rows, refused

    def _add_script(self, script: Path, backends: tuple[str, ...]) -> None:
        """Serve the user's ``--custom-js`` (alone in its folder) and run it in each backend's page."""
        self._scripts += 1
        folder = self.out / CUSTOM_JS_DIRECTORY / str(self._scripts)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(script, folder / CUSTOM_JS)
        self.session.add_page_script(self.session.file_url(folder, CUSTOM_JS), backends)


class _RefusedModels(HarnessError):
    """At least one model's reference could not be built (each model's cause, one per line)."""


def _environment(models: list[UserModel]) -> dict[str, Any]:
    if len(models) == 1:
        return {"model": str(models[0].path), "format": models[0].kind}
    return {"models": {m.name: {"path": str(m.path), "format": m.kind} for m in models}}


def _prepare(model: UserModel, how: ModelOptions, out: Path, custom_objects: dict[str, Any], registered: set[str],
             probe: Callable[[list[LayerProbe]], list[ConfigFinding]],
             ) -> tuple[ReferenceModel | None, list[Problem], list[str]]:
    """``model``'s reference (None when preflight found problems), preflight's problems, and the changes
    ``--repair`` made to its model.json."""
    directory = out / MODELS_DIRECTORY / model.name
    directory.mkdir(parents=True)
    keras_model = load_keras2_model(model.path, custom_objects) if model.kind in LAYERS_FORMATS else None
    if keras_model is None and how.inner_outputs:
        raise UnknownLayerError(f"--inner-output {','.join(how.inner_outputs)}: {model.path} is a {model.kind} model; "
                                "inner outputs are compared on Keras models (.h5, .keras, SavedModel with Keras "
                                "metadata)")
    if keras_model is None:
        try:
            return _build_without_keras(model, how, directory), [], []
        except UnsupportedModelError as error:
            return None, error.problems, []
    problems: list[Problem] = preflight(keras_model.get_config(), registered)
    if problems:
        return None, problems, []
    findings = probe(layer_probes(keras_model))
    removals = repairs(findings) if how.repair else None
    if findings and removals is None:
        return None, list(findings), []
    setup = resolve_training(model.path, model.kind, how.train, how.data, list(keras_model.output_names))
    conversions = tuple(CONVERSION_OF_CHECK[c] for c in how.checks if c in CONVERSION_CHECKS)
    needs_training = any(c in TRAINING_CHECKS or c in STORAGE_CHECKS for c in how.checks)
    reference = build_layers_reference(keras_model, directory, model.name, how.inputs, setup, custom_objects,
                                       conversions, needs_training, how.inner_outputs)
    changes = _repair(reference, removals, out / REPAIRED_DIRECTORY / model.name) if removals else []
    return reference, [], changes


def _build_without_keras(model: UserModel, how: ModelOptions, directory: Path) -> ReferenceModel:
    """The reference of a converted tfjs model, a TF SavedModel or a Keras 3 file (as a graph model)."""
    if model.kind in ("tfjs-layers", "tfjs-graph"):
        model_json = model.path if model.path.name == "model.json" else model.path / "model.json"
        return build_tfjs_reference(model_json, directory, model.name, how.inputs.files, how.expected)
    if model.kind == "onnx":
        from harness.reference.onnx_build import build_onnx_reference

        return build_onnx_reference(model.path, directory, model.name, how.inputs)
    found = torch_model(model.path)
    if found:
        from harness.reference.torch_build import build_torch_reference

        return build_torch_reference(*found, directory, model.name, how.inputs)
    if model.kind == "keras3":
        with tempfile.TemporaryDirectory() as exported:
            export_keras3_savedmodel(model.path, Path(exported) / "saved_model")
            return build_graph_reference(Path(exported) / "saved_model", directory, model.name, how.inputs)
    return build_graph_reference(model.path, directory, model.name, how.inputs)


def _repair(reference: ReferenceModel, removals: dict[str, tuple[str, ...]], target: Path) -> list[str]:
    """Remove ``removals`` from every layers model.json of ``reference`` (the model and its conversions),
    and copy the repaired model with its weights to ``target``; returns the changes, one line per layer."""
    layers_models = [reference.directory / reference.model_json] + [
        reference.directory / entry["directory"] / "model.json" for entry in reference.conversions.values()
        if entry["directory"] != GRAPH_DIRECTORY]
    changes = repair_model_json(layers_models[0], removals)
    for path in layers_models[1:]:
        repair_model_json(path, removals)
    copy_model_files(layers_models[0], target)
    return changes


def _run_checks(session: ParitySession, reference: ReferenceModel, backend: str,
                checks: tuple[str, ...]) -> list[CheckResult]:
    """Every check of ``checks`` on ``backend``: run where it applies, else a ``skip`` row saying why."""
    return [session.run_check(check, reference, backend) if check_applies(check, reference)
            else session.skip(check, reference, backend, skip_reason(check, reference)) for check in checks]


def _setup_error(model: UserModel, backend: str, error: HarnessError) -> CheckResult:
    return CheckResult(model=model.name, backend=backend, check="reference", status="error",
                       message=f"{model.name}: the reference could not be built: {error}",
                       details={"format": model.kind, "path": str(model.path)})


def _preflight_result(model: UserModel, backend: str, problems: list[Problem], changes: list[str],
                      out: Path, reference: ReferenceModel | None) -> CheckResult:
    details: dict[str, Any] = {"format": model.kind, "problems": [vars(p) for p in problems], "repairs": changes}
    if problems:
        message = f"{model.name}: tfjs cannot run this model as it is:\n" + "\n".join(f"  - {p}" for p in problems)
        if any(isinstance(p, ConfigFinding) and p.repair for p in problems):
            message += "\n(--repair removes the fields marked repairable, and every check then proves the result)"
        return CheckResult(model=model.name, backend=backend, check="preflight", status="fail", message=message,
                           details=details)
    lines = []
    if changes:
        repaired = out / REPAIRED_DIRECTORY / model.name / "model.json"
        lines += [f"repaired (--repair): every check below ran on {repaired}:"] + [f"  - {c}" for c in changes]
    route = reference.route if reference is not None else {}
    hops = judge_hops(reference) if reference is not None and route else []
    drifted = [hop for hop in hops if not hop["ok"]]
    if route:
        details["route"] = {"reference": route["reference"], "transposed": route["transposed"], "hops": hops}
        lines += [f"reference: {route['reference']}; transposed for the converted model: "
                  f"{', '.join(route['transposed']) or 'nothing'}"]
        lines += [f"{hop['hop']}: max abs err {hop['max_abs_err']:.2g}, {hop['tolerance_ratio']:.2g} of tolerance"
                  f"{'' if hop['ok'] else ' (OUT OF TOLERANCE)'}" for hop in hops]
    if drifted:
        lines.insert(0, f"{model.name}: the numbers drift before the browser, first at {drifted[0]['hop']}")
    return CheckResult(model=model.name, backend=backend, check="preflight", status="fail" if drifted else "pass",
                       message="\n".join(lines), details=details)
