"""ONNX models (built here with ``onnx.helper``: no PyTorch needed) through onnx2tf and the converter to every
backend: each passes against onnxruntime, the layouts onnx2tf transposed are named, a fault planted in the
converted weights fails, and ops that cannot make the route are named with the hop that refuses them."""

import json
import shutil

import numpy as np
import pytest

from conftest import RECURRENT_ON_WASM, assert_graph_model_passes, run_cli
from harness import cli
from harness.reference.directory import load_reference

onnx = pytest.importorskip("onnx", reason="the ONNX tools are installed by `make test` (docs/onnx.md)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("onnx_models")]
BACKENDS = "cpu,webgl,wasm"


def save_model(path, nodes, inputs, outputs, weights, opset=17):
    """An ONNX model of ``nodes``; ``inputs``/``outputs``: (name, shape[, ONNX element type]) with None for a
    dynamic dimension."""
    def info(name, shape, kind=TensorProto.FLOAT):
        dims = [d if d is not None else "batch" if i == 0 else f"d{i}" for i, d in enumerate(shape)]
        return helper.make_tensor_value_info(name, kind, dims)

    graph = helper.make_graph(nodes, path.stem, [info(*i) for i in inputs], [info(*o) for o in outputs],
                              initializer=[numpy_helper.from_array(w.astype(np.float32) if w.dtype.kind == "f"
                                                                   else w, n) for n, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def cnn(path, rng, batch_norm=True):
    """Conv, ReLU, max pooling, (an unfolded BatchNormalization,) global average pooling, Gemm: NCHW images."""
    nodes = [helper.make_node("Conv", ["x", "k", "kb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2])]
    weights = {"k": rng.normal(0, 0.4, (8, 3, 3, 3)), "kb": rng.normal(0, 0.1, 8), "g": rng.normal(0, 0.5, (8, 5)),
               "gb": rng.normal(0, 0.1, 5)}
    pooled = "p"
    if batch_norm:
        nodes.append(helper.make_node("BatchNormalization", ["p", "scale", "shift", "mean", "var"], ["n"]))
        weights.update(scale=rng.uniform(0.5, 1.5, 8), shift=rng.normal(0, 0.1, 8), mean=rng.normal(0.3, 0.1, 8),
                       var=rng.uniform(0.05, 0.2, 8))
        pooled = "n"
    nodes += [helper.make_node("GlobalAveragePool", [pooled], ["a"]),
              helper.make_node("Flatten", ["a"], ["f"]),
              helper.make_node("Gemm", ["f", "g", "gb"], ["y"])]
    return save_model(path, nodes, [("x", (None, 3, 16, 16))], [("y", (None, 5))], weights)


def mlp(path, rng):
    """Gemm, ReLU, Gemm, softmax."""
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["z"]), helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    weights = {"w1": rng.normal(0, 0.3, (20, 32)), "b1": rng.normal(0, 0.1, 32), "w2": rng.normal(0, 0.5, (32, 4)),
               "b2": rng.normal(0, 0.1, 4)}
    return save_model(path, nodes, [("x", (None, 20))], [("y", (None, 4))], weights)


def lstm(path, rng, steps=6, features=4, hidden=8):
    """An ONNX LSTM over batch-first sequences (transposed to the op's time-first layout), its last hidden state
    into a Gemm. The initial states are given, zeros of the batch's size, as PyTorch exports them (onnx2tf 1.29.24
    fails on an LSTM without them)."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Gather", ["x", "step0"], ["first"], axis=1),
             helper.make_node("MatMul", ["first", "nothing"], ["zeros"]),
             helper.make_node("Unsqueeze", ["zeros", "axis0"], ["h0"]),
             helper.make_node("LSTM", ["t", "W", "R", "B", "", "h0", "h0"], ["", "h"], hidden_size=hidden),
             helper.make_node("Squeeze", ["h", "axis0"], ["s"]),
             helper.make_node("Gemm", ["s", "g", "gb"], ["y"])]
    weights = {"W": rng.normal(0, 0.4, (1, 4 * hidden, features)), "R": rng.normal(0, 0.4, (1, 4 * hidden, hidden)),
               "B": rng.normal(0, 0.1, (1, 8 * hidden)), "g": rng.normal(0, 0.5, (hidden, 3)),
               "gb": rng.normal(0, 0.1, 3), "axis0": np.array([0], dtype=np.int64),
               "step0": np.array(0, dtype=np.int64), "nothing": np.zeros((features, hidden))}
    return save_model(path, nodes, [("x", (None, steps, features))], [("y", (None, 3))], weights)


def two_inputs(path, rng):
    """Two inputs, each through its own Gemm, concatenated, then ReLU and a Gemm."""
    nodes = [helper.make_node("Gemm", ["a", "wa"], ["ha"]), helper.make_node("Gemm", ["b", "wb"], ["hb"]),
             helper.make_node("Concat", ["ha", "hb"], ["c"], axis=1), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Gemm", ["r", "wo", "bo"], ["y"])]
    weights = {"wa": rng.normal(0, 0.4, (8, 6)), "wb": rng.normal(0, 0.4, (4, 6)), "wo": rng.normal(0, 0.4, (12, 2)),
               "bo": rng.normal(0, 0.1, 2)}
    return save_model(path, nodes, [("a", (None, 8)), ("b", (None, 4))], [("y", (None, 2))], weights)


def embedding(path, rng):
    """int64 token ids (ONNX's index type; tfjs takes them as int32) into a Gather from a table, averaged, Gemm."""
    nodes = [helper.make_node("Gather", ["table", "tokens"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
             helper.make_node("Gemm", ["m", "w", "b"], ["y"])]
    weights = {"table": rng.normal(0, 1.0, (10, 6)), "w": rng.normal(0, 0.5, (6, 3)), "b": rng.normal(0, 0.1, 3)}
    return save_model(path, nodes, [("tokens", (None, 7), TensorProto.INT64)], [("y", (None, 3))], weights, opset=13)


MODELS = {"cnn": cnn, "cnn_folded": lambda path, rng: cnn(path, rng, batch_norm=False), "mlp": mlp, "lstm": lstm,
          "two_inputs": two_inputs, "embedding": embedding}


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    """One ``check`` of every model on every backend."""
    folder = tmp_path_factory.mktemp("onnx")
    paths = [str(build(folder / f"{name}.onnx", np.random.default_rng(index)))
             for index, (name, build) in enumerate(MODELS.items())]
    out = folder / "report"
    status = run_cli(["check", *paths, "--backends", BACKENDS, "--checks", "graph-model", "--out", str(out), "-q",
                      "--accept", RECURRENT_ON_WASM])
    return status, json.loads((out / "parity.json").read_text()), out


def test_every_onnx_model_passes_on_every_backend(onnx_run):
    status, report, _ = onnx_run
    rows = {(r["model"], r["backend"], r["check"]): r for r in report["results"]}
    assert status == cli.EXIT_PASS, [r["message"] for r in rows.values() if r["status"] != "pass"]
    for name in MODELS:
        for backend in BACKENDS.split(","):
            assert_graph_model_passes(rows[(name, backend, "graph-model")], recurrent=name == "lstm")
            preflight = rows[(name, backend, "preflight")]
            hop = preflight["details"]["route"]["hops"][0]
            assert hop["hop"] == "onnxruntime -> TensorFlow (onnx2tf)" and hop["ok"], hop
            assert preflight["details"]["route"]["name"] == "onnx2tf" and not preflight["details"]["route"]["tried"]
            lines = preflight["message"].splitlines()
            assert lines[0] == "route onnx2tf: onnx2tf on the graph as it is", lines
            assert lines[1].startswith("reference outputs from onnxruntime (CPU)"), lines


def test_the_layouts_onnx2tf_transposed_are_named(onnx_run):
    _, report, _ = onnx_run
    route = {r["model"]: r["details"]["route"] for r in report["results"] if r["check"] == "preflight"}
    assert route["cnn"]["transposed"] == ["input x: NCHW -> NHWC"]
    assert route["mlp"]["transposed"] == [] and route["two_inputs"]["transposed"] == []


def test_the_reference_is_onnxruntimes_with_the_models_own_rounding(onnx_run):
    """The stored reference is onnxruntime's output on the stored inputs (transposed back to NCHW), and the
    float64 copy of the model gives a rounding error of float32's size."""
    import onnxruntime

    _, _, out = onnx_run
    reference = load_reference(out / "models" / "cnn")
    x = reference.load_inputs()[0].transpose(0, 3, 1, 2)
    session = onnxruntime.InferenceSession(str(out.parent / "cnn.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], reference.load_outputs()[0])
    assert 0 < reference.float32_rounding < 1e-5


def test_a_fault_in_the_onnx_weights_fails(onnx_run, parity_session, tmp_path):
    """The mlp's ONNX file with its largest weight changed by 1e-3 relative, taken the same route (onnx2tf, the
    converter) and checked against the unchanged model's reference: graph-model fails on every backend."""
    from harness.reference.onnx_build import onnx_tensors, onnx_to_saved_model
    from harness.reference.user_build import convert_saved_model

    _, _, out = onnx_run
    model = onnx.load(out.parent / "mlp.onnx")
    weights = next(w for w in model.graph.initializer if w.name == "w1")
    values = numpy_helper.to_array(weights).copy()
    values.flat[int(np.argmax(np.abs(values)))] *= 1.001
    weights.CopyFrom(numpy_helper.from_array(values, "w1"))
    onnx.save(model, tmp_path / "mlp.onnx")
    reference = load_reference(out / "models" / "mlp")
    shutil.rmtree(reference.directory / "graph")
    onnx_to_saved_model(tmp_path / "mlp.onnx", onnx_tensors(tmp_path / "mlp.onnx")[0], reference.load_inputs(),
                        tmp_path / "saved_model", [])
    convert_saved_model(tmp_path / "saved_model", reference.directory)
    for backend in BACKENDS.split(","):
        row = parity_session.run_check("graph-model", reference, backend)
        assert row.status == "fail" and "(ONNXRUNTIME)" in row.message, (backend, row.message)


def test_a_flatten_after_global_pooling_keeps_the_batch(tmp_path):
    """onnx2tf matches its ops' outputs to onnxruntime's on trial inputs (ones, unless given shapes): on a batch of
    1, global pooling gives the same bits in both, and ``Flatten`` matched "flatten the batch in" (a model taking
    one sample). Trial runs on the reference's batch keep the batch."""
    import tensorflow as tf

    from harness.reference.onnx_build import onnx_tensors, onnx_to_saved_model

    rng = np.random.default_rng(3)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["a"]), helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("Gemm", ["f", "g", "gb"], ["y"])]
    model = save_model(tmp_path / "pooled.onnx", nodes, [("x", (None, 3, 16, 16))], [("y", (None, 5))],
                       {"g": rng.normal(0, 0.5, (3, 5)), "gb": rng.normal(0, 0.1, 5)})
    x = rng.uniform(0, 1, (8, 3, 16, 16)).astype(np.float32)
    onnx_to_saved_model(model, onnx_tensors(model)[0], [x], tmp_path / "saved_model", [])
    serve = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    (y,) = serve(tf.constant(x.transpose(0, 2, 3, 1))).values()
    assert y.shape == (8, 5)


def test_an_op_onnx2tf_cannot_convert_is_named_and_the_next_route_holds(tmp_path):
    """onnx2tf 1.29 has no CastLike: the first route fails naming the op, the folded route (onnxruntime's optimizer
    writes it as a Cast) holds. Forced onto the first route with ``--route``, the model fails naming the op."""
    nodes = [helper.make_node("CastLike", ["x", "like"], ["c"]), helper.make_node("Relu", ["c"], ["y"])]
    model = save_model(tmp_path / "castlike.onnx", nodes, [("x", (None, 4))], [("y", (None, 4))],
                       {"like": np.zeros(1)})

    def preflight(out):
        return next(r for r in json.loads((out / "parity.json").read_text())["results"] if r["check"] == "preflight")

    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--out",
                    str(tmp_path / "out")]) == cli.EXIT_PASS
    route = preflight(tmp_path / "out")["details"]["route"]
    assert route["name"] == "onnx2tf-folded", route
    assert [t["route"] for t in route["tried"]] == ["onnx2tf"]
    assert route["tried"][0]["cause"].startswith("onnx2tf cannot convert the ONNX op CastLike"), route["tried"]

    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--out",
                    str(tmp_path / "forced"), "--route", "onnx2tf"]) == cli.EXIT_FAIL
    row = preflight(tmp_path / "forced")
    assert row["status"] == "fail" and row["message"].startswith("castlike: no route takes this model to tfjs")
    assert "route onnx2tf: onnx2tf cannot convert the ONNX op CastLike" in row["message"], row["message"]
    assert "what to try: export the model without the op named above" in row["message"], row["message"]
    assert not (tmp_path / "forced" / "models" / "castlike" / "routes").exists()  # no failed route's leftovers


def test_an_op_tfjs_has_no_kernel_for_is_named_with_its_route(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "square"], ["m"]), helper.make_node("Det", ["m"], ["y"])]
    model = save_model(tmp_path / "det.onnx", nodes, [("x", (None, 9))], [("y", (None,))],
                       {"square": np.array([-1, 3, 3], dtype=np.int64)})
    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--out",
                    str(tmp_path / "out")]) == cli.EXIT_FAIL
    row = next(r for r in json.loads((tmp_path / "out" / "parity.json").read_text())["results"]
               if r["check"] == "preflight")
    assert row["status"] == "fail" and "graph op MatrixDeterminant: tfjs has no kernel" in row["message"], row
    assert "route onnx2tf: " in row["message"], row["message"]


