"""Keras 3 models (built here with Keras 3, as a TensorFlow 2.16+ user saves them) on the layers route: rebuilt as a
Keras 2 twin tfjs-layers reads (``reference.keras3_twin``), every default check against Keras 3's own outputs."""

import json

import pytest

from conftest import run_cli
from harness import cli
from harness.checks import USER_CHECKS

pytestmark = [pytest.mark.browser, pytest.mark.keras, pytest.mark.xdist_group("keras3_models")]

BACKENDS = ("cpu", "webgl", "wasm")
# What tfjs 4.22 does differently with these models, measured (each row is a `fail` that says it in its message):
# the two-output SGD model trained on webgl drifts from Keras from its first
# epoch (loss 1.6856 against 1.6904, outputs 6e-3 apart after training; cpu and wasm hold, and so does webgl with
# WEBGL_PACK=false, which the row's workaround names. Recorded kernel by kernel on a probe of the same pattern (Dense
# -> Concatenate -> Dense, SGD): the second batch's packed _FusedMatMul over an odd shared dimension (11) differs by
# 5e-3 from the same kernel replayed on the same values on cpu or on fresh webgl tensors); the SGD-with-momentum
# CNN's BatchNormalization moving variance ends 3e-5 from Keras' on cpu (webgl's looser tolerance holds it).
TFJS_DIFFERENCES = {
    **{("two_heads", check, "webgl"): "Not equal to tolerance" for check in (
        "fit", "fit-worker", "fit-dataset", "validation-split", "early-stopping")},
    **{("cnn", check, "cpu"): "batch_normalization/moving_variance" for check in ("fit", "fit-worker", "fit-dataset")},
}


def _keras3_models(folder):
    """Sequential and functional Keras 3 models, compiled with Adam and SGD, saved as .keras files."""
    import keras

    keras.utils.set_random_seed(0)
    mlp = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="silu"),
                            keras.layers.LayerNormalization(), keras.layers.Dropout(0.1),
                            keras.layers.Dense(3, activation="softmax")])
    mlp.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    cnn = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                            keras.layers.Dropout(0.2), keras.layers.Dense(3, activation="softmax")])
    cnn.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    hidden = keras.layers.LSTM(5)(keras.layers.Embedding(20, 6)(tokens))
    rnn = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(hidden))
    rnn.compile(optimizer="adam", loss="binary_crossentropy")
    a, b = keras.Input((6,), name="a"), keras.Input((4,), name="b")
    joined = keras.layers.Concatenate()([keras.layers.Dense(5, activation="tanh")(a), b])
    two_heads = keras.Model([a, b], [keras.layers.Dense(2, name="value")(joined),
                                     keras.layers.Dense(1, activation="sigmoid", name="gate")(joined)])
    two_heads.compile(optimizer=keras.optimizers.SGD(0.01), loss=["mse", "binary_crossentropy"])
    paths = {}
    for name, model in (("mlp", mlp), ("cnn", cnn), ("rnn", rnn), ("two_heads", two_heads)):
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


@pytest.fixture(scope="module")
def keras3_files(tmp_path_factory):
    return _keras3_models(tmp_path_factory.mktemp("keras3"))


def _check(tmp_path, *args):
    status = run_cli(["check", *map(str, args), "--out", str(tmp_path), "-q"])
    return status, json.loads((tmp_path / "parity.json").read_text())


def test_keras3_models_get_every_default_check_on_the_layers_route(keras3_files, tmp_path):
    status, report = _check(tmp_path, *keras3_files.values(), "--backends", ",".join(BACKENDS))
    assert status == cli.EXIT_FAIL  # the tfjs differences below
    rows = {(r["model"], r["check"], r["backend"]): r for r in report["results"]}
    assert len(rows) == len(keras3_files) * len(BACKENDS) * (len(USER_CHECKS) + 1)
    for name in keras3_files:
        preflight = rows[(name, "preflight", "cpu")]
        assert preflight["status"] == "pass" and preflight["details"]["route"]["name"] == "keras3-layers"
        assert any("DTypePolicy" in line for line in preflight["details"]["rewrites"])
        assert preflight["details"]["route"]["hops"][0]["ok"]
        assert (tmp_path / "repaired" / name / "model.json").is_file()
    assert "inbound_nodes" in " ".join(rows[("two_heads", "preflight", "cpu")]["details"]["rewrites"])
    assert "silu -> swish" in " ".join(rows[("mlp", "preflight", "cpu")]["details"]["rewrites"])
    unexplained = {}
    for key, row in rows.items():
        if row["status"] in ("pass", "xfail") or row["details"].get("known_issue"):
            continue
        if key in TFJS_DIFFERENCES and row["status"] == "fail" and TFJS_DIFFERENCES[key] in row["message"]:
            continue
        unexplained[key] = (row["status"], row["message"][:200])
    assert unexplained == {}
    assert {r["check"] for r in report["results"] if r["status"] == "pass" and r["model"] == "mlp"} >= {
        "predict", "fit", "fit-worker", "save-load[indexeddb]", "browser-to-python", "quantized[uint8]"}
    # graph-model judges Keras 3's own export (model.export()), the graph a Keras 3 user ships, not the twin's: the
    # twin's LayerNormalization would export a training-mode FusedBatchNorm tfjs cannot run (its known issue).
    assert {key: rows[key]["status"] for key in rows if key[1] == "graph-model" and key[0] != "rnn"} == {
        (name, "graph-model", backend): "pass" for name in ("mlp", "cnn", "two_heads") for backend in BACKENDS}
    # Each training difference explained down to its kernels: the webgl drift to the second batch's packed
    # _FusedMatMul, right alone on fresh tensors (the run's texture state); the cnn's cpu moving variance to no
    # kernel (its Cast of bool, its Conv2DBackpropFilter that wasm lacks and its MaxPoolGrad, whose ties TensorFlow's
    # twin breaks as tfjs' cpu does, all judged).
    drift = rows[("two_heads", "fit", "webgl")]["details"]["explanation"]
    assert drift["op"]["kernel"] == "_FusedMatMul" and drift["op"]["batch"] == 1, drift["cause"]
    assert drift["op"]["fresh_ok"] is True and "state the training run left its inputs in" in drift["cause"]
    variance = rows[("cnn", "fit", "cpu")]["details"]["explanation"]
    assert "op" not in variance and variance["kernels"]["compared"] > 100, variance["cause"]
    assert "is not one kernel's there" in variance["cause"]
    graph = json.loads((tmp_path / "models" / "mlp" / "graph" / "model.json").read_text())
    assert not [node for node in graph["modelTopology"]["node"] if node["op"].startswith("FusedBatchNorm")]


