"""How a user's model becomes a reference, and its preflight row: the route its format takes (a Keras 2 model through
the layers pipeline with preflight, the page's layer probes and ``--repair``; a Keras 3 model as its Keras 2 twin, or
on the SavedModel route; any other format through its builder, a graph model with its quantized and sharded
conversions), and the row that says what preflight found, the route and its hops, and what was rewritten."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS
from harness.checks import CHECKS, USER_CHECKS
from harness.reference.artifacts import copy_model_files
from harness.reference.config_probes import (
    ConfigFinding,
    LayerProbe,
    layer_probes,
    repair_model_json,
    repairs,
)
from harness.reference.directory import GRAPH_DIRECTORY, ReferenceModel
from harness.reference.formats import load_keras2_model
from harness.reference.graph_conversions import add_graph_conversions
from harness.reference.inner_outputs import UnknownLayerError
from harness.reference.keras3_twin import (
    TwinRefused,
    as_keras3_reference,
    keras2_twin,
    load_keras3_model,
    on_the_savedmodel_route,
    with_keras3_graph,
)
from harness.reference.model_formats import MODEL_FORMATS
from harness.reference.preflight import Problem, preflight
from harness.reference.user_build import InputPlan, UnsupportedModelError, build_layers_reference
from harness.reference.user_training import resolve_training
from harness.results import CheckResult
from harness.run.route import judge_hops, reaches_the_browser

MODELS_DIRECTORY = "models"
REPAIRED_DIRECTORY = "repaired"  # --repair's (and the Keras 3 route's) model.json files with their weights, per model


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
    route: str | None = None  # an ONNX or PyTorch model: only this route (``reference.onnx_routes``), not each in turn


@dataclass(frozen=True)
class UserModel:
    """One MODEL of the run: its path, format, and the name its rows carry."""

    path: Path
    format: str  # a ``MODEL_FORMATS`` key, or "refused"
    name: str
    refused: str | None = None  # why the file cannot be checked (its format); the other models still are


def prepare_model(model: UserModel, how: ModelOptions, out: Path, custom_objects: dict[str, Any],
                  registered: set[str], probe: Callable[[list[LayerProbe]], list[ConfigFinding]],
                  ) -> tuple[ReferenceModel | None, list[Problem], list[str]]:
    """``model``'s reference (None when preflight found problems), preflight's problems, and the changes
    ``--repair`` made to its model.json."""
    directory = out / MODELS_DIRECTORY / model.name
    directory.mkdir(parents=True)
    layers_route = model.format == "keras3" and not how.via_savedmodel
    build = None if layers_route else MODEL_FORMATS[model.format].build
    if build is not None and how.inner_outputs:
        raise UnknownLayerError(f"--inner-output {','.join(how.inner_outputs)}: {model.path} is a {model.format} "
                                "model; inner outputs are compared on Keras models (.h5, .keras, SavedModel with "
                                "Keras metadata)")
    if build is not None:
        try:
            reference = build(model.path, directory, model.name, how.inputs, how.expected, how.route)
        except UnsupportedModelError as error:
            return None, error.problems, []
        return _with_graph_conversions(reference, how), [], []
    if layers_route:
        return _prepare_keras3(model, how, directory, custom_objects, registered, probe)
    keras_model = load_keras2_model(model.path, custom_objects)
    return _prepare_layers(keras_model, model, how, directory, custom_objects, registered, probe)


def _with_graph_conversions(reference: ReferenceModel, how: ModelOptions) -> ReferenceModel:
    """A graph model's reference with the quantized and sharded conversions ``how.checks`` need."""
    if not reference.is_graph_model:
        return reference
    return add_graph_conversions(reference, tuple(c for check in how.checks if (c := CHECKS[check].conversion)))


def _prepare_layers(keras_model: Any, model: UserModel, how: ModelOptions, directory: Path,
                    custom_objects: dict[str, Any], registered: set[str],
                    probe: Callable[[list[LayerProbe]], list[ConfigFinding]],
                    ) -> tuple[ReferenceModel | None, list[Problem], list[str]]:
    """A Keras 2 model through the layers pipeline: preflight, the page's layer probes (``--repair``), the reference
    with its training runs and conversions."""
    problems: list[Problem] = preflight(keras_model.get_config(), registered)
    if problems:
        return None, problems, []
    findings = probe(layer_probes(keras_model))
    removals = repairs(findings) if how.repair else None
    if findings and removals is None:
        return None, list(findings), []
    setup = resolve_training(model.path, model.format, how.train, how.data, list(keras_model.output_names))
    conversions = tuple(conversion for c in how.checks if (conversion := CHECKS[c].conversion) is not None)
    needs_training = any(CHECKS[c].wants_training for c in how.checks)
    reference = build_layers_reference(keras_model, directory, model.name, how.inputs, setup, custom_objects,
                                       conversions, needs_training, how.inner_outputs)
    changes = _repair(reference, removals, directory.parent.parent / REPAIRED_DIRECTORY / model.name) \
        if removals else []
    return reference, [], changes


