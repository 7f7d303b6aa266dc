"""PyTorch modules (``check FILE.py:FACTORY``, the torch extra) through ONNX to every backend, with the error of
every hop: PyTorch -> onnxruntime, onnxruntime -> TensorFlow, then the browser. A module whose exported graph
differs from what PyTorch runs fails, naming that first hop."""

import json
from importlib.util import find_spec

import pytest

from conftest import RECURRENT_ON_WASM, assert_graph_model_passes, run_cli
from harness import cli

# Looked up, not imported: importing torch changes TensorFlow's float32 results in the last bit, and this process
# builds Keras references (the harness itself runs PyTorch in a process of its own).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("torch_models"),
              pytest.mark.skipif(find_spec("torch") is None or find_spec("onnx2tf") is None,
                                 reason="torch (CPU build) or onnx2tf is not installed (docs/onnx.md)")]
BACKENDS = "cpu,webgl,wasm"

FACTORIES = '''
import torch
from torch import nn


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.head(x.mean(dim=(2, 3)))


def cnn():
    torch.manual_seed(0)
    model = SmallCnn()
    with torch.no_grad():  # statistics as training would leave them, not the identity
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model, (torch.rand(8, 3, 16, 16),)


def mlp():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4), nn.Softmax(dim=-1))
    return model, (torch.rand(8, 20),)


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[0])


def lstm():
    torch.manual_seed(3)
    return Recurrent(), (torch.rand(8, 6, 4),)


class ExportsSomethingElse(nn.Module):
    """Runs one thing in PyTorch and exports another: the exported graph is off by 1e-3."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x):
        y = self.linear(x)
        return y * 1.001 if torch.onnx.is_in_onnx_export() else y


def drifts():
    torch.manual_seed(4)
    return ExportsSomethingElse(), (torch.rand(8, 6),)


def not_a_module():
    return "model", (torch.rand(8, 6),)
'''


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch")
    (folder / "factories.py").write_text(FACTORIES)
    out = folder / "report"
    models = [f"{folder / 'factories.py'}:{name}" for name in ("cnn", "mlp", "lstm")]
    status = run_cli(["check", *models, "--backends", BACKENDS, "--checks", "graph-model", "--out", str(out), "-q",
                      "--accept", RECURRENT_ON_WASM])
    return status, json.loads((out / "parity.json").read_text()), folder


def test_every_hop_is_measured_and_each_module_passes(torch_run):
    status, report, _ = torch_run
    rows = {(r["model"], r["backend"], r["check"]): r for r in report["results"]}
    assert status == cli.EXIT_PASS, [r["message"] for r in rows.values() if r["status"] not in ("pass", "skip")]
    for name in ("cnn", "mlp", "lstm"):
        route = rows[(name, "cpu", "preflight")]["details"]["route"]
        assert route["runtime"] == "PyTorch (eval mode)"
        assert [hop["hop"] for hop in route["hops"]] == ["PyTorch -> onnxruntime (torch.onnx.export)",
                                                         "onnxruntime -> TensorFlow (onnx2tf)"]
        assert all(hop["ok"] and hop["max_abs_err"] < 1e-5 for hop in route["hops"]), route["hops"]
        for backend in BACKENDS.split(","):
            assert_graph_model_passes(rows[(name, backend, "graph-model")], recurrent=name == "lstm")
    assert rows[("cnn", "cpu", "preflight")]["details"]["route"]["transposed"] == ["input input_0: NCHW -> NHWC"]


def test_the_exported_model_is_kept_to_reproduce_the_route(torch_run):
    _, _, folder = torch_run
    assert (folder / "report" / "models" / "cnn" / "model.onnx").is_file()


def test_a_drift_at_export_fails_naming_the_first_hop(torch_run):
    _, _, folder = torch_run
    out = folder / "drift"
    assert run_cli(["check", f"{folder / 'factories.py'}:drifts", "--backends", "cpu", "--checks", "graph-model",
                    "--out", str(out)]) == cli.EXIT_FAIL
    rows = {r["check"]: r for r in json.loads((out / "parity.json").read_text())["results"]}
    assert rows["preflight"]["status"] == "fail"
    assert rows["preflight"]["message"].startswith(
        "drifts: the numbers drift before the browser, first at PyTorch -> onnxruntime (torch.onnx.export)")
    assert rows["graph-model"]["status"] == "fail"  # the browser runs the exported model: off by the same


def test_a_factory_that_returns_no_module_is_named(torch_run, capsys):
    _, _, folder = torch_run
    assert run_cli(["check", f"{folder / 'factories.py'}:not_a_module", "--backends", "cpu", "--checks",
                    "graph-model", "--out", str(folder / "bad")]) == cli.EXIT_USAGE
    assert "factories.py:not_a_module() must return (module, example_inputs)" in capsys.readouterr().err