def test_a_rewrite_planted_wrong_fails_before_the_browser_and_in_it(keras3_files, tmp_path, monkeypatch):
    """The twin's LayerNormalization epsilon planted at 0.5 (Keras 3's is 1e-3): the route's hop is out of tolerance
    (the preflight row fails naming it) and predict fails against Keras 3's outputs."""
    from harness.reference import keras3_twin

    original = keras3_twin._cleaned

    def planted(value, rewrites, where):
        cleaned = original(value, rewrites, where)
        if isinstance(cleaned, dict) and "epsilon" in cleaned and where.startswith("layer_normalization"):
            cleaned["epsilon"] = 0.5
        return cleaned

    monkeypatch.setattr(keras3_twin, "_cleaned", planted)
    status, report = _check(tmp_path, keras3_files["mlp"], "--backends", "cpu", "--checks", "predict")
    assert status == cli.EXIT_FAIL
    rows = {r["check"]: r for r in report["results"]}
    assert rows["preflight"]["status"] == "fail"
    assert "the numbers drift before the browser, first at Keras 3 -> Keras 2 twin" in rows["preflight"]["message"]
    assert rows["predict"]["status"] == "fail" and "Not equal to tolerance" in rows["predict"]["message"]


def test_a_keras3_model_with_a_layer_tfjs_lacks_goes_the_savedmodel_route_saying_why(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.UnitNormalization(),
                              keras.layers.Dense(2)])
    model.save(tmp_path / "unit.keras")
    status, report = _check(tmp_path / "out", tmp_path / "unit.keras", "--backends", "cpu",
                            "--checks", "predict,graph-model,fit")
    assert status == cli.EXIT_PASS
    rows = {r["check"]: r for r in report["results"]}
    route = rows["preflight"]["details"]["route"]
    assert route["name"] == "savedmodel" and route["tried"][0]["route"] == "keras3-layers"
    assert "UnitNormalization" in route["tried"][0]["cause"]
    assert "tried before it: route keras3-layers: tfjs cannot run its Keras 2 form" in rows["preflight"]["message"]
    assert rows["graph-model"]["status"] == "pass"
    assert rows["predict"]["status"] == "skip" and rows["fit"]["status"] == "skip"


def test_a_model_json_tfjs_will_not_load_is_a_preflight_fail_naming_why(keras3_files, tmp_path):
    """The converter's own Keras 3 output (``--input_format=keras_keras``): tfjs-layers refuses to load it, and
    preflight says so (with the way out: check the .keras file) before any check, as a ``fail``, not an ``error``."""
    import subprocess
    import sys

    import keras
    import numpy as np

    converted = tmp_path / "converted"
    subprocess.run([sys.executable, "-m", "tensorflowjs.converters.converter", "--input_format=keras_keras",
                    "--output_format=tfjs_layers_model", str(keras3_files["mlp"]), str(converted)], check=True,
                   capture_output=True, timeout=300)
    inputs = np.random.default_rng(0).uniform(0, 1, (4, 6)).astype("float32")
    np.save(tmp_path / "x.npy", inputs)
    np.save(tmp_path / "y.npy", keras.saving.load_model(keras3_files["mlp"]).predict(inputs, verbose=0))
    status, report = _check(tmp_path / "out", converted, "--inputs", tmp_path / "x.npy", "--expected",
                            tmp_path / "y.npy", "--backends", "cpu", "--checks", "predict")
    assert status == cli.EXIT_FAIL
    assert [(r["check"], r["status"]) for r in report["results"]] == [("preflight", "fail")]
    message = report["results"][0]["message"]
    assert "tf.loadLayersModel refuses it: " in message and "InputLayer should be passed either a `batchInputShape`" \
        in message and "a Keras 3 model.json" in message and "check the .keras file itself" in message
