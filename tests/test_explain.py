"""When predict fails: the cause (a kernel problem, named down to the op, or error accumulated over depth), a
workaround that really passes, and a repro that reproduces in the browser. The faults are planted in copies of the
tfjs bundles served through ``--tfjs-dir``, as an app that patched or pinned a bad build would serve them."""

import json

import pytest

from conftest import faulty_tfjs, run_cli
from harness import cli
from harness.explain.workaround import candidates, describe, workaround_line
from harness.reference.directory import load_reference
from harness.verdict.compare import Tolerance

def test_the_workaround_candidates_keep_the_browser_and_tfjs_version():
    others = ("cpu", "wasm", "webgl:nopack", "webgl:f16", "wasm:nosimd", "wasm:1thread")
    assert candidates("firefox:webgl@4.21.0") == [f"firefox:{name}@4.21.0" for name in others]
    assert describe("webgl:nopack") == "webgl with WEBGL_PACK=false" and describe("wasm") == "wasm"
    assert workaround_line({"passes": ["wasm", "webgl:nopack"], "fails": ["cpu"]}) == \
        "passes on wasm, and on webgl with WEBGL_PACK=false (fails on cpu)"
    assert workaround_line({"passes": [], "fails": ["cpu"]}).startswith("none found")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A Dense-tanh model (tfjs runs Tanh as a kernel of its own: it has no fused tanh), a Conv2D model (tfjs-layers
    runs FusedConv2D), a deep linear model, a classifier, a two-input model and a LayerNormalization model (its graph
    has a FusedBatchNorm in training mode), each with named layers."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    root = tmp_path_factory.mktemp("explain-models")
    keras.utils.set_random_seed(1)
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu", name="first"),
                      keras.layers.Dense(8, activation="tanh", name="squash"),
                      keras.layers.Dense(3, name="head")]).save(root / "tanh.h5")
    keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                      keras.layers.Flatten(), keras.layers.Dense(3, name="head")]).save(root / "conv.h5")
    keras.Sequential([keras.Input((16,)), *(keras.layers.Dense(16, kernel_initializer="orthogonal", name=f"d{i}")
                                            for i in range(32))]).save(root / "deep.h5")
    classifier = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                                   keras.layers.Dense(3, activation="softmax", name="probs")])
    classifier.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
    classifier.save(root / "classifier.h5")
    first, second = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    joined = keras.layers.Concatenate(name="joined")([first, second])
    keras.Model([first, second], [keras.layers.Dense(3, name="out_a")(joined),
                                  keras.layers.Dense(3, name="out_b")(joined)]).save(root / "two_inputs.h5")
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="hidden"), keras.layers.LayerNormalization(),
                      keras.layers.Dense(3, activation="softmax", name="probs")]).save(root / "layer_norm.h5")
    return root


