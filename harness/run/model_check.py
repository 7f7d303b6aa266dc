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

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.browser.tfjs_versions import TfjsSelection
from harness.checks import CONVERSION_CHECKS, STORAGE_CHECKS, TRAINING_CHECKS, USER_CHECKS, check_applies, skip_reason
from harness.checks.conversion import CONVERSION_OF_CHECK
from harness.errors import HarnessError, UsageError
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S
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
)
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
from harness.reference.user_training import read_train_file, resolve_training
from harness.report.files import REPORT_JSON, write_report
from harness.results import CheckResult
from harness.run.session import ParitySession

MODELS_DIRECTORY = "models"
REPAIRED_DIRECTORY = "repaired"  # --repair's model.json files (with their weights), one folder per model
CUSTOM_JS_DIRECTORY = "custom-js"  # only the user's --custom-js is served from here
CUSTOM_JS = "custom.js"


@dataclass(frozen=True)
class CheckOptions:
    """What ``tfjs-parity check`` was asked to do."""

    models: tuple[Path, ...]
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    checks: tuple[str, ...] = USER_CHECKS
    out: Path = DEFAULT_REPORT_DIR
    inputs: InputPlan = field(default_factory=InputPlan)
    expected: tuple[Path, ...] = ()
    train: Path | None = None
    data: Path | None = None
    via_savedmodel: bool = False
    custom_objects: Path | None = None
    custom_js: Path | None = None
    repair: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    tfjs: TfjsSelection | None = None  # None: the pinned tfjs only


@dataclass(frozen=True)
class UserModel:
    """One MODEL of the run: its path, format, and the name its rows carry."""

    path: Path
    kind: str
    name: str


def validate(options: CheckOptions) -> list[UserModel]:
    """Every MODEL with its format and a unique name, after every check that needs no browser;
    ``UsageError`` (``ModelFormatError``) names the problem."""
    if len(options.models) > 1:
        for flag, value in (("--inputs", options.inputs.files), ("--expected", options.expected),
                            ("--data", options.data)):
            if value:
                raise UsageError(f"{flag} belongs to one model; check models that need it one at a time")
    if options.custom_js is not None and not options.custom_js.is_file():
        raise ModelFormatError(f"--custom-js {options.custom_js}: no such file")
    if options.data is not None and not options.data.is_file():
        raise UsageError(f"--data {options.data}: no such file")
    models, names = [], set()
    for path in options.models:
        kind = detect_format(path)
        if kind == "keras3" and not options.via_savedmodel:
            raise ModelFormatError(f"{path}: a Keras 3 model: {KERAS3_ROUTE_HINT}")
        stem = path.stem if path.name != "model.json" else path.parent.name
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}-{n}"
        names.add(name)
        models.append(UserModel(path, kind, name))
    return models


def run_user_check(options: CheckOptions) -> tuple[Path, list[CheckResult]]:
    """Check every model on every backend; the report is rewritten after each model. A model whose
    reference could not be built ends the run with its cause, after the others ran."""
    models = validate(options)
    train = read_train_file(options.train) if options.train is not None else {}
    configure_tensorflow_environment()
    custom_objects = load_custom_objects(options.custom_objects)
    shutil.rmtree(options.out / MODELS_DIRECTORY, ignore_errors=True)
    results: list[CheckResult] = []
    refused: list[str] = []
    with ParitySession(options.timeout_s, on_result=results.append, tfjs=options.tfjs) as session:
        if options.custom_js is not None:
            scripts = options.out / CUSTOM_JS_DIRECTORY
            scripts.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(options.custom_js, scripts / CUSTOM_JS)
            for backend in options.backends:
                session.page(backend).call("addScript", session.file_url(scripts, CUSTOM_JS))
        page = session.page(options.backends[0])
        registered = set(page.call("registeredClasses"))

        def probe(probes: list[LayerProbe]) -> list[ConfigFinding]:
            return config_findings(probes, page.call("probeLayers", probe_requests(probes)))

        for model in models:
            try:
                reference, problems, changes = _prepare(model, options, train, custom_objects, registered, probe)
            except HarnessError as error:
                refused.append(f"{model.name}: {error}")
                results.extend(_setup_error(model, backend, error) for backend in options.backends)
            else:
                for backend in options.backends:
                    results.append(_preflight_result(model, backend, problems, changes, options.out))
                    if reference is not None:
                        _run_checks(session, reference, backend, options.checks)
            write_report(options.out, {**session.environment(), **_environment(models)}, results)
    if refused:
        raise _RefusedModels("\n".join(refused))
    return options.out / REPORT_JSON, results


