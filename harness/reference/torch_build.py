"""The reference of a PyTorch module (``tfjs-parity check FILE.py:FACTORY``, with the ``torch`` extra).

``FACTORY()`` in ``FILE.py`` returns ``(module, example_inputs)``: the module (put in eval mode) and a tuple of
tensors, batch first, in the range the model expects. PyTorch's outputs on those inputs are the reference; the
module is exported to ONNX (``model.onnx`` in the reference directory, so the route can be reproduced) and goes
the ONNX route (``onnx_build``), which measures each hop: PyTorch -> onnxruntime, onnxruntime -> TensorFlow,
then the browser.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.reference.directory import ReferenceModel
from harness.reference.formats import ModelFormatError
from harness.reference.onnx_build import OnnxToolsMissing, Upstream, build_onnx_reference
from harness.reference.user_build import InputPlan

ONNX_OPSET = 17  # onnx 1.19 and onnx2tf 1.29 both take it; torch's TorchScript exporter writes it
TORCH_INSTALL_HINT = ("pip install --no-deps torch (a CPU build: torch==2.13.0+cpu here) and its dependencies "
                      "filelock, networkx, jinja2, fsspec (docs/onnx.md)")


def load_factory(source: Path, factory: str) -> tuple[Any, tuple[Any, ...]]:
    """Run ``factory`` from ``source``: the module in eval mode and its example inputs; ``ModelFormatError``
    names the file, the factory and what is wrong."""
    import torch

    spec = importlib.util.spec_from_file_location(f"tfjs_parity_torch_{source.stem}", source)
    if spec is None or spec.loader is None:
        raise ModelFormatError(f"{source}: not a Python file the harness can import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that classes defined there can be found again (pickling, dataclasses)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's code may raise anything
        raise ModelFormatError(f"{source}: importing it failed: {type(error).__name__}: {error}") from None
    make = getattr(module, factory, None)
    if not callable(make):
        raise ModelFormatError(f"{source}: has no function {factory!r} (give FILE.py:FACTORY, FACTORY returning "
                               "(module, example_inputs))")
    try:
        made = make()
    except Exception as error:  # noqa: BLE001 - the user's code may raise anything
        raise ModelFormatError(f"{source}:{factory}() failed: {type(error).__name__}: {error}") from None
    if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module)):
        raise ModelFormatError(f"{source}:{factory}() must return (module, example_inputs): a torch.nn.Module and a "
                               f"tuple of tensors; it returned {type(made).__name__}")
    network, examples = made
    examples = tuple(examples) if isinstance(examples, (tuple, list)) else (examples,)
    if not examples or not all(isinstance(x, torch.Tensor) for x in examples):
        raise ModelFormatError(f"{source}:{factory}(): example_inputs must be a tensor or a tuple of tensors")
    if any(x.dim() == 0 or x.shape[0] < 2 for x in examples):
        raise ModelFormatError(f"{source}:{factory}(): each example input needs a batch dimension of at least 2 "
                               "(a reference must vary across the batch)")
    return network.eval(), examples


def export(source: Path, factory: str, model_onnx: Path, arrays: Path) -> None:
    """In the exporting process: run the factory, save its inputs and PyTorch's outputs in ``arrays``
    (``input_N.npy``, ``output_N.npy``) and export the module to ``model_onnx``."""
    import torch

    network, examples = load_factory(source, factory)
    with torch.no_grad():
        produced = network(*examples)
    outputs = list(produced) if isinstance(produced, (tuple, list)) else [produced]
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        raise ModelFormatError(f"{source}:{factory}: the module must return a tensor or a tuple of tensors")
    input_names = [f"input_{i}" for i in range(len(examples))]
    output_names = [f"output_{i}" for i in range(len(outputs))]
    try:
        torch.onnx.export(network, examples, str(model_onnx), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes={n: {0: "batch"} for n in input_names + output_names})
    except Exception as error:  # noqa: BLE001 - the exporter raises many kinds
        raise ModelFormatError(f"{source}:{factory}: torch.onnx.export refused it (route PyTorch -> ONNX): "
                               f"{type(error).__name__}: {str(error).splitlines()[0]}") from None
    for kind, tensors in (("input", examples), ("output", outputs)):
        for i, tensor in enumerate(tensors):
            np.save(arrays / f"{kind}_{i}.npy", tensor.detach().cpu().numpy())
    modules = {path: type(child).__name__ for path, child in network.named_modules() if path}
    (arrays / MODULES_FILE).write_text(json.dumps(modules))


def build_torch_reference(source: Path, factory: str, directory: Path, name: str, plan: InputPlan,
                          route: str | None = None) -> ReferenceModel:
    """PyTorch's outputs on the factory's example inputs as the reference; the module exported to
    ``directory/model.onnx`` and taken the ONNX route (``route``, or each in turn). PyTorch runs in a process of
    its own: the user's code stays out of the harness, and so does torch (importing it changes TensorFlow's float32
    results in the last bit)."""
    if importlib.util.find_spec("torch") is None:
        raise OnnxToolsMissing(f"checking a PyTorch module needs torch, which is not installed: {TORCH_INSTALL_HINT}")
    exported = directory / "model.onnx"
    with tempfile.TemporaryDirectory(prefix="tfjs-parity-torch-") as work:
        done = subprocess.run([sys.executable, "-m", __name__, str(source), factory, str(exported), work],
                              capture_output=True, text=True)
        if done.returncode != 0:
            refused = [line[len(REFUSED):] for line in done.stderr.splitlines() if line.startswith(REFUSED)]
            raise ModelFormatError(refused[0] if refused else f"{source}:{factory}: exporting it failed:\n"
                                   + "\n".join(done.stderr.strip().splitlines()[-6:]))
        inputs, outputs = ([np.load(path) for path in sorted(Path(work).glob(f"{kind}_*.npy"),
                                                             key=lambda p: int(p.stem.split("_")[1]))]
                           for kind in ("input", "output"))
        modules = json.loads((Path(work) / MODULES_FILE).read_text())
    upstream = Upstream(inputs=inputs, outputs=outputs, runtime="PyTorch (eval mode)",
                        hop="PyTorch -> onnxruntime (torch.onnx.export)", modules=modules)
    return build_onnx_reference(exported, directory, name, plan, upstream, route)


MODULES_FILE = "modules.json"  # the module's submodules, path -> class (ONNX node names carry the path)
REFUSED = "tfjs-parity refused: "  # how the exporting process hands a ``ModelFormatError`` back


if __name__ == "__main__":  # the exporting process: FILE.py FACTORY MODEL.onnx ARRAYS_DIRECTORY
    try:
        export(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    except ModelFormatError as refusal:
        print(f"{REFUSED}{refusal}", file=sys.stderr)
        sys.exit(2)
