"""``tfjs-parity check MODEL [MODEL ...]``: users' own models, each converted and checked on every backend.

One run, one TensorFlow import and one report for all the models. First every MODEL's format is
detected (a Keras 3 file goes the layers route as its Keras 2 twin, ``reference.keras3_twin``, or with
``via_savedmodel`` the SavedModel route) and a browser starts with the user's
``custom_js`` in each backend's page. Then, model by model: load, preflight (one ``preflight`` row
per backend), build the reference through the same pipeline as the zoo's (``reference.keras_build``
for a Keras model). A model whose reference cannot be built (unreadable, outputs that prove nothing,
bad ``--data``) gets one ``error`` row per backend naming the cause, and the run goes on with the
next model; the run then ends with that cause (exit status 2). Then the run engine (``run.engine``)
runs every selected check of the prepared models on every backend, in one browser or several
(``--parallel``, remote endpoints); a check that cannot apply to a model is a ``skip`` row that says
why. Each model's reference directory is kept in ``out/models/NAME/``, so a failure can be
reproduced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from harness.browser.page import BackendPage, BrowserError, CheckTimeoutError, PageCrashedError, PageOperation
from harness.checks import CHECKS
from harness.reference.onnx_routes import ROUTE_NAMES
from harness.errors import HarnessError, UsageError
from harness.options import known_names, reference_timeout
from harness.reference.directory import ReferenceModel
from harness.reference.formats import (
    ModelFormatError,
    detect_format,
    load_custom_objects,
    torch_model,
)
from harness.reference.keras_env import configure_tensorflow_environment
from harness.reference.config_probes import (
    ConfigFinding,
    LayerProbe,
    config_findings,
    probe_requests,
)
from harness.reference.preflight import Problem, load_refusal
from harness.reference.user_build import (
    InputPlan,
)
from harness.reference.user_training import check_train_fields, read_train_file
from harness.report.document import build_report
from harness.results import CheckResult
from harness.run.engine import RunEngine, RunOutcome, RunSettings, row_order, run_or_skip
from harness.run.model_prepare import (
    MODELS_DIRECTORY,
    ModelOptions,
    UserModel,
    preflight_row,
    prepare_model,
)
from harness.run.power import power_block
from harness.run.interrupt import deadline
from harness.run.shards import Group
from harness.run.tensorflow_log import TENSORFLOW_LOG

REFERENCE_BUILD = "reference-build"  # the row of a model whose reference could not be built (one per backend)
CUSTOM_JS_DIRECTORY = "custom-js"  # only the user's --custom-js is served from here
CUSTOM_JS = "custom.js"
POWER_BACKEND = "cpu"  # where faults are planted for a weak reference (the exact backend), if the run has it


@dataclass(frozen=True)
class CheckOptions:
    """What ``tfjs-parity check`` was asked to do: which models, how, and where and how they run (``settings``: its
    backends are ``how.backends``)."""

    models: tuple[Path, ...]
    how: ModelOptions = field(default_factory=ModelOptions)
    settings: RunSettings = RunSettings()
    reference_timeout_s: float | None = None  # per model's reference build; None: options.reference_timeout's default


class PlanningHost(Protocol):
    """Where a user's model is prepared: a browser's pages (to probe what tfjs makes of the model), the run's rows,
    and the page scripts every page runs. A ``ParitySession`` (the pytest API) or the run engine (``check``)."""

    def page(self, backend: str) -> BackendPage: ...

    def model_url(self, reference: ReferenceModel) -> str: ...

    def record(self, row: CheckResult) -> object: ...

    def add_page_script(self, script: Path, backends: tuple[str, ...]) -> None: ...


def model_options(backends: tuple[str, ...], checks: tuple[str, ...], train: dict[str, Any] | str | Path | None = None,
                  data: str | Path | None = None, inputs: Sequence[str | Path] = (),
                  expected: Sequence[str | Path] = (), batch: int = 8,
                  value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
                  shapes: tuple[tuple[int, ...], ...] = (), **how: Any) -> ModelOptions:
    """``ModelOptions`` from the pytest API's arguments, each checked; ``UsageError`` names the argument."""
    from harness.browser.backends import backend_ids

    unknown = sorted(set(how) - {"via_savedmodel", "custom_objects", "custom_js", "repair", "inner_outputs", "route"})
    if unknown:
        raise UsageError(f"unknown argument {', '.join(unknown)}")
    if how.get("route") not in (None, *ROUTE_NAMES):
        raise UsageError(f"route={how['route']!r}: no such route (the routes: {', '.join(ROUTE_NAMES)})")
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
            model_format = detect_format(path)
            if how.route and model_format not in ("onnx", "torch"):
                raise ModelFormatError(f"{path}: --route {how.route} chooses how an ONNX or PyTorch model is "
                                       f"converted; this is a {model_format} model")
        except ModelFormatError as error:
            model_format, refused = "refused", str(error)
        torch = torch_model(path)
        stem = (names[index] if names else torch[1] if torch else path.stem if path.name != "model.json"
                else path.parent.name)
        stem = stem if _utf8(stem) else stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        found.append(UserModel(path, model_format, name, refused))
    if all(model.refused for model in found):  # nothing to check: say why before any browser starts
        raise ModelFormatError("\n".join(str(model.refused) for model in found))
    return found