class _RefusedModels(HarnessError):
    """At least one model's reference could not be built (each model's cause, one per line)."""


def _environment(models: list[UserModel]) -> dict[str, Any]:
    if len(models) == 1:
        return {"model": str(models[0].path), "format": models[0].kind}
    return {"models": {m.name: {"path": str(m.path), "format": m.kind} for m in models}}


def _prepare(model: UserModel, options: CheckOptions, train: dict[str, Any], custom_objects: dict[str, Any],
             registered: set[str], probe: Callable[[list[LayerProbe]], list[ConfigFinding]],
             ) -> tuple[ReferenceModel | None, list[Problem], list[str]]:
    """``model``'s reference (None when preflight found problems), preflight's problems, and the changes
    ``--repair`` made to its model.json."""
    directory = options.out / MODELS_DIRECTORY / model.name
    directory.mkdir(parents=True)
    keras_model = load_keras2_model(model.path, custom_objects) if model.kind in LAYERS_FORMATS else None
    if keras_model is None:
        try:
            return _build_without_keras(model, options, directory), [], []
        except UnsupportedModelError as error:
            return None, error.problems, []
    problems: list[Problem] = preflight(keras_model.get_config(), registered)
    if problems:
        return None, problems, []
    findings = probe(layer_probes(keras_model))
    removals = repairs(findings) if options.repair else None
    if findings and removals is None:
        return None, list(findings), []
    setup = resolve_training(model.path, model.kind, train, options.data, list(keras_model.output_names))
    conversions = tuple(CONVERSION_OF_CHECK[c] for c in options.checks if c in CONVERSION_CHECKS)
    needs_training = any(c in TRAINING_CHECKS or c in STORAGE_CHECKS for c in options.checks)
    reference = build_layers_reference(keras_model, directory, model.name, options.inputs, setup, custom_objects,
                                       conversions, needs_training)
    changes = _repair(reference, removals, options.out / REPAIRED_DIRECTORY / model.name) if removals else []
    return reference, [], changes


def _build_without_keras(model: UserModel, options: CheckOptions, directory: Path) -> ReferenceModel:
    """The reference of a converted tfjs model, a TF SavedModel or a Keras 3 file (as a graph model)."""
    if model.kind in ("tfjs-layers", "tfjs-graph"):
        model_json = model.path if model.path.name == "model.json" else model.path / "model.json"
        return build_tfjs_reference(model_json, directory, model.name, options.inputs.files, options.expected)
    if model.kind == "keras3":
        with tempfile.TemporaryDirectory() as exported:
            export_keras3_savedmodel(model.path, Path(exported) / "saved_model")
            return build_graph_reference(Path(exported) / "saved_model", directory, model.name, options.inputs)
    return build_graph_reference(model.path, directory, model.name, options.inputs)


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


def _run_checks(session: ParitySession, reference: ReferenceModel, backend: str, checks: tuple[str, ...]) -> None:
    """Every check of ``checks`` on ``backend``: run where it applies, else a ``skip`` row saying why."""
    for check in checks:
        if check_applies(check, reference):
            session.run_check(check, reference, backend)
        else:
            session.skip(check, reference, backend, skip_reason(check, reference))


def _setup_error(model: UserModel, backend: str, error: HarnessError) -> CheckResult:
    return CheckResult(model=model.name, backend=backend, check="reference", status="error",
                       message=f"{model.name}: the reference could not be built: {error}",
                       details={"format": model.kind, "path": str(model.path)})


def _preflight_result(model: UserModel, backend: str, problems: list[Problem], changes: list[str],
                      out: Path) -> CheckResult:
    details = {"format": model.kind, "problems": [vars(p) for p in problems], "repairs": changes}
    if problems:
        message = f"{model.name}: tfjs cannot run this model as it is:\n" + "\n".join(f"  - {p}" for p in problems)
        if any(isinstance(p, ConfigFinding) and p.repair for p in problems):
            message += "\n(--repair removes the fields marked repairable, and every check then proves the result)"
        return CheckResult(model=model.name, backend=backend, check="preflight", status="fail", message=message,
                           details=details)
    message = ""
    if changes:
        repaired = out / REPAIRED_DIRECTORY / model.name / "model.json"
        message = (f"repaired (--repair): every check below ran on {repaired}:\n"
                   + "\n".join(f"  - {change}" for change in changes))
    return CheckResult(model=model.name, backend=backend, check="preflight", status="pass", message=message,
                       details=details)
