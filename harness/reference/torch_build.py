"""The reference of a PyTorch module (``tfjs-parity check FILE.py:FACTORY``, with the ``torch`` extra).

``FACTORY()`` in ``FILE.py`` returns ``(module, example_inputs)``: the module (put in eval mode) and a tuple of
tensors, batch first, in the range the model expects. PyTorch's outputs on those inputs are the reference; the
module is exported to ONNX (``model.onnx`` in the reference directory, so the route can be reproduced) and goes
the ONNX route (``onnx_build``), which measures each hop: PyTorch -> onnxruntime, onnxruntime -> TensorFlow,
then the browser.
"""

from __future__ import annotations

import importlib.util
import sys
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
    torch = _require_torch()
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


def build_torch_reference(source: Path, factory: str, directory: Path, name: str, plan: InputPlan) -> ReferenceModel:
    """PyTorch's outputs on the factory's example inputs as the reference; the module exported to
    ``directory/model.onnx`` and taken the ONNX route."""
    torch = _require_torch()
    network, examples = load_factory(source, factory)
    with torch.no_grad():
        produced = network(*examples)
    outputs = list(produced) if isinstance(produced, (tuple, list)) else [produced]
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        raise ModelFormatError(f"{source}:{factory}: the module must return a tensor or a tuple of tensors")
    input_names = [f"input_{i}" for i in range(len(examples))]
    output_names = [f"output_{i}" for i in range(len(outputs))]
    exported = directory / "model.onnx"
    try:
        torch.onnx.export(network, examples, str(exported), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes={n: {0: "batch"} for n in input_names + output_names})
    except Exception as error:  # noqa: BLE001 - the exporter raises many kinds
        raise ModelFormatError(f"{source}:{factory}: torch.onnx.export refused it (route PyTorch -> ONNX): "
                               f"{type(error).__name__}: {str(error).splitlines()[0]}") from None
    upstream = Upstream(inputs=[x.detach().cpu().numpy() for x in examples],
                        outputs=[np.asarray(o.detach().cpu().numpy()) for o in outputs],
                        reference="PyTorch (eval mode)", hop="PyTorch -> onnxruntime (torch.onnx.export)")
    return build_onnx_reference(exported, directory, name, plan, upstream)


def _require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise OnnxToolsMissing(f"checking a PyTorch module needs torch, which is not installed: {TORCH_INSTALL_HINT}") \
            from None
    return torch
