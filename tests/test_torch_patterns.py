"""PyTorch modules as people write them (normalisations, upsampling, attention, grouped and transposed
convolutions), each built here and seeded, taken through the routes (``reference.onnx_routes``) to cpu, webgl and
wasm in one ``check`` run: each passes ``graph-model`` on the route that holds, or fails naming the module, the op
and each route's cause; no row is an ``error``."""

import json
from importlib.util import find_spec

import pytest

from conftest import run_cli
from harness import cli

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("torch_patterns"),
              pytest.mark.skipif(find_spec("torch") is None or find_spec("onnx2tf") is None,
                                 reason="torch (CPU build) or onnx2tf is not installed (docs/onnx.md)")]
BACKENDS = ("cpu", "webgl", "wasm")

FACTORIES = '''
import torch
from torch import nn
import torch.nn.functional as F


def groupnorm():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.SiLU()), (torch.rand(4, 3, 8, 8),)


def transposed():
    torch.manual_seed(1)
    return (nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(16, 8, 2, stride=2)),
            (torch.rand(4, 3, 8, 8),))


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(3)

    def forward(self, x):
        skip = F.interpolate(x[:, :3], scale_factor=2, mode="bilinear", align_corners=False)
        return self.act(self.shuffle(self.conv(x))) + skip


def upsampler():
    torch.manual_seed(2)
    return Upsampler(), (torch.rand(4, 4, 8, 8),)


class Attention(nn.Module):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        weights = ((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5).softmax(dim=-1)
        return x + self.proj((weights @ v).transpose(1, 2).reshape(b, n, d))


def attention():
    torch.manual_seed(3)
    return Attention(), (torch.rand(4, 10, 16),)


class Mha(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.attention(x, x, x, need_weights=False)[0])


def mha():
    torch.manual_seed(4)
    return Mha(), (torch.rand(4, 10, 16),)


def audio():
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv1d(1, 8, 5, dilation=2, padding=4), nn.InstanceNorm1d(8, affine=True), nn.GELU(),
                         nn.Conv1d(8, 8, 3, groups=4, padding=1), nn.Hardtanh(),
                         nn.AvgPool1d(3, stride=2, ceil_mode=True)), (torch.rand(4, 1, 64) * 2 - 1,)


def grouped():
    torch.manual_seed(6)
    return nn.Sequential(nn.Conv2d(4, 8, 3, groups=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=4),
                         nn.InstanceNorm2d(8, affine=True)), (torch.rand(4, 4, 10, 10),)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.SiLU())
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)

    def forward(self, x):
        return self.up(self.block(x))


def decoder():
    torch.manual_seed(7)
    return Decoder(), (torch.rand(4, 3, 8, 8),)
'''
# The route each module takes with onnx2tf 1.29.24, as measured (the first that holds every Python hop).
ROUTES = {"groupnorm": "onnx2tf-folded", "transposed": "onnx2tf-static-batch", "upsampler": "onnx2tf-folded",
          "attention": "onnx2tf-static-batch", "mha": "onnx2tf-static-batch", "audio": "onnx2tf",
          "grouped": "onnx2tf"}


@pytest.fixture(scope="module")
def patterns_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patterns")
    (folder / "patterns.py").write_text(FACTORIES)
    out = folder / "report"
    models = [f"{folder / 'patterns.py'}:{name}" for name in (*ROUTES, "decoder")]
    status = run_cli(["check", *models, "--backends", ",".join(BACKENDS), "--checks", "graph-model", "--out",
                      str(out), "-q"])
    rows = {(r["model"], r["backend"], r["check"]): r for r in json.loads((out / "parity.json").read_text())["results"]}
    return status, rows, folder


