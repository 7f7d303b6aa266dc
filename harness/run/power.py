"""Detection power (``run --power``): could ``predict`` have caught a wrong model, with these reference inputs
and this tolerance? Faults are planted into the converted model on the page, one at a time and undone after
(``parity.models.plant``), and its outputs (and inner outputs) compared with the unchanged Keras reference as
``predict`` compares them. A constant reference, saturated outputs or too few samples make a check blind; this
shows where."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.browser.engines import engines_of
from harness.browser.page import BackendPage, PageOperation
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.checks.inference import expected_predictions, with_inner_outputs
from harness.errors import HarnessError
from harness.reference.directory import ReferenceModel, tfjs_weight_name
from harness.run.engine import RunSettings
from harness.run.session import ParitySession
from harness.verdict.compare import Tolerance, allowance, compare_within, worst_ratio

LAYER_CHANGE = 1e-3  # the relative change planted in one weight of each layer
ELEMENTS_PER_SAMPLE = 16  # output elements per reference sample ``most_visible`` takes one gradient each for
PROJECTIONS_PER_SAMPLE = 4  # beyond: this many gradients of seeded sign projections of them
SIGN_SEED = 0  # those projections' signs
SCAN = tuple(10.0 ** -k for k in range(1, 9))  # relative changes tried for the smallest one predict flags
ADVICE = ("give predict more to see: --inputs from real data, a wider --input-range, or a larger --batch, so that "
          "every layer moves the outputs beyond the tolerance; if the head compresses (global pooling into a few "
          "classes), compare the layer before it too with --inner-output LAYER")


@dataclass(frozen=True)
class Fault:
    """A wrong model to plant: what it is, in words, and the page's ``plant`` request."""

    label: str
    request: dict[str, Any]
    layer_change: bool = False  # one of the per-layer relative changes


def layer_weights(reference: ReferenceModel) -> list[str]:
    """The first weight of each layer (kernel, gamma, embeddings), by its tfjs name, in the model's order."""
    names = [tfjs_weight_name(w.name) for w in reference.weights]
    first_of_layer = {name.rsplit("/", 1)[0]: name for name in reversed(names)}
    return [name for name in names if first_of_layer[name.rsplit("/", 1)[0]] == name]


def planted_faults(reference: ReferenceModel, visible: dict[str, int]) -> list[Fault]:
    """A 1e-3 relative change in one weight of each layer (element ``visible[name]`` of its first weight, see
    ``most_visible``), a transposed square kernel, every weight rounded to float16, the last bias zeroed, and
    the first non-linear activation made linear (those the model has)."""
    names = [tfjs_weight_name(w.name) for w in reference.weights]
    shapes = {tfjs_weight_name(w.name): tuple(w.shape) for w in reference.weights}
    faults = [Fault(f"{LAYER_CHANGE:g} relative change in {name}", {"kind": "scale", "weight": name, "index": index,
                                                                     "relative": LAYER_CHANGE}, True)
              for name, index in visible.items()]
    square = next((n for n in names if len(shapes[n]) in (2, 4) and shapes[n][0] == shapes[n][1] > 1), None)
    if square:
        faults.append(Fault(f"{square} transposed", {"kind": "transpose", "weight": square}))
    faults.append(Fault("every weight rounded to float16", {"kind": "float16"}))
    bias = next((n for n in reversed(names) if n.endswith("/bias")), None)
    if bias:
        faults.append(Fault(f"bias {bias} dropped (zeroed)", {"kind": "zero", "weight": bias}))
    activation = _first_activation(reference)
    if activation:
        layer, name = activation
        faults.append(Fault(f"activation of {layer} ({name}) made linear", {"kind": "activation", "layer": layer}))
    return faults


def _first_activation(reference: ReferenceModel) -> tuple[str, str] | None:
    """The first layer (at the model's top level) with a non-linear activation: its name and activation."""
    raw = json.loads((reference.directory / reference.model_json).read_text())
    config = raw["modelTopology"].get("model_config", {}).get("config", {})
    for layer in config.get("layers", []) if isinstance(config, dict) else []:
        activation = layer.get("config", {}).get("activation")
        if isinstance(activation, str) and activation != "linear":
            return layer["config"]["name"], activation
    return None


def most_visible(page: BackendPage, model_id: int, reference: ReferenceModel, inputs: list[dict[str, Any]],
                 judged: list[tuple[np.ndarray, Tolerance]]) -> dict[str, int]:
    """For the first weight of each layer, the element whose relative change moves some compared output most, in
    units of the tolerance there (to first order: |w * dy/dw| / allowance, from gradients on the page, one sample
    at a time). ``judged``: each output of page model ``model_id`` (the model's, then its inner outputs) with its
    tolerance. The one weight in which a layer's error shows first: a layer whose change there goes unseen is
    one the check is blind to."""
    names = layer_weights(reference)
    directions = _directions(judged)
    found = [page.call(PageOperation.MOST_VISIBLE, model_id, inputs,
                       [d for d in directions if d["sample"] == sample], names)
             for sample in sorted({d["sample"] for d in directions})]  # one call per sample: each within the timeout
    indices = [max(found, key=lambda f: f["effects"][k])["indices"][k] for k in range(len(names))]
    return dict(zip(names, indices))


