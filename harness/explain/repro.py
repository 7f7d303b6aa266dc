"""A repro to file upstream: ``OUT/repro/MODEL/BACKEND/CHECK/``, runnable in a browser without the harness.

- ``model/``: the smallest model that still fails: the one layer out of tolerance with its weights
  (a kernel problem), or the whole model (error accumulated over depth), converted by the tensorflowjs
  converter as the failing model was; for a graph model, the converted graph, run from the diverging
  node's inputs;
- ``data.json``: its inputs and TensorFlow's outputs (plain JSON numbers), and for a named kernel its
  inputs, attributes and TensorFlow's output (for a graph model: the nodes fed and the node fetched);
- ``tfjs/``: copies of the tfjs files the failing run loaded;
- ``index.html``: loads them, runs the model (and the kernel alone) on ``?backend=`` (default: the
  failing one), prints expected against actual and sets ``window.reproResult``;
- ``ISSUE.md``: tfjs' bug template filled in, with what the repro gave in this browser;
- ``repro.json``: what the repro runs and its tolerance.

The harness proves the repro: it opens ``index.html`` in the same browser, in a frame of the failing
backend's page, and sees it fail there and pass on a backend where the check passed.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.browser.backends import BACKENDS, split_backend_id
from harness.browser.evidence import folder_name
from harness.browser.page import PageOperation
from harness.browser.tensors import decode_tensor
from harness.explain.isolation import LayerInputs, base_layer
from harness.explain.workaround import CANDIDATES
from harness.reference.conversions import convert_layers_model
from harness.reference.directory import ReferenceModel
from harness.reference.keras_env import library_versions
from harness.results import CheckResult
from harness.verdict.tolerances import Tolerance

REPRO_DIRECTORY = "repro"
PAGE_TEMPLATE = Path(__file__).with_name("repro_page.html")
REPRO_TIMEOUT_S = 120.0
LAYERS_CODE = """const model = await tf.loadLayersModel('model/model.json');
const data = await (await fetch('data.json')).json();
const xs = data.inputs.map(t => tf.tensor(t.values, t.shape, t.dtype));
const actual = await [].concat(model.predict(xs.length === 1 ? xs[0] : xs))[data.output].data();"""
GRAPH_CODE = """const model = await tf.loadGraphModel('model/model.json');
const data = await (await fetch('data.json')).json();
const tensor = t => tf.tensor(t.values, t.shape, t.dtype);
const feeds = Object.fromEntries(data.feeds.map(f => [f.node, tensor(f.tensor)]));
const actual = await (await model.executeAsync(feeds, [data.fetch])).data();"""


def repro_directory(out: Path, row: CheckResult) -> Path:
    """``OUT/repro/MODEL/BACKEND/CHECK``."""
    return out.joinpath(REPRO_DIRECTORY, *map(folder_name, (row.model, row.backend, row.check)))


def one_layer_model(files: Any, layer: str) -> Any:
    """Layer ``layer`` of Keras model ``files`` alone, with its weights, as a Keras model of its own inputs."""
    import tf_keras

    found = files.get_layer(base_layer(layer))
    symbolic = found.input if isinstance(found.input, (list, tuple)) else [found.input]
    inputs = [tf_keras.Input(tuple(t.shape[1:]), dtype=t.dtype) for t in symbolic]
    clone = type(found).from_config(found.get_config())
    model = tf_keras.Model(inputs, clone(inputs if len(inputs) > 1 else inputs[0]))
    clone.set_weights(found.get_weights())
    return model


@dataclass
class ReproModel:
    """What a repro runs: ``write_model(folder)`` writes the model into ``model/``; ``data`` is ``data.json`` (inputs
    and TensorFlow's outputs, and for a graph model the nodes fed and fetched); ``what`` names it."""

    write_model: Callable[[Path], None]
    data: dict[str, Any]
    what: str


def layers_repro(files: Any, reference: ReferenceModel, given: LayerInputs | None, kernel: dict[str, Any] | None,
                 expected_kernel: np.ndarray | None) -> ReproModel:
    """A layers model's repro: the layer out of tolerance alone (``given``; None: the whole model) on Keras' inputs,
    and ``kernel``, the recorded kernel that differs, with TensorFlow's output of it."""
    if given is not None:
        layer = given.layer
        model, inputs, outputs = one_layer_model(files, layer), given.inputs, given.outputs
        what = f"layer {layer} alone"
        output = int(layer.split("[", 1)[1].rstrip("]")) if "[" in layer else 0
    else:
        model, what, output = files, f"model {reference.name}", 0
        inputs, outputs = [x[:8] for x in reference.load_inputs()], [y[:8] for y in reference.load_outputs()]
    data: dict[str, Any] = {"inputs": [_plain(x) for x in inputs], "expected": _plain(outputs[output]),
                            "output": output}
    if kernel is not None and expected_kernel is not None:
        data["op"] = {"kernel": kernel["name"], "attrs": kernel["attrs"],
                      "inputs": [{"key": e["key"], "tensor": _plain(decode_tensor(e["tensor"]))}
                                 for e in kernel["inputs"]],
                      "expected": _plain(expected_kernel)}
    def convert(folder: Path) -> None:
        convert_layers_model(model, folder)

    return ReproModel(convert, data, what)


def graph_repro(model_json: Path, feeds: dict[str, np.ndarray], node: str, op: str,
                expected: np.ndarray) -> ReproModel:
    """A graph model's repro: the converted graph, fed ``feeds`` (node name -> TensorFlow's values), fetching
    ``node`` (an ``op``), against TensorFlow's value of it."""
    def copy(folder: Path) -> None:
        shutil.copy(model_json, folder / model_json.name)
        for group in json.loads(model_json.read_text())["weightsManifest"]:
            for path in group["paths"]:
                shutil.copy(model_json.parent / path, folder / path)

    data = {"graph": True, "feeds": [{"node": name, "tensor": _plain(value)} for name, value in feeds.items()],
            "fetch": node, "expected": _plain(expected)}
    return ReproModel(copy, data, f"graph node {node} ({op})")


def write_repro(directory: Path, row: CheckResult, made: ReproModel, tolerance: Tolerance, session: Any) -> Path:
    """Write the repro of failed ``row`` into ``directory`` (emptied first)."""
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "model").mkdir(parents=True)
    made.write_model(directory / "model")
    (directory / "data.json").write_text(json.dumps(made.data))
    bundles = _copy_bundles(session.server.served_bundles(), row.backend, directory / "tfjs")
    atol = tolerance.atol + max(tolerance.channel_atol, default=0.0)
    _write_page(directory, row, made.what, bundles, atol, tolerance.rtol)
    kernel = (made.data.get("op") or {}).get("kernel")
    (directory / "repro.json").write_text(json.dumps({"what": made.what, "atol": atol, "rtol": tolerance.rtol,
                                                      "kernel": kernel, "graph": bool(made.data.get("graph"))}))
    return directory


