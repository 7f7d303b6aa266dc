"""``tfjs-parity check MODEL``: a user's own model, converted and checked on every backend.

Order: detect the format (refusing Keras 3 files unless ``via_savedmodel``), load the model, start
the browser, load the user's ``custom_js`` into each backend's page, preflight (one ``preflight``
row per backend), convert, then ``topology`` and ``predict`` (or ``quantized[...]``) for a layers
model, ``graph-model`` for a graph model. The reference directory is kept in ``out/model/`` next
to the report, so a failure can be reproduced.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.options import DEFAULT_REPORT_DIR, DEFAULT_TIMEOUT_S
from harness.reference.directory import ReferenceModel
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
from harness.reference.preflight import Problem, preflight
from harness.reference.user_build import (
    InputPlan,
    UnsupportedModelError,
    build_graph_reference,
    build_layers_reference,
    build_tfjs_reference,
)
from harness.report.files import REPORT_JSON, write_report
from harness.results import CheckResult
from harness.run.session import ParitySession

REFERENCE_DIRECTORY = "model"
CUSTOM_JS = "custom.js"


@dataclass(frozen=True)
class CheckOptions:
    """What ``tfjs-parity check`` was asked to do."""

    model: Path
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    out: Path = DEFAULT_REPORT_DIR
    inputs: InputPlan = field(default_factory=InputPlan)
    expected: tuple[Path, ...] = ()
    quantize: str | None = None
    via_savedmodel: bool = False
    custom_objects: Path | None = None
    custom_js: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def validate(options: CheckOptions) -> str:
    """MODEL's format, after every check that needs no browser; ``ModelFormatError`` names the problem."""
    kind = detect_format(options.model)
    if kind == "keras3" and not options.via_savedmodel:
        raise ModelFormatError(f"{options.model}: a Keras 3 model: {KERAS3_ROUTE_HINT}")
    if options.quantize and kind not in LAYERS_FORMATS:
        raise ModelFormatError(f"--quantize applies to Keras 2 models (.h5, tf_keras SavedModel), converted as "
                               f"layers models; {options.model} is {kind}")
    if options.custom_js is not None and not options.custom_js.is_file():
        raise ModelFormatError(f"--custom-js {options.custom_js}: no such file")
    return kind


def run_user_check(options: CheckOptions) -> tuple[Path, list[CheckResult]]:
    """Check the user's model on every backend; the report is rewritten after each backend."""
    kind = validate(options)
    configure_tensorflow_environment()
    name = options.model.stem if options.model.name != "model.json" else options.model.parent.name
    directory = options.out / REFERENCE_DIRECTORY
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    custom_objects = load_custom_objects(options.custom_objects)
    keras_model = load_keras2_model(options.model, custom_objects) if kind in LAYERS_FORMATS else None
    if options.custom_js is not None:
        shutil.copyfile(options.custom_js, directory / CUSTOM_JS)
    results: list[CheckResult] = []
    with ParitySession(options.timeout_s, on_result=results.append) as session:
        environment = {"model": str(options.model), "format": kind}

        def report() -> None:
            write_report(options.out, {**session.environment(), **environment}, results)

        for backend in options.backends:
            _prepare_page(session, backend, directory, options)
        registered = set(session.page(options.backends[0]).call("registeredClasses"))
        problems = preflight(keras_model.get_config(), registered) if keras_model is not None else []
        reference = None
        if not problems:
            try:
                reference = _build_reference(kind, keras_model, custom_objects, directory, name, options)
            except UnsupportedModelError as error:
                problems = error.problems
        for backend in options.backends:
            results.append(_preflight_result(name, backend, kind, problems))
            if reference is not None:
                for check in _checks(reference, options):
                    session.run_check(check, reference, backend)
            report()
    return options.out / REPORT_JSON, results


def _prepare_page(session: ParitySession, backend: str, directory: Path, options: CheckOptions) -> None:
    if options.custom_js is not None:
        session.page(backend).call("addScript", session.file_url(directory, CUSTOM_JS))


def _build_reference(kind: str, keras_model: Any, custom_objects: dict[str, Any], directory: Path, name: str,
                     options: CheckOptions) -> ReferenceModel:
    if keras_model is not None:
        return build_layers_reference(keras_model, directory, name, options.inputs, options.quantize, custom_objects)
    if kind in ("tfjs-layers", "tfjs-graph"):
        model_json = options.model if options.model.name == "model.json" else options.model / "model.json"
        return build_tfjs_reference(model_json, directory, name, options.inputs.files, options.expected)
    if kind == "keras3":
        with tempfile.TemporaryDirectory() as exported:
            export_keras3_savedmodel(options.model, Path(exported) / "saved_model")
            return build_graph_reference(Path(exported) / "saved_model", directory, name, options.inputs)
    return build_graph_reference(options.model, directory, name, options.inputs)


def _checks(reference: ReferenceModel, options: CheckOptions) -> list[str]:
    if "graph" in reference.conversions:
        return ["graph-model"]
    return ["topology", f"quantized[{options.quantize}]" if options.quantize else "predict"]


def _preflight_result(name: str, backend: str, kind: str, problems: list[Problem]) -> CheckResult:
    details = {"format": kind, "problems": [vars(p) for p in problems]}
    if problems:
        message = f"{name}: tfjs cannot run this model as it is:\n" + "\n".join(f"  - {p}" for p in problems)
        return CheckResult(model=name, backend=backend, check="preflight", status="fail", message=message,
                           details=details)
    return CheckResult(model=name, backend=backend, check="preflight", status="pass", details=details)