def test_a_dynamic_dimension_other_than_the_batch_needs_input_shape(tmp_path, capsys):
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)]
    model = save_model(tmp_path / "ragged.onnx", nodes, [("x", (None, None, 4))], [("y", (None, 4))], {}, opset=13)
    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--out",
                    str(tmp_path / "out")]) == cli.EXIT_USAGE
    assert "unknown dimensions: give --input-shape" in capsys.readouterr().err
    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--input-shape", "5,4",
                    "--out", str(tmp_path / "out")]) == cli.EXIT_PASS


def test_the_pytest_api_checks_an_onnx_model(parity, tmp_path):
    rows = parity.check(mlp(tmp_path / "api.onnx", np.random.default_rng(9)), backends=["cpu"],
                        checks=["graph-model"])
    rows.assert_passed()
    assert [(r.check, r.status) for r in rows] == [("preflight", "pass"), ("graph-model", "pass")]


def test_a_tensor_whose_moved_dimensions_are_equal_is_laid_out_by_its_numbers(tmp_path):
    """A 1-D convolution with as many channels as steps: NCW [batch, 8, 8] and onnx2tf's NWC [batch, 8, 8] have the
    same shape, so only the numbers tell whether the output was transposed (the shape alone said "not": a false
    drift of the whole output)."""
    rng = np.random.default_rng(11)
    nodes = [helper.make_node("Conv", ["x", "k", "kb"], ["y"], pads=[1, 1])]
    model = save_model(tmp_path / "square.onnx", nodes, [("x", (None, 3, 8))], [("y", (None, 8, 8))],
                       {"k": rng.normal(0, 0.5, (8, 3, 3)), "kb": rng.normal(0, 0.1, 8)})
    assert run_cli(["check", str(model), "--backends", "cpu", "--checks", "graph-model", "--out",
                    str(tmp_path / "out")]) == cli.EXIT_PASS
    preflight = next(r for r in json.loads((tmp_path / "out" / "parity.json").read_text())["results"]
                     if r["check"] == "preflight")
    transposed = preflight["details"]["route"]["transposed"]
    assert transposed[0] == "input x: NCW -> NWC" and transposed[1].endswith(": NCW -> NWC"), transposed