def test_each_pattern_passes_on_the_route_that_holds(patterns_run):
    status, rows, _ = patterns_run
    assert status == cli.EXIT_FAIL  # the decoder: no route takes it
    assert not [key for key, row in rows.items() if row["status"] == "error"], rows
    for name, route in ROUTES.items():
        preflight = rows[(name, "cpu", "preflight")]
        assert preflight["status"] == "pass", preflight["message"]
        assert preflight["details"]["route"]["name"] == route, preflight["message"]
        assert preflight["message"].startswith(f"route {route}: "), preflight["message"]
        for backend in BACKENDS:
            row = rows[(name, backend, "graph-model")]
            assert row["status"] == "pass", (name, backend, row["message"])


def test_the_routes_tried_first_are_named_with_the_node_op_and_module(patterns_run):
    _, rows, _ = patterns_run
    tried = {name: rows[(name, "cpu", "preflight")]["details"]["route"]["tried"] for name in ROUTES}
    assert [t["route"] for t in tried["groupnorm"]] == ["onnx2tf"]
    cause = tried["groupnorm"][0]["cause"]
    assert "(at ONNX node /1/Constant_1 (Constant, from PyTorch module 1 (GroupNorm)))" in cause, cause
    assert [t["route"] for t in tried["attention"]] == ["onnx2tf", "onnx2tf-folded", "onnx2tf-kept-layout"]
    assert "drift" in tried["attention"][1]["cause"]  # converts and runs, wrongly: the next route is taken
    assert "ConvTranspose" in tried["transposed"][0]["cause"] or "conv2d_transpose" in tried["transposed"][0]["cause"]


def test_grouped_convolutions_are_split_for_tfjs(patterns_run):
    _, rows, _ = patterns_run
    for name in ("audio", "grouped"):
        what = rows[(name, "cpu", "preflight")]["details"]["route"]["what"]
        assert what.endswith("grouped convolutions split (onnx2tf -dgc)"), what


def test_a_difference_only_onnxruntime_shows_does_not_fail(patterns_run):
    """onnxruntime's AveragePool with ceil_mode divides the overhanging window by the whole kernel; PyTorch, onnx's
    reference evaluator and TensorFlow by the part inside: the hop is out of tolerance and named, the browser's
    model holds PyTorch's outputs, and the model passes."""
    _, rows, _ = patterns_run
    preflight = rows[("audio", "cpu", "preflight")]
    hops = preflight["details"]["route"]["hops"]
    assert not hops[0]["ok"] and hops[0]["max_abs_err"] > 0.1, hops
    assert "the difference is the intermediate runtime's own" in preflight["message"], preflight["message"]


def test_a_module_no_route_converts_fails_naming_each_route(patterns_run):
    _, rows, _ = patterns_run
    preflight = rows[("decoder", "cpu", "preflight")]
    message = preflight["message"]
    assert preflight["status"] == "fail" and message.startswith("decoder: no route takes this model to tfjs"), message
    for route in ROUTES.values():
        assert f"route {route}: " in message, message
    assert "from PyTorch module block.1 (GroupNorm)" in message, message
    assert "(at ONNX node /up/ConvTranspose (ConvTranspose, from PyTorch module up (ConvTranspose2d)))" in message
    assert "what to try: " in message
    assert ("decoder", "cpu", "graph-model") not in rows or rows[("decoder", "cpu", "graph-model")]["status"] != "pass"


def test_a_drift_in_one_converted_op_fails_naming_the_hop(patterns_run):
    """Forced onto the folded route, the attention module converts and runs, but TensorFlow's graph computes
    another thing (a shape folded for one batch): preflight and every backend fail, naming the hop."""
    _, _, folder = patterns_run
    out = folder / "drift"
    assert run_cli(["check", f"{folder / 'patterns.py'}:attention", "--backends", "cpu", "--checks", "graph-model",
                    "--route", "onnx2tf-folded", "--out", str(out)]) == cli.EXIT_FAIL
    rows = {r["check"]: r for r in json.loads((out / "parity.json").read_text())["results"]}
    assert rows["preflight"]["status"] == "fail"
    assert rows["preflight"]["message"].startswith(
        "attention: the numbers drift before the browser, first at onnxruntime -> TensorFlow (onnx2tf)")
    assert rows["graph-model"]["status"] == "fail"
