"""``tfjs-parity check MODEL`` on each input format, with models built here, and its preflight.

Each run is the real thing: the model is converted, served and run in headless Chromium. Most runs
use the cpu backend only; the custom-layer run uses every default backend.
"""

import json

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.checks import GRAPH_MODEL_CHECKS, USER_CHECKS
from harness.reference.keras_env import configure_tensorflow_environment

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("check_command")]

CUSTOM_LAYER_PY = '''
import tensorflow as tf
import tf_keras as keras


class ScaledTanh(keras.layers.Layer):
    """tanh(x) * scale, one trainable scale per feature."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="random_normal")

    def call(self, inputs):
        return tf.tanh(inputs) * self.scale
'''
CUSTOM_LAYER_JS = '''
class ScaledTanh extends tf.layers.Layer {
  static className = 'ScaledTanh';
  build(inputShape) {
    this.scale = this.addWeight('scale', [inputShape[inputShape.length - 1]], 'float32', tf.initializers.ones());
    this.built = true;
  }
  call(inputs) {
    return tf.tidy(() => tf.mul(tf.tanh(Array.isArray(inputs) ? inputs[0] : inputs), this.scale.read()));
  }
}
tf.serialization.registerClass(ScaledTanh);
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One model per format, built with the libraries a user would use."""
    configure_tensorflow_environment()
    import importlib.util

    import tensorflow as tf
    import tf_keras as keras

    root = tmp_path_factory.mktemp("user-models")
    keras.utils.set_random_seed(0)
    tokens, numbers = keras.Input((6,), dtype="int32", name="tokens"), keras.Input((5,), name="numbers")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(20, 4)(tokens))
    hidden = keras.layers.Concatenate()([embedded, keras.layers.Dense(8, activation="relu")(numbers)])
    two_inputs = keras.Model([tokens, numbers], keras.layers.Dense(3, activation="softmax")(hidden))
    two_inputs.save(root / "two_inputs.h5")
    two_inputs.save(root / "tf_keras_savedmodel", save_format="tf")

    def dense_with(*middle):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), *middle, keras.layers.Dense(2)])

    dense_with(keras.layers.Lambda(lambda x: x * 2.0)).save(root / "lambda.h5")
    dense_with(keras.layers.Dense(4, activation="exponential")).save(root / "activation.h5")
    dense_with(keras.layers.Dense(4, kernel_initializer="lecun_uniform")).save(root / "initializer.h5")

    (root / "custom_layers.py").write_text(CUSTOM_LAYER_PY)
    (root / "custom_layers.js").write_text(CUSTOM_LAYER_JS)
    spec = importlib.util.spec_from_file_location("custom_layers_for_test", root / "custom_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dense_with(module.ScaledTanh()).save(root / "custom.h5")

    class Affine(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.tanh(x @ self.w)}

    affine = Affine()
    tf.saved_model.save(affine, str(root / "tf_savedmodel"), signatures={"serving_default": affine.__call__})

    class SingularValues(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"s": tf.linalg.svd(x, compute_uv=False)}

    svd = SingularValues()
    tf.saved_model.save(svd, str(root / "svd_savedmodel"), signatures={"serving_default": svd.__call__})

    import keras as keras3

    keras3.utils.set_random_seed(0)
    keras3.Sequential([keras3.Input((5,)), keras3.layers.Dense(4, activation="relu"),
                       keras3.layers.Dense(2)]).save(root / "keras3.keras")

    # The example of a reference that proves nothing: a deep, freshly initialised softmax classifier
    # (tiny weights: every answer is 1/10 whatever the input).
    small = keras.initializers.RandomNormal(stddev=1e-3, seed=1)
    keras.Sequential([keras.Input((8,)), *(keras.layers.Dense(16, activation="relu", kernel_initializer=small)
                                           for _ in range(4)),
                      keras.layers.Dense(10, activation="softmax", kernel_initializer=small, name="scores")]
                     ).save(root / "fresh.h5")

    # A weak reference: a freshly initialised 1000-class head (every answer near 1/1000) spreads 10x-100x its
    # tolerance, enough to run the checks on, not enough to call informative.
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                      keras.layers.Dense(1000, activation="softmax", name="classes")]).save(root / "head1000.h5")

    from harness.reference.conversions import convert_layers_model

    (root / "tfjs").mkdir()
    convert_layers_model(two_inputs, root / "tfjs")
    rng = np.random.default_rng(3)
    inputs = [rng.integers(0, 20, size=(8, 6)).astype(np.int32), rng.normal(size=(8, 5)).astype(np.float32)]
    np.save(root / "tokens.npy", inputs[0])
    np.save(root / "numbers.npy", inputs[1])
    np.save(root / "expected.npy", two_inputs.predict(inputs, verbose=0))
    return root


def check(capsys, tmp_path, *args):
    """Run ``tfjs-parity check``; returns exit status, stdout+stderr, and the report (None if none)."""
    status = run_cli(["check", *map(str, args), "--out", str(tmp_path / "report")])
    captured = capsys.readouterr()
    path = tmp_path / "report" / "parity.json"
    return status, captured.out + captured.err, json.loads(path.read_text()) if path.exists() else None


def rows(report):
    return {(r["check"], r["backend"]): r for r in report["results"]}


def test_keras2_h5_with_an_embedding_and_two_inputs(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "two_inputs.h5", "--backends", "cpu",
                                   "--checks", "topology,predict")
    assert status == cli.EXIT_PASS, output
    assert {key[0] for key in rows(report)} == {"preflight", "topology", "predict"}
    assert report["environment"]["format"] == "keras-h5"
    # The estimate printed before the checks, kept beside the time they took (``run.cost``).
    assert "Estimate (from what a sample costs Keras here" in output and "\n  two_inputs: " in output, output
    timing = report["estimate"]["two_inputs"]["cpu"]
    assert timing["estimated_s"] > 0 and timing["took_s"] > 0
    assert "two_inputs / cpu: took " in output
    tokens = np.load(tmp_path / "report" / "models" / "two_inputs" / "input_0.npy")
    assert tokens.dtype == np.int32 and 0 <= tokens.min() and tokens.max() < 20 and len(np.unique(tokens)) > 5


def test_tf_keras_savedmodel_directory(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "tf_keras_savedmodel", "--backends", "cpu",
                                   "--checks", "topology,predict")
    assert status == cli.EXIT_PASS, output
    assert report["environment"]["format"] == "tf-keras-savedmodel"


GRAPH_CONVERSION_CHECKS = ("quantized[uint8]", "quantized[uint16]", "quantized[float16]", "sharded")


def test_tf_savedmodel_becomes_a_graph_model_and_other_checks_say_why_they_skip(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "tf_savedmodel", "--backends", "cpu")
    assert status == cli.EXIT_PASS, output
    ran = {*GRAPH_MODEL_CHECKS, *GRAPH_CONVERSION_CHECKS}  # inference, conversions, storage (no training)
    assert {check for check in ran if rows(report)[(check, "cpu")]["status"] == "pass"} == ran
    assert rows(report)[("sharded", "cpu")]["details"]["shards"] >= 3
    skipped = {check for (check, _), row in rows(report).items() if row["status"] == "skip"}
    assert skipped == set(USER_CHECKS) - ran
    assert "a graph model: tfjs runs it for inference only" in rows(report)[("fit", "cpu")]["message"]
    assert output.count("a graph model: tfjs runs it for inference only") == 2  # its progress line, the summary's
    assert "Keras cannot load the files the browser saves" in rows(report)[("browser-to-python", "cpu")]["message"]


def test_a_graph_model_saved_with_a_damaged_weight_file_fails_its_round_trip(models, tmp_path, capsys,
                                                                              monkeypatch):
    """One byte of the weights a graph model saved over http:// flipped before it is loaded back: save-load[http]
    fails naming the weight whose bytes changed; the same save through indexeddb:// passes."""
    from harness.checks import storage

    saved_by = storage.save_model

    def damaged(context, subject, scheme):
        saved = saved_by(context, subject, scheme)
        if scheme == "http":
            weights = next(path for path in saved.directory.iterdir() if path.name != "model.json")
            data = bytearray(weights.read_bytes())
            data[0] ^= 0xFF
            weights.write_bytes(bytes(data))
        return saved

    monkeypatch.setattr(storage, "save_model", damaged)
    status, output, report = check(capsys, tmp_path, models / "tf_savedmodel", "--backends", "cpu", "--checks",
                                   "save-load[http],save-load[indexeddb]")
    assert status == cli.EXIT_FAIL, output
    assert rows(report)[("save-load[http]", "cpu")]["status"] == "fail"
    assert "bytes changed (SHA-256" in rows(report)[("save-load[http]", "cpu")]["message"]
    assert rows(report)[("save-load[indexeddb]", "cpu")]["status"] == "pass"


def test_a_graph_models_quantized_weights_damaged_after_conversion_fail(models, tmp_path, capsys, monkeypatch):
    """The uint8 conversion's dequantization scale made 2 % larger in its model.json after the reference was
    computed: the browser dequantizes other weights than TensorFlow did, and quantized[uint8] fails."""
    from harness.reference import graph_conversions

    made = graph_conversions._quantized

    def damaged(model_json, directory, name, *args):
        entry = made(model_json, directory, name, *args)
        written = directory / name / "model.json"
        document = json.loads(written.read_text())
        for weight in document["weightsManifest"][0]["weights"]:
            if "quantization" in weight and name.endswith("uint8"):
                weight["quantization"]["scale"] *= 1.02
        written.write_text(json.dumps(document))
        return entry

    monkeypatch.setattr(graph_conversions, "_quantized", damaged)
    status, output, report = check(capsys, tmp_path, models / "tf_savedmodel", "--backends", "cpu", "--checks",
                                   "quantized[uint8],quantized[uint16]")
    assert status == cli.EXIT_FAIL, output
    assert rows(report)[("quantized[uint8]", "cpu")]["status"] == "fail"
    assert "vs Keras with the dequantized weights" in rows(report)[("quantized[uint8]", "cpu")]["message"]
    assert rows(report)[("quantized[uint16]", "cpu")]["status"] == "pass"


def test_a_keras3_file_takes_the_layers_route_as_its_keras_2_twin(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "keras3.keras", "--backends", "cpu")
    assert status == cli.EXIT_PASS, output
    preflight = rows(report)[("preflight", "cpu")]
    assert "route keras3-layers" in preflight["message"] and "dtype: DTypePolicy object -> its name" in \
        preflight["details"]["rewrites"]
    assert rows(report)[("predict", "cpu")]["status"] == "pass"
    assert (tmp_path / "report" / "repaired" / "keras3" / "model.json").is_file()


def test_keras3_file_via_savedmodel(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "keras3.keras", "--via-savedmodel", "--backends", "cpu")
    assert status == cli.EXIT_PASS, output
    assert rows(report)[("graph-model", "cpu")]["status"] == "pass"


def test_converted_tfjs_directory_with_reference_outputs(models, tmp_path, capsys):
    inputs = f"{models / 'tokens.npy'},{models / 'numbers.npy'}"
    status, output, _ = check(capsys, tmp_path, models / "tfjs", "--inputs", inputs, "--expected",
                              models / "expected.npy", "--backends", "cpu")
    assert status == cli.EXIT_PASS, output


def test_converted_tfjs_directory_fails_on_wrong_reference_outputs(models, tmp_path, capsys):
    wrong = np.load(models / "expected.npy")
    wrong[2, 1] += 1e-4
    np.save(tmp_path / "wrong.npy", wrong)
    inputs = f"{models / 'tokens.npy'},{models / 'numbers.npy'}"
    status, output, report = check(capsys, tmp_path, models / "tfjs", "--inputs", inputs, "--expected",
                                   tmp_path / "wrong.npy", "--backends", "cpu", "--checks", "predict")
    assert status == cli.EXIT_FAIL
    assert "[2, 1]" in rows(report)[("predict", "cpu")]["message"]


def test_converted_tfjs_directory_needs_reference_outputs(models, tmp_path, capsys):
    status, output, _ = check(capsys, tmp_path, models / "tfjs", "--backends", "cpu")
    assert status == cli.EXIT_USAGE and "needs --inputs and --expected" in output


@pytest.mark.parametrize(("model", "finding"), [
    ("lambda.h5", "layer 'lambda': layer class Lambda: tfjs cannot run Python code"),
    ("activation.h5", "activation exponential: tfjs has no activation 'exponential'"),
    ("initializer.h5", "initializer LecunUniform: tfjs has no initializer 'LecunUniform'"),
])
def test_preflight_names_the_layer_and_what_tfjs_lacks(models, tmp_path, capsys, model, finding):
    status, output, report = check(capsys, tmp_path, models / model, "--backends", "cpu")
    assert status == cli.EXIT_FAIL
    assert finding in output
    assert set(rows(report)) == {("preflight", "cpu")}  # nothing was converted


def test_preflight_names_a_graph_op_tfjs_lacks(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "svd_savedmodel", "--backends", "cpu")
    assert status == cli.EXIT_FAIL, output
    assert "graph op Svd: tfjs has no kernel for this TensorFlow op" in output
    assert set(rows(report)) == {("preflight", "cpu")}


def test_preflight_names_an_unregistered_custom_layer(models, tmp_path, capsys):
    status, output, _ = check(capsys, tmp_path, models / "custom.h5", "--custom-objects",
                              models / "custom_layers.py", "--backends", "cpu")
    assert status == cli.EXIT_FAIL
    assert "layer class ScaledTanh: not a tfjs layer" in output and "--custom-js" in output


def test_custom_layer_registered_on_both_sides_passes_on_every_backend(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "custom.h5", "--custom-objects",
                                   models / "custom_layers.py", "--custom-js", models / "custom_layers.js",
                                   "--checks", "topology,predict")
    assert status == cli.EXIT_PASS, output
    assert {r["status"] for r in report["results"]} == {"pass"}
    assert len(report["results"]) == 9  # preflight, topology, predict x cpu, webgl, wasm


def test_custom_layer_unknown_to_keras_is_a_clear_error(models, tmp_path, capsys):
    status, output, _ = check(capsys, tmp_path, models / "custom.h5", "--backends", "cpu")
    assert status == cli.EXIT_USAGE
    assert "Unknown layer: 'ScaledTanh'" in output and "--custom-objects" in output


def test_quantized_check_of_a_users_model(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "two_inputs.h5", "--checks", "quantized[uint8]",
                                   "--backends", "cpu")
    assert status == cli.EXIT_PASS, output
    row = rows(report)[("quantized[uint8]", "cpu")]
    assert row["details"]["size_ratio"] < 0.3


def test_inputs_of_the_wrong_shape_are_refused_naming_the_file(models, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((4, 3), dtype=np.int32))
    status, output, _ = check(capsys, tmp_path, models / "two_inputs.h5", "--inputs",
                              f"{tmp_path / 'short.npy'},{models / 'numbers.npy'}", "--backends", "cpu")
    assert status == cli.EXIT_USAGE
    assert f"--inputs {tmp_path / 'short.npy'}: shape [4, 3], input 'tokens' takes [batch, 6]" in output


def test_unknown_model_formats_are_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a model")
    for path, message in ((tmp_path / "missing.h5", "no such file or directory"),
                          (tmp_path / "notes.txt", "unknown model format"),
                          (tmp_path, "neither saved_model.pb nor model.json")):
        status, output, _ = check(capsys, tmp_path, path, "--backends", "cpu")
        assert status == cli.EXIT_USAGE and message in output, output


def test_a_model_whose_outputs_are_constant_is_refused_with_what_to_do(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "fresh.h5", "--backends", "cpu")
    assert status == cli.EXIT_USAGE, output
    assert "reference outputs prove nothing" in output and "fresh/scores: nearly constant across the batch" in output
    assert "seeded inputs in --input-range 0,1" in output and "trained weights" in output
    row = rows(report)[("reference-build", "cpu")]
    assert row["status"] == "error" and "nearly constant across the batch" in row["message"]


def test_a_weak_reference_is_run_marked_and_its_power_measured(models, tmp_path, capsys):
    status, output, report = check(capsys, tmp_path, models / "head1000.h5", "--backends", "cpu",
                                   "--checks", "predict")
    assert status == cli.EXIT_PASS, output
    weak = rows(report)[("predict", "cpu")]["details"]["weak_reference"]
    assert weak and all(line.startswith("head1000/classes: nearly constant") for line in weak), weak
    factors = [float(line.split(": ")[-1].split(" x the tolerance")[0]) for line in weak]
    assert all(10 <= factor < 100 for factor in factors), weak
    power = report["power"]
    assert power["backend"] == "cpu" and power["models"]["head1000"]["weak_reference"] == weak
    assert power["models"]["head1000"]["faults"], power  # what predict catches with it, fault by fault
    assert "WEAK reference head1000: head1000/classes: nearly constant" in output and "Detection power on cpu" in output
    assert "\nhead1000 (weak reference)  pass" in output, output  # the matrix says so too


def test_constant_expected_outputs_are_refused(models, tmp_path, capsys):
    constant = tmp_path / "constant.npy"
    np.save(constant, np.full((8, 3), 1 / 3, dtype=np.float32))
    status, output, _ = check(capsys, tmp_path, models / "tfjs", "--inputs",
                              f"{models / 'tokens.npy'},{models / 'numbers.npy'}", "--expected", constant,
                              "--backends", "cpu")
    assert status == cli.EXIT_USAGE, output
    assert f"{constant}: nearly constant across the batch" in output and "--expected must be" in output


def test_a_grouped_convolution_in_a_savedmodel_is_found_before_the_browser(tmp_path, capsys):
    """TensorFlow runs a convolution whose filter is shallower than its input (grouped); tfjs throws on every
    backend. preflight finds it in the graph and names the node, before any browser check."""
    import tensorflow as tf

    class Grouped(tf.Module):
        def __init__(self):
            super().__init__()
            self.filters = tf.Variable(np.random.default_rng(0).normal(size=(3, 3, 2, 8)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 4], tf.float32)])
        def __call__(self, x):
            return tf.reduce_mean(tf.nn.conv2d(x, self.filters, 1, "VALID"), axis=[1, 2])

    module = Grouped()
    tf.saved_model.save(module, str(tmp_path / "grouped"), signatures=module.__call__)
    status, output, report = check(capsys, tmp_path, tmp_path / "grouped", "--backends", "cpu",
                                   "--checks", "graph-model")
    assert status == cli.EXIT_FAIL, output
    preflight = rows(report)[("preflight", "cpu")]
    assert preflight["status"] == "fail", preflight
    assert "graph op Conv2D: node " in preflight["message"], preflight["message"]
    assert "a grouped convolution (input depth 4, filter depth 2)" in preflight["message"], preflight["message"]


def test_route_is_refused_for_a_keras_model(models, tmp_path, capsys):
    status, output, _ = check(capsys, tmp_path, models / "two_inputs.h5", "--backends", "cpu", "--route", "onnx2tf")
    assert status == cli.EXIT_USAGE, output
    assert "--route onnx2tf chooses how an ONNX or PyTorch model is converted; this is a keras-h5 model" in output