def _prepare_keras3(model: UserModel, how: ModelOptions, directory: Path, custom_objects: dict[str, Any],
                    registered: set[str], probe: Callable[[list[LayerProbe]], list[ConfigFinding]],
                    ) -> tuple[ReferenceModel | None, list[Problem], list[str]]:
    """A Keras 3 model on the layers route (its Keras 2 twin, ``reference.keras3_twin``); where the twin is refused or
    tfjs cannot run it, on the SavedModel route, the reason recorded as the route tried first."""
    original = load_keras3_model(model.path)
    try:
        twin = keras2_twin(original)
        reference, problems, changes = _prepare_layers(twin.model, model, how, directory, custom_objects, registered,
                                                       probe)
        if reference is None:
            raise TwinRefused("tfjs cannot run its Keras 2 form: " + "; ".join(map(str, problems)))
    except TwinRefused as refused:
        shutil.rmtree(directory)
        directory.mkdir(parents=True)
        graph = MODEL_FORMATS["keras3"].build
        assert graph is not None
        fallback = graph(model.path, directory, model.name, how.inputs, how.expected, None)
        return _with_graph_conversions(on_the_savedmodel_route(fallback, str(refused)), how), [], []
    reference = with_keras3_graph(as_keras3_reference(reference, original, twin.rewrites), model.path)
    copy_model_files(reference.directory / reference.model_json,
                     directory.parent.parent / REPAIRED_DIRECTORY / model.name)
    return reference, [], changes


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


def preflight_row(model: UserModel, backend: str, problems: list[Problem], changes: list[str],
                      out: Path, reference: ReferenceModel | None) -> CheckResult:
    details: dict[str, Any] = {"format": model.format, "problems": [vars(p) for p in problems], "repairs": changes}
    if problems:
        routes = any(isinstance(p, Problem) and p.kind == "route" for p in problems)
        heading = ("no route takes this model to tfjs; each route tried, and why it failed" if routes
                   else "tfjs cannot run this model as it is")
        message = f"{model.name}: {heading}:\n" + "\n".join(f"  - {p}" for p in problems)
        if any(isinstance(p, ConfigFinding) and p.repair for p in problems):
            message += "\n(--repair removes the fields marked repairable, and every check then proves the result)"
        return CheckResult(model=model.name, backend=backend, check="preflight", status="fail", message=message,
                           details=details)
    lines = []
    if changes:
        repaired = out / REPAIRED_DIRECTORY / model.name / "model.json"
        lines += [f"repaired (--repair): every check below ran on {repaired}:"] + [f"  - {c}" for c in changes]
    route = reference.route if reference is not None else {}
    if route.get("rewrites"):
        details["rewrites"] = route["rewrites"]
        lines += [f"Keras 3 config rewritten into the form tfjs-layers reads (the model every check below ran on: "
                  f"{out / REPAIRED_DIRECTORY / model.name / 'model.json'}):"] + [f"  - {r}" for r in route["rewrites"]]
    hops = judge_hops(reference) if reference is not None and route else []
    drifted = [hop for hop in hops if not hop["ok"]]
    if route:
        details["route"] = {"name": route.get("name"), "what": route.get("what"), "tried": route.get("tried", []),
                            "runtime": route["runtime"], "transposed": route["transposed"], "hops": hops}
        if route.get("name"):
            lines += [f"route {route['name']}: {route['what']}"]
            lines += [f"  tried before it: route {t['route']}: {t['cause']}" for t in route.get("tried", [])]
        lines += [f"reference outputs from {route['runtime']}; transposed for the converted model: "
                  f"{', '.join(route['transposed']) or 'nothing'}"]
        lines += [f"{hop['hop']}: max abs err {hop['max_abs_err']:.2g}, {hop['tolerance_ratio']:.2g} of tolerance"
                  f"{'' if hop['ok'] else ' (OUT OF TOLERANCE)'}" for hop in hops]
    carried = bool(drifted) and reference is not None and reaches_the_browser(reference)
    if carried:
        lines.insert(0, f"{model.name}: the numbers drift before the browser, first at {drifted[0]['hop']}")
    elif drifted:
        lines.append(f"{drifted[0]['hop']} is out of tolerance, but TensorFlow's outputs (which the browser's model "
                     f"is made from) hold {route['runtime']}'s: the difference is the intermediate runtime's own")
    return CheckResult(model=model.name, backend=backend, check="preflight", status="fail" if carried else "pass",
                       message="\n".join(lines), details=details)