def _directions(judged: list[tuple[np.ndarray, Tolerance]]) -> list[dict[str, Any]]:
    """Per reference sample, each output element over its allowance (``mostVisible``'s directions); a sample with
    more than ``ELEMENTS_PER_SAMPLE`` output elements gets ``PROJECTIONS_PER_SAMPLE`` seeded sign projections of
    them instead."""
    signs = np.random.default_rng(SIGN_SEED)
    directions = []
    for sample in range(judged[0][0].shape[0]):
        scales = [1.0 / allowance(e[sample:sample + 1], tolerance) for e, tolerance in judged]
        elements = sum(s.size for s in scales)
        if elements <= ELEMENTS_PER_SAMPLE:
            picks = [[(np.arange(elements) == k)[_span(scales, i)].reshape(s.shape) for i, s in enumerate(scales)]
                     for k in range(elements)]
        else:
            picks = [[signs.choice([-1.0, 1.0], size=s.shape) for s in scales] for _ in range(PROJECTIONS_PER_SAMPLE)]
        directions += [{"sample": sample, "weights": [encode_tensor((p * s).astype(np.float32))
                                                      for p, s in zip(pick, scales)]} for pick in picks]
    return directions


def _span(arrays: list[np.ndarray], index: int) -> slice:
    """Where ``arrays[index]`` lies when every array is flattened and joined."""
    start = sum(a.size for a in arrays[:index])
    return slice(start, start + arrays[index].size)


def measure_power(page: BackendPage, reference: ReferenceModel, model_url: str) -> dict[str, Any]:
    """Plant each fault on ``page`` and say which ``predict`` catches; the smallest relative change of one weight
    it flags (on the layer where the 1e-3 change showed most); and, when a fault is missed, what to change."""
    if reference.is_graph_model:
        return {"note": "a graph model: faults are planted into layers models only"}
    backend = page.backend
    inputs = [encode_tensor(x) for x in reference.load_inputs()]
    judged = expected_predictions(reference, backend)
    run_id = with_inner_outputs(page, reference, page.model(model_url))

    def ratio(request: dict[str, Any]) -> float:
        outputs = [decode_tensor(o) for o in page.call(PageOperation.PLANT, run_id, inputs, request)]
        return worst_ratio([compare_within(a, e, t) for a, (e, t) in zip(outputs, judged)]) or 0.0

    unchanged = ratio({"kind": "scale", "weight": tfjs_weight_name(reference.weights[0].name), "index": 0,
                       "relative": 0.0})
    if unchanged > 1:
        return {"note": f"predict fails on the unchanged model ({unchanged:.3g} of tolerance): nothing to measure"}
    planted = planted_faults(reference, most_visible(page, run_id, reference, inputs, judged))
    ratios = [ratio(fault.request) for fault in planted]
    missed = [fault.label for fault, r in zip(planted, ratios) if r <= 1]
    smallest = None
    layer_changes = [(r, fault) for fault, r in zip(planted, ratios) if fault.layer_change]
    if layer_changes:
        most = max(layer_changes, key=lambda pair: pair[0])[1].request
        flagged = [relative for relative in SCAN if ratio({**most, "relative": relative}) > 1]
        smallest = {"weight": most["weight"], "relative": min(flagged) if flagged else None}
    return {"backend": backend, "caught": len(planted) - len(missed), "planted": len(planted), "missed": missed,
            "faults": [{"fault": fault.label, "ratio": r} for fault, r in zip(planted, ratios)],
            "smallest_flagged_change": smallest,
            "warning": f"predict misses {', '.join(missed)}: {ADVICE}" if missed else None}


def power_block(settings: RunSettings, backend: str, references: dict[str, ReferenceModel]) -> dict[str, Any]:
    """The report's ``power`` block: ``measure_power`` for every model on ``backend``, in a session of its own; a
    model it cannot measure says why (the others are still measured). A model with a weak reference carries why."""
    models: dict[str, Any] = {}
    endpoint = settings.endpoints[0] if settings.endpoints else None
    with ParitySession(settings.timeout_s, tfjs=settings.tfjs, endpoint=endpoint, engines=engines_of((backend,))) \
            as session:
        for name, reference in references.items():
            try:
                models[name] = measure_power(session.page(backend), reference, session.model_url(reference))
            except HarnessError as error:
                models[name] = {"note": f"could not be measured: {error}"}
                session.discard_page(backend)
            if reference.weak_reference:
                models[name]["weak_reference"] = list(reference.weak_reference)
    return {"backend": backend, "models": models}