def run_user_check(options: CheckOptions) -> RunOutcome:
    """Prepare every model (its preflight rows, its reference), then run every check on every backend through the run
    engine (``run.engine``: journal, resume, browsers, progress, interrupts); the report is rewritten after each model
    and each (model, backend) group. A model whose reference could not be built ends the run with its cause, after
    the others ran."""
    how = options.how
    models = validate(options.models, how)
    settings = replace(options.settings, backends=how.backends)
    out = settings.out
    selection = {"models": [str(path) for path in options.models], "backends": list(how.backends),
                 "checks": list(how.checks)}
    order = row_order(("model", [m.name for m in models]), ("backend", how.backends),
                      ("check", (REFERENCE_BUILD, "preflight", *how.checks)))

    def build(rows: list[CheckResult], environment: dict[str, Any], blocks: dict[str, Any]) -> dict[str, Any]:
        return build_report({**environment, **_environment(models), "tensorflow_log": TENSORFLOW_LOG}, rows, None,
                            blocks)

    with RunEngine(settings, selection, f"`tfjs-parity check --resume {out}` with the same models and options runs "
                   "the rest", order, build) as engine:
        journal_rows = engine.rows
        to_run = [model for model in models if not _finished(model.name, how, journal_rows)]
        for directory in [out / MODELS_DIRECTORY / model.name for model in to_run] if settings.resume \
                else [out / MODELS_DIRECTORY]:
            shutil.rmtree(directory, ignore_errors=True)
        engine.expect(len(models) * len(how.backends) * (len(how.checks) + 1))  # a preflight row and the checks
        refused = [row.message for row in journal_rows
                   if row.check == REFERENCE_BUILD and row.backend == how.backends[0]]
        checker = ModelChecker(engine, out, reference_timeout(options.reference_timeout_s, settings.timeout_s))
        references, _, newly_refused = checker.prepare(to_run, how, after_model=engine.write,
                                                       measured=engine.measured)
        engine.run([Group(name, backend, how.checks) for name in references for backend in how.backends],
                   lambda session, group, check: run_or_skip(session, references[group.model], group.backend, check),
                   references)
        weak = {name: reference for name, reference in references.items() if reference.weak_reference}
        if weak:  # what predict can catch with a weak reference: planted faults (docs/power.md)
            engine.write(power=power_block(settings, POWER_BACKEND if POWER_BACKEND in how.backends
                                           else how.backends[0], weak))
        outcome = engine.finish()
    if refused + newly_refused:
        raise _RefusedModels("\n".join(refused + newly_refused))
    return outcome