def check(model, tfjs_dir, out, backends="cpu,webgl,wasm", checks="predict"):
    status = run_cli(["check", str(model), "--backends", backends, "--checks", checks, "--out", str(out), "-q"]
                     + (["--tfjs-dir", str(tfjs_dir)] if tfjs_dir else []))
    report = json.loads((out / "parity.json").read_text())
    return status, {r["backend"]: r for r in report["results"] if r["check"] == checks}


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_an_activation_kernel_broken_on_two_backends_is_named_with_a_workaround_and_a_repro(models, tmp_path, capsys):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "Tanh", "backend": backend, "scale": 1.01}
                                           for backend in ("cpu", "webgl")])
    status, rows = check(models / "tanh.h5", tfjs, tmp_path / "out")
    printed = capsys.readouterr().out
    assert status == cli.EXIT_FAIL and rows["wasm"]["status"] == "pass", rows["wasm"]["message"]
    for backend in ("cpu", "webgl"):
        explanation = rows[backend]["details"]["explanation"]
        assert rows[backend]["status"] == "fail" and explanation["kind"] == "kernel", explanation
        assert explanation["layer"] == "squash" and explanation["op"]["kernel"] == "Tanh"
        assert explanation["op"]["against"] == "TensorFlow"
        assert {b: e["ok"] for b, e in explanation["layer_alone"].items()} == {"cpu": False, "webgl": False,
                                                                               "wasm": True}
        assert "wasm" in explanation["workaround"]["passes"] and "webgl:nopack" in explanation["workaround"]["fails"]
        repro = explanation["repro"]
        assert repro["reproduces"] and repro["runs"][backend]["pass"] is False
        assert repro["runs"]["wasm"]["pass"] is True and repro["runs"][backend]["op"]["kernel"] == "Tanh"
    assert ("Cause: a kernel problem: given identical inputs, layer squash differs by" in printed
            and "on cpu and webgl, and not on wasm; inside it, tfjs' Tanh kernel differs from TensorFlow" in printed)
    assert "Workaround: passes on wasm" in printed
    directory = tmp_path / "out" / "repro" / "tanh" / "webgl" / "predict"
    assert f"Repro: {directory} (reproduces in this browser: fails on webgl, passes on wasm)" in printed
    assert {p.name for p in directory.iterdir()} == {"index.html", "ISSUE.md", "data.json", "model", "tfjs",
                                                     "repro.json"}
    layer_model = json.loads((directory / "model" / "model.json").read_text())
    assert [layer["config"]["name"] for layer in layer_model["modelTopology"]["model_config"]["config"]["layers"]
            if layer["class_name"] != "InputLayer"] == ["squash"]
    issue = (directory / "ISSUE.md").read_text()
    assert "TensorFlow.js version: 4.22.0" in issue and "SwiftShader" in issue and "kernel `Tanh` alone" in issue


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_a_backend_that_throws_on_the_layer_alone_is_named_in_the_cause(models, tmp_path):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "Tanh", "backend": "cpu", "scale": 1.01},
                                           {"kernel": "Tanh", "backend": "webgl", "throws": "planted Tanh throw"}])
    _, rows = check(models / "tanh.h5", tfjs, tmp_path / "out")
    assert rows["wasm"]["status"] == "pass" and rows["webgl"]["details"]["known_issue"]["id"] == "tfjs-threw"
    explanation = rows["cpu"]["details"]["explanation"]
    assert explanation["kind"] == "kernel" and explanation["op"]["kernel"] == "Tanh", explanation["cause"]
    assert "layer squash differs by" in explanation["cause"], explanation["cause"]
    assert " on cpu; throws on webgl (" in explanation["cause"] and "planted Tanh throw" in explanation["cause"]
    assert explanation["cause"].count(", and not on wasm") == 1
    assert explanation["layer_alone"]["webgl"]["problem"].startswith("tfjs threw: ")


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_a_quantized_model_failing_is_explained_on_its_own_files(models, tmp_path):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "Tanh", "backend": "cpu", "scale": 1.01}])
    _, rows = check(models / "tanh.h5", tfjs, tmp_path / "out", backends="cpu,wasm", checks="quantized[uint16]")
    assert rows["wasm"]["status"] == "pass" and rows["cpu"]["status"] == "fail"
    explanation = rows["cpu"]["details"]["explanation"]
    assert explanation["kind"] == "kernel" and explanation["layer"] == "squash"
    assert explanation["op"]["kernel"] == "Tanh" and explanation["repro"]["reproduces"]


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_predictions_after_training_are_explained_on_keras_trained_weights(models, tmp_path):
    # tfjs fuses Dense's relu into _FusedMatMul for inference only (not while it records gradients): broken there,
    # training matches Keras' and the trained model's predictions do not.
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "_FusedMatMul", "backend": "cpu", "scale": 1.01,
                                            "attrs": {"activation": "relu"}}])
    _, rows = check(models / "classifier.h5", tfjs, tmp_path / "out", backends="cpu,wasm", checks="fit")
    assert rows["wasm"]["status"] == "pass" and rows["cpu"]["status"] == "fail"
    failed = rows["cpu"]["details"]["failed_comparisons"]
    assert failed["values"] == ["output 0 after training"] and not failed["history"] and not failed["weights"]
    explanation = rows["cpu"]["details"]["explanation"]
    assert explanation["kind"] == "kernel" and explanation["layer"] == "hidden", explanation["cause"]
    assert explanation["op"]["kernel"] == "_FusedMatMul" and explanation["repro"]["reproduces"]
    assert explanation["cause"].startswith("training matches Keras' (history and final weights), but the trained")


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_a_training_that_itself_differs_is_not_taken_for_an_inference_problem(models, tmp_path):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "_FusedMatMul", "backend": "cpu", "scale": 1.01}])
    _, rows = check(models / "classifier.h5", tfjs, tmp_path / "out", backends="cpu", checks="fit")
    explanation = rows["cpu"]["details"]["explanation"]
    assert explanation["kind"] == "training" and "its history (loss" in explanation["cause"], explanation["cause"]
    assert "repro" not in explanation
    # Named down to the kernel: the first training step's planted _FusedMatMul, wrong alone on fresh tensors too
    # (the kernel's arithmetic, not the state the run left on the backend).
    assert explanation["op"]["kernel"] == "_FusedMatMul" and explanation["op"]["batch"] == 0, explanation["cause"]
    assert explanation["op"]["against"] == "TensorFlow" and explanation["op"]["fresh_ok"] is False
    assert "tfjs' _FusedMatMul kernel (batch 0, inputs" in explanation["cause"]
    assert "state the training run left" not in explanation["cause"]
    assert explanation["kernels"]["batches"] == 3 and explanation["kernels"]["compared"] > 10


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_a_convolution_kernel_broken_on_one_backend_passes_on_the_others(models, tmp_path):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "FusedConv2D", "backend": "webgl", "scale": 1.01}])
    _, rows = check(models / "conv.h5", tfjs, tmp_path / "out")
    assert rows["cpu"]["status"] == rows["wasm"]["status"] == "pass"
    explanation = rows["webgl"]["details"]["explanation"]
    assert explanation["kind"] == "kernel" and explanation["layer"] == "conv"
    assert explanation["op"]["kernel"] == "FusedConv2D" and explanation["op"]["against"] == "TensorFlow"
    assert [op["kernel"] for op in explanation["ops"] if op["ok"]] == []  # the layer runs that one kernel
    assert {"cpu", "wasm"} <= set(explanation["workaround"]["passes"])
    assert explanation["repro"]["reproduces"], explanation["repro"]


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_one_op_of_a_graph_model_broken_is_named_node_by_node(models, tmp_path):
    tfjs = faulty_tfjs(tmp_path / "tfjs", [{"kernel": "Concat", "backend": "cpu", "scale": 1.01}])
    _, rows = check(models / "two_inputs.h5", tfjs, tmp_path / "out", checks="graph-model")
    assert rows["webgl"]["status"] == rows["wasm"]["status"] == "pass" and rows["cpu"]["status"] == "fail"
    explanation = rows["cpu"]["details"]["explanation"]
    assert explanation["kind"] == "kernel" and explanation["op"]["kernel"] == "ConcatV2", explanation["cause"]
    assert explanation["node"].endswith("joined/concat")
    assert {b: e["ok"] for b, e in explanation["layer_alone"].items()} == {"cpu": False, "webgl": True, "wasm": True}
    assert {"webgl", "wasm"} <= set(explanation["workaround"]["passes"])
    repro = explanation["repro"]
    assert repro["reproduces"] and repro["runs"]["cpu"]["pass"] is False, repro
    data = json.loads((tmp_path / "out" / "repro" / "two_inputs" / "cpu" / "graph-model" / "data.json").read_text())
    assert data["graph"] and data["fetch"] == explanation["node"] and {f["node"] for f in data["feeds"]} == {
        "left", "right"}


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_the_same_models_on_the_unmodified_tfjs_pass(models, tmp_path):
    status, rows = check(models / "conv.h5", None, tmp_path / "out", backends="webgl")
    assert status == cli.EXIT_PASS and "explanation" not in rows["webgl"]["details"]


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_error_grown_over_depth_at_a_tightened_tolerance_is_classified_accumulated(models, tmp_path, parity_session,
                                                                                   monkeypatch):
    from harness.checks import inference
    from harness.explain import explain
    from harness.verdict import tolerances

    check(models / "deep.h5", None, tmp_path / "out", backends="cpu")
    reference = load_reference(tmp_path / "out" / "models" / "deep")
    # Tightened: no allowance for the layers' own float32 rounding, and nothing but an absolute tolerance.
    monkeypatch.setattr(tolerances, "FLOAT32_ROUNDING_MARGIN", 0.0)

    def predict_at(atol):
        tight = Tolerance(atol=atol, rtol=0.0, reason="tightened for the test")
        monkeypatch.setattr(inference, "model_predict_tolerance", lambda backend, rounding: tight)
        return parity_session.run_check("predict", reference, "cpu"), tight

    exact, _ = predict_at(0.0)
    curve = [point["max_abs_err"] for point in exact.details["first_failing_layer"]["curve"]]
    assert len(curve) == 32 and curve[-1] > 3 * curve[0], curve  # the error grows with depth
    row, tight = predict_at(curve[len(curve) // 2])  # out of tolerance only past the middle of the model
    assert row.status == "fail", row.message
    explanation = explain(parity_session, row, reference, ("cpu",), [row], tmp_path / "out", tight)
    assert explanation["kind"] == "accumulated", explanation["cause"]
    assert int(explanation["layer"][1:]) > 16 and explanation["layer_alone"]["cpu"]["ok"]
    assert "error accumulated over depth" in row.message


@pytest.mark.browser
@pytest.mark.keras
@pytest.mark.xdist_group("explain")
def test_a_graph_with_a_training_mode_batch_norm_names_the_known_issue_on_every_backend(models, tmp_path):
    # tf_keras' LayerNormalization exports a FusedBatchNormV3 with is_training; tfjs runs it as an inference batch
    # norm with the node's empty mean and variance: NaN on cpu and wasm, a throw on webgl. No cause search is needed.
    _, rows = check(models / "layer_norm.h5", None, tmp_path / "graph", checks="graph-model")
    assert set(rows) == {"cpu", "webgl", "wasm"}
    for row in rows.values():
        known = row["details"].get("known_issue", {})
        assert row["status"] == "fail" and known.get("id") == "tfjs-graph-training-batch-norm", row["message"]
        assert "layer_normalization/FusedBatchNormV3" in known["observed"] and "explanation" not in row["details"]
    assert "non-finite" in rows["cpu"]["message"] and "tfjs cannot run this here" in rows["webgl"]["message"]
    _, layers = check(models / "layer_norm.h5", None, tmp_path / "layers", checks="predict")  # the workaround named
    assert {row["status"] for row in layers.values()} == {"pass"}, layers