def prove_repro(directory: Path, row: CheckResult, passing: str | None, session: Any) -> dict[str, Any]:
    """Open the repro in the failing backend's page (a frame of it) on the failing backend and on ``passing``: what
    each gave (``window.reproResult``), and whether the repro reproduces (fails there, passes on ``passing``)."""
    page = session.page(row.backend)
    url = session.file_url(directory, "index.html")
    seen: dict[str, Any] = {}
    for backend in [row.backend, *([passing] if passing else [])]:
        seen[backend] = page.call(PageOperation.OPEN_REPRO, f"{url}?backend={_variant_id(backend)}",
                                  REPRO_TIMEOUT_S * 1000, timeout_s=REPRO_TIMEOUT_S + 10)
    failed_here = seen[row.backend].get("pass") is False
    passed_there = passing is None or seen[passing].get("pass") is True
    proof = {"reproduces": failed_here and passed_there, "runs": seen}
    _write_issue(directory, row, session, proof)
    return proof


def _variant_id(backend: str) -> str:
    """The repro page's backend id: the variant, without browser engine or tfjs version."""
    return split_backend_id(backend)[0]


def _plain(array: np.ndarray) -> dict[str, Any]:
    return {"shape": list(array.shape), "dtype": "int32" if array.dtype.kind in "iu" else "float32",
            "values": array.ravel().tolist()}


def _copy_bundles(served: dict[str, dict[str, Any]], backend: str, target: Path) -> list[str]:
    """Copy the tfjs files of ``backend``'s version the run served into ``target``; returns the script names to
    load, in order (the core bundle first)."""
    _, version = split_backend_id(backend)
    target.mkdir()
    scripts = []
    for url, record in served.items():
        package = url.split("/")[2]
        if (package.partition("@")[2] or None) != version:
            continue
        source = Path(str(record["file"]))
        shutil.copy(source, target / source.name)
        if source.suffix == ".js":
            scripts.append(source.name)
    wasm = [name for name in scripts if "wasm" in name]
    if wasm:  # the WASM binaries are fetched by the backend, not listed as scripts
        dist = Path(str(next(r["file"] for u, r in served.items() if u.endswith(wasm[0])))).parent
        for binary in dist.glob("*.wasm"):
            shutil.copy(binary, target / binary.name)
    return sorted(scripts, key=lambda name: name != "tf.min.js")