def _finished(name: str, how: ModelOptions, rows: list[CheckResult]) -> bool:
    """Whether ``rows`` (an interrupted run's) hold everything model ``name`` gets on every backend: its reference
    error, a preflight that found problems (no check follows it), or its preflight and every check."""
    have = {(row.backend, row.check): row for row in rows if row.model == name}

    def done(backend: str) -> bool:
        preflight = have.get((backend, "preflight"))
        return (backend, REFERENCE_BUILD) in have or preflight is not None and (
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
    """Prepares users' models on a ``PlanningHost``, call after call (the CLI's one run, or the pytest API's calls):
    their preflight rows, and reference directories in ``out/models/NAME/``."""

    def __init__(self, host: PlanningHost, out: Path, reference_timeout_s: float) -> None:
        configure_tensorflow_environment()  # before anything imports TensorFlow, whoever calls
        self.host = host
        self.out = out
        self.reference_timeout_s = reference_timeout_s  # per model's build
        self.names: set[str] = set()  # the models' names so far: each call's are new (``validate(taken=...)``)
        self._scripts = 0

    def prepare(self, models: list[UserModel], how: ModelOptions, after_model: Callable[[], object] | None = None,
                measured: set[tuple[str, str, str]] | None = None,
                ) -> tuple[dict[str, ReferenceModel], list[CheckResult], list[str]]:
        """Prepare ``models`` (from ``validate``) as ``how`` says: the references of those tfjs can run, the rows
        recorded (each model's preflight per backend, but not those already ``measured``; an ``error`` row per backend
        for a model whose reference could not be built), and the causes of those models."""
        if not models:  # a resumed run whose models are all finished: no browser needed
            return {}, [], []
        measured = measured or set()
        custom_objects = load_custom_objects(how.custom_objects)
        if how.custom_js is not None:
            self._add_script(how.custom_js, how.backends)
        registered = set(self.host.page(how.backends[0]).call(PageOperation.REGISTERED_CLASSES))

        def probe(probes: list[LayerProbe]) -> list[ConfigFinding]:  # the live page: an error replaces it
            return config_findings(probes, self.host.page(how.backends[0]).call(PageOperation.PROBE_LAYERS,
                                                                              probe_requests(probes)))

        references: dict[str, ReferenceModel] = {}
        rows: list[CheckResult] = []
        refused = []
        for model in models:
            try:
                if model.refused:
                    raise ModelFormatError(model.refused)
                with deadline(self.reference_timeout_s, f"building the reference of {model.name} ({model.path}: "
                              "Keras, the converter, training runs; --reference-timeout gives it more)"):
                    reference, problems, changes = prepare_model(model, how, self.out, custom_objects, registered,
                                                                 probe)
                refusal = self._load_refusal(reference, how.backends[0]) if reference is not None else None
                if refusal is not None:
                    reference, problems = None, [refusal]
            except Exception as error:  # noqa: BLE001 - a model that cannot be prepared must not end the others
                error = error if isinstance(error, HarnessError) else HarnessError(f"{type(error).__name__}: {error}")
                refused.append(f"{model.name}: {error}")
                made = [_setup_error(model, backend, error) for backend in how.backends]
            else:
                made = [preflight_row(model, backend, problems, changes, self.out, reference)
                        for backend in how.backends if (model.name, backend, "preflight") not in measured]
                if reference is not None:
                    references[model.name] = reference
            for row in made:
                self.host.record(row)
            rows += made
            if after_model is not None:
                after_model()
        return references, rows, refused

    def _load_refusal(self, reference: ReferenceModel, backend: str) -> Problem | None:
        """Why tfjs will not load ``reference``'s layers model.json (tried on ``backend``'s page, then disposed), or
        None: a model.json tfjs refuses (an InputLayer without a shape, an unknown class, a Keras 3 field) is named by
        preflight, before any check."""
        if reference.is_graph_model:
            return None
        page = self.host.page(backend)
        url = self.host.model_url(reference)
        try:
            page.call(PageOperation.DISPOSE, page.call(PageOperation.LOAD, url))
        except (CheckTimeoutError, PageCrashedError):
            raise
        except BrowserError as error:
            return load_refusal(reference, str(error).replace(url, str(reference.directory / reference.model_json)))
        return None

    def _add_script(self, script: Path, backends: tuple[str, ...]) -> None:
        """Serve a copy of the user's ``--custom-js`` (alone in its folder) and run it in each backend's page."""
        self._scripts += 1
        folder = self.out / CUSTOM_JS_DIRECTORY / str(self._scripts)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(script, folder / CUSTOM_JS)
        self.host.add_page_script(folder / CUSTOM_JS, backends)


class _RefusedModels(HarnessError):
    """At least one model's reference could not be built (each model's cause, one per line)."""


def _environment(models: list[UserModel]) -> dict[str, Any]:
    if len(models) == 1:
        return {"model": str(models[0].path), "format": models[0].format}
    return {"models": {m.name: {"path": str(m.path), "format": m.format} for m in models}}


def _setup_error(model: UserModel, backend: str, error: HarnessError) -> CheckResult:
    return CheckResult(model=model.name, backend=backend, check=REFERENCE_BUILD, status="error",
                       message=f"{model.name}: the reference could not be built: {error}",
                       details={"format": model.format, "path": str(model.path)})