def _write_page(directory: Path, row: CheckResult, what: str, scripts: list[str], atol: float, rtol: float) -> None:
    variants = {name: {"backend": BACKENDS[name].tfjs_backend, "flags": BACKENDS[name].flags} for name in CANDIDATES}
    config = {"backend": _variant_id(row.backend), "variants": variants, "atol": atol, "rtol": rtol, "what": what}
    page = (PAGE_TEMPLATE.read_text()
            .replace("__TITLE__", f"{what} (fails on {row.backend})")
            .replace("__SCRIPTS__", "\n".join(f'  <script src="tfjs/{name}"></script>' for name in scripts))
            .replace("__BACKENDS__", ", ".join(variants))
            .replace("__CONFIG__", json.dumps(config)))
    (directory / "index.html").write_text(page)


def _write_issue(directory: Path, row: CheckResult, session: Any, proof: dict[str, Any]) -> None:
    """``ISSUE.md``: tfjs' bug template (.github/ISSUE_TEMPLATE/00-bug-issue.md) filled in, with what the repro gave
    in this browser (``proof``)."""
    made = json.loads((directory / "repro.json").read_text())
    what, atol, rtol = made["what"], made["atol"], made["rtol"]
    info = session.backend_info.get(row.backend, {})
    variant = BACKENDS.get(_variant_id(row.backend))
    explanation = row.details.get("explanation", {})
    runs = proof["runs"]
    observed = runs[row.backend]
    converter = library_versions().get("tensorflowjs", "?")
    kernel = observed.get("op")
    op = (f"\n\nThe kernel `{made['kernel']}` alone (`tf.engine().runKernel`, second table) differs from TensorFlow's "
          f"op by {kernel['maxAbsErr']:.3g} on the same inputs." if kernel and made["kernel"] else "")
    others = "; ".join(f"on `{backend}` {'it passes' if r.get('pass') else 'it fails'} (max abs error "
                       f"{r.get('maxAbsErr', float('nan')):.3g})"
                       for backend, r in runs.items() if backend != row.backend)
    text = f"""# {what} gives different numbers on the {row.backend} backend

**System information**
- Have I written custom code (as opposed to using a stock example script provided in TensorFlow.js): yes, the
  repro below (generated by tfjs-parity)
- OS Platform and Distribution: {platform.platform()}
- Mobile device: none
- TensorFlow.js installed from (npm or script link): npm, @tensorflow/tfjs {info.get("tfjsVersion", "?")}
- TensorFlow.js version: {info.get("tfjsVersion", "?")}
- Browser version: {info.get("userAgent", "?")}
- Tensorflow.js Converter Version: {converter}
- Backend: `{variant.tfjs_backend if variant else row.backend}`, flags {json.dumps(variant.flags if variant else {})}
- WebGL renderer: {info.get("webglRenderer") or "n/a"}

**Describe the current behavior**

On `{row.backend}`, {what} gives outputs that differ from TensorFlow's on the same inputs:
{observed.get("outOfTolerance")} of {observed.get("elements")} elements are out of tolerance, the largest error
{observed.get("maxAbsErr", float("nan")):.3g} (element {observed.get("worst")}: TensorFlow gives
{observed.get("expectedAtWorst")}, tfjs {observed.get("actualAtWorst")}).{op}
{f"{chr(10)}{others[0].upper()}{others[1:]}." if others else ""}

Diagnosis: {explanation.get("cause", "")}

**Describe the expected behavior**

The outputs match TensorFlow's within float32 rounding: `|actual - expected| <= {atol:.3g} + {rtol:g} * |expected|`.

**Standalone code to reproduce the issue**

The folder holds the model (`model/`, converted by tensorflowjs {converter}), its inputs and TensorFlow's outputs
(`data.json`), the tfjs files (`tfjs/`) and `index.html`. Serve the folder (`python3 -m http.server`) and open
`index.html` (the failing backend) or `index.html?backend=wasm`. What it runs:

```js
{GRAPH_CODE if made.get("graph") else LAYERS_CODE}
// compared with data.expected.values (TensorFlow's outputs)
```

**Other info / logs**

Found by tfjs-parity checking the model `{row.model}` ({row.check} on {row.backend}).
Workaround: {explanation.get("workaround", {}).get("line", "")}
"""
    (directory / "ISSUE.md").write_text(text)
