"""Users' own models through every check, as files, several in one ``tfjs-parity check`` run.

The models are built here with tf_keras, as a user would, and are not zoo models. Training setups
come from the files' own compile config, from ``--train`` and ``--data``; a model whose training
cannot be reproduced gets skips that name why. The checks' teeth are shown on a user model too:
a 1% learning rate change, shuffled data and one perturbed weight each fail.
"""

import copy
import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.checks import TRAINING_CHECKS, USER_CHECKS, training
from harness.reference.directory import load_reference
from harness.reference.keras_env import configure_tensorflow_environment

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("user_models")]

# Models whose every default check must pass, but for the named known tfjs problems in NOT_PASSING, which the run's
# accept file (ACCEPTED) accepts.
COMPILED = ("classifier", "two_heads", "conv1d", "recurrent", "separable", "bag_of_words", "cnn_bn")
NOT_PASSING = {
    ("two_heads", "evaluate"): ("xfail", "[tfjs-multi-output-evaluation]"),
    ("two_heads", "validation-split"): ("xfail", "[tfjs-multi-output-evaluation]"),
    ("recurrent", "graph-model"): ("xfail", "[tfjs-graph-control-flow]"),
    ("conv1d", "memory"): ("xfail", "[tfjs-momentum-optimizer-dispose]"),  # compiled with SGD(momentum=0.9)
    ("separable", "quantized[uint8]"): ("xfail", "[quantization-changes-labels]"),
    ("mobilenet", "quantized[uint8]"): ("xfail", "[quantization-changes-labels]"),
}
ACCEPTED = """
[accept.tfjs-multi-output-evaluation]
reason = "we read evaluation losses per output"
models = ["two_heads"]

[accept.tfjs-graph-control-flow]
reason = "we ship the recurrent model as a layers model"
models = ["recurrent"]
checks = ["graph-model"]

[accept.tfjs-momentum-optimizer-dispose]
reason = "our app makes one optimizer"
models = ["conv1d"]

[accept.quantization-changes-labels]
reason = "we judge uint8 on our app's data, whose classes are further apart than generated inputs'"
checks = ["quantized[uint8]"]
"""
ONE_RUN = ("classifier.h5", "two_heads", "conv1d.h5", "recurrent.h5", "separable.h5", "bag_of_words.h5", "cnn_bn.h5",
           "mobilenet.h5", "nadam.h5", "plain.h5")


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """Ten architectures, none of them a zoo model: seven compiled (Adam, RMSprop, SGD with momentum; categorical,
    sparse, binary crossentropy, mse), a Keras Applications model with random weights and calibrated
    BatchNormalization, one compiled with an optimizer the harness has no tfjs twin for, one saved without
    compile(). And the three config causes tfjs refuses or misreads."""
    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.reference.zoo import calibrate_batch_norm

    root = tmp_path_factory.mktemp("own-models")
    keras.utils.set_random_seed(5)
    classifier = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                                   keras.layers.Dropout(0.2), keras.layers.Dense(4, activation="softmax")])
    classifier.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    classifier.save(root / "classifier.h5")

    a, b = keras.Input((6,), name="a"), keras.Input((3,), name="b")
    hidden = keras.layers.Dense(12, activation="tanh")(keras.layers.Concatenate()([a, b]))
    label = keras.layers.Dense(3, activation="softmax", name="label")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    two_heads = keras.Model([a, b], [label, value])
    two_heads.compile(optimizer=keras.optimizers.RMSprop(0.005),
                      loss={"label": "sparse_categorical_crossentropy", "value": "mse"})
    two_heads.save(root / "two_heads", save_format="tf")

    conv1d = keras.Sequential([keras.Input((10, 3)), keras.layers.Conv1D(4, 3, activation="relu"),
                               keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2)])
    conv1d.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    conv1d.save(root / "conv1d.h5")

    nadam = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    nadam.compile(optimizer=keras.optimizers.Nadam(0.1), loss="categorical_crossentropy")
    nadam.save(root / "nadam.h5")

    keras.Sequential([keras.Input((5,), name="features"), keras.layers.Dense(6, activation="relu"),
                      keras.layers.Dense(2, name="outputs")]).save(root / "plain.h5")

    recurrent = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(30, 6),
                                  keras.layers.GRU(8, reset_after=False), keras.layers.Dense(3, activation="softmax")])
    recurrent.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    recurrent.save(root / "recurrent.h5")

    separable = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.SeparableConv2D(6, 3, activation="relu"),
                                  keras.layers.DepthwiseConv2D(3, depth_multiplier=2),
                                  keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    separable.compile(optimizer=keras.optimizers.Adam(0.005), loss="categorical_crossentropy", metrics=["accuracy"])
    separable.save(root / "separable.h5")

    bag_of_words = keras.Sequential([keras.Input((9,), dtype="int32"), keras.layers.Embedding(40, 5),
                                     keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(6, activation="tanh"),
                                     keras.layers.Dense(2, activation="softmax")])
    bag_of_words.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    bag_of_words.save(root / "bag_of_words.h5")

    cnn_bn = keras.Sequential([keras.Input((10, 10, 2)), keras.layers.Conv2D(4, 3, activation="relu"),
                               keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                               keras.layers.Dense(1, activation="sigmoid")])
    cnn_bn.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    cnn_bn.save(root / "cnn_bn.h5")

    mobilenet = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=3)
    calibrate_batch_norm(mobilenet, np.random.default_rng(0).uniform(0, 1, (64, 32, 32, 3)).astype(np.float32))
    mobilenet.save(root / "mobilenet.h5")

    image = keras.Input((12, 12, 3))
    features = keras.layers.BatchNormalization()(keras.layers.Conv2D(6, 3, activation="relu")(image))
    base = keras.Model(image, keras.layers.Flatten()(features), name="base")
    calibrate_batch_norm(base, np.random.default_rng(1).uniform(0, 1, (64, 12, 12, 3)).astype(np.float32))
    base.trainable = False
    frozen_input = keras.Input((12, 12, 3))
    frozen = keras.Model(frozen_input, keras.layers.Dense(3, activation="softmax")(base(frozen_input, training=False)))
    frozen.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    frozen.save(root / "frozen_base.h5")

    keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4), keras.layers.Dense(2)]).save(root / "gru_keras2.h5")
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                      keras.layers.GlobalAveragePooling2D(keepdims=True), keras.layers.Conv2D(2, 1),
                      keras.layers.Flatten()]).save(root / "keepdims.h5")
    # Every autoencoder's upsampling layer, all Keras defaults (tfjs' Conv2DTranspose has no dilation_rate: at its
    # default (1, 1) that changes nothing), and dilated, which tfjs cannot compute.
    for name, dilation in (("transpose", 1), ("dilated_transpose", 2)):
        keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2DTranspose(3, 3, dilation_rate=dilation),
                          keras.layers.Flatten()]).save(root / f"{name}.h5")
    return root


def check(tmp_path, *args):
    """Run ``tfjs-parity check``; returns exit status and the report (None if none)."""
    status = run_cli(["check", *map(str, args), "--out", str(tmp_path)])
    path = tmp_path / "parity.json"
    return status, json.loads(path.read_text()) if path.exists() else None


def rows_of(report, model):
    return {r["check"]: r for r in report["results"] if r["model"] == model}


@pytest.fixture(scope="module")
def one_run(user_models, tmp_path_factory):
    """All ten models, every default check, on cpu, in one run (--repair: separable.h5 needs it)."""
    out = tmp_path_factory.mktemp("one-run")
    accepted = out / "accepted.toml"
    accepted.write_text(ACCEPTED)
    status, report = check(out, *(user_models / name for name in ONE_RUN), "--backends", "cpu", "--repair",
                           "--accept-file", accepted)
    return status, report, out


def test_every_check_passes_on_compiled_models_in_one_run(one_run):
    status, report, _ = one_run
    assert status == cli.EXIT_PASS, [r["message"] for r in report["results"] if r["status"] in ("fail", "error")]
    assert set(report["environment"]["models"]) == {name.removesuffix(".h5") for name in ONE_RUN}
    for model in COMPILED:
        rows = rows_of(report, model)
        assert set(rows) == {"preflight", *USER_CHECKS}
        for check, row in rows.items():
            status, named = NOT_PASSING.get((model, check), ("pass", ""))
            assert row["status"] == status and named in row["message"], (model, check, row["message"])
    assert {entry["id"]: entry["rows"] for entry in report["acceptance"]["accepted"]} == {
        "tfjs-multi-output-evaluation": 2, "tfjs-graph-control-flow": 1, "tfjs-momentum-optimizer-dispose": 1,
        "quantization-changes-labels": 2}
    assert not report["acceptance"]["stale"]
    assert rows_of(report, "classifier")["quantized[uint8]"]["details"]["size_ratio"] < 0.3
    for check, row in rows_of(report, "mobilenet").items():
        status, named = NOT_PASSING.get(("mobilenet", check), ("pass", ""))
        assert row["status"] == status and named in row["message"] or (
            check in TRAINING_CHECKS and "no training setup" in row["message"]), row


def test_repair_turns_a_refused_separable_model_into_a_passing_one_and_lists_the_removed_fields(one_run):
    _, report, out = one_run
    preflight = rows_of(report, "separable")["preflight"]
    assert preflight["status"] == "pass"
    assert ("layer 'separable_conv2d' (SeparableConv2D): removed kernel_initializer, kernel_regularizer, "
            "kernel_constraint") in preflight["message"]
    repaired = json.loads((out / "repaired" / "separable" / "model.json").read_text())
    layers = repaired["modelTopology"]["model_config"]["config"]["layers"]
    layer = next(layer["config"] for layer in layers if layer["class_name"] == "SeparableConv2D")
    assert "kernel_initializer" not in layer
    assert "depthwise_initializer" in layer  # only the fields tfjs rejects are gone


def test_config_causes_are_named_with_their_routes(user_models, tmp_path):
    status, report = check(tmp_path, user_models / "gru_keras2.h5", user_models / "separable.h5",
                           user_models / "keepdims.h5", user_models / "dilated_transpose.h5",
                           user_models / "transpose.h5", "--backends", "cpu", "--checks", "predict")
    assert status == cli.EXIT_FAIL
    # A field tfjs drops at its Keras default changes nothing: no finding, and predict proves the arithmetic.
    defaults = rows_of(report, "transpose")
    assert defaults["preflight"]["status"] == "pass", defaults["preflight"]["message"]
    assert defaults["predict"]["status"] == "pass", defaults["predict"]["message"]
    expected = {
        "gru_keras2": ["layer 'gru", "reset_after=True", "GRUCell does not support reset_after",
                       "rebuild the layer with GRU(..., reset_after=False) and retrain"],
        "separable": ["layer 'separable_conv2d", "kernel_initializer=GlorotUniform", "--repair removes them",
                      "--repair removes the fields marked repairable"],
        "keepdims": ["layer 'global_average_pooling2d", "tfjs computes output shape [[None, 4]], Keras "
                     "[[None, 1, 1, 4]]", "tfjs ignores keepdims=True", "Reshape((1, 1, channels))"],
        "dilated_transpose": ["layer 'conv2d_transpose", "tfjs ignores dilation_rate=(2, 2)"],
    }
    for model, phrases in expected.items():
        rows = rows_of(report, model)
        assert set(rows) == {"preflight"} and rows["preflight"]["status"] == "fail", model
        for phrase in phrases:
            assert phrase in rows["preflight"]["message"], (model, phrase, rows["preflight"]["message"])


def test_training_that_cannot_be_reproduced_is_a_skip_that_names_why(one_run):
    _, report, _ = one_run
    for model, reason in (("nadam", "optimizer Nadam: tfjs has no Nadam (tfjs-core's optimizers: sgd, momentum, "
                                    "adagrad, adadelta, adam, adamax, rmsprop)"),
                          ("plain", "no training setup: the model was saved without compile()")):
        rows = rows_of(report, model)
        for check in TRAINING_CHECKS:
            if check in USER_CHECKS:
                assert rows[check]["status"] == "skip" and reason in rows[check]["message"], (model, check)
        assert rows["predict"]["status"] == "pass" and rows["save-load[http]"]["status"] == "pass"


def test_the_training_setup_comes_from_the_files_compile_config(one_run):
    _, _, out = one_run
    compiled = json.loads((out / "models" / "two_heads" / "training.json").read_text())["compile"]
    assert compiled["optimizer"] == {"name": "rmsprop", "learningRate": pytest.approx(0.005), "decay": 0.9,
                                     "momentum": 0.0, "epsilon": pytest.approx(1e-7), "centered": False}
    assert compiled["loss"] == {"label": "sparseCategoricalCrossentropy", "value": "meanSquaredError"}
    sgd = json.loads((out / "models" / "conv1d" / "training.json").read_text())["compile"]["optimizer"]
    assert sgd["name"] == "momentum" and sgd["momentum"] == pytest.approx(0.9)


def learning_rate_off_by_1_percent(job):
    job = copy.deepcopy(job)
    job["compile"]["optimizer"]["learningRate"] *= 1.01
    return job


def rows_shuffled(job):
    order = np.random.default_rng(0).permutation(len(job["x"][0]))
    return {**job, "x": [a[order] for a in job["x"]], "y": [a[order] for a in job["y"]]}


@pytest.mark.parametrize("mutate", [learning_rate_off_by_1_percent, rows_shuffled])
def test_fit_on_a_users_model_fails_on_a_wrong_answer(one_run, parity_session, mutate):
    reference = load_reference(one_run[2] / "models" / "classifier")
    result = parity_session.run_check("fit", reference, "cpu",
                                      lambda context: training.check_fit(context, mutate=mutate))
    assert result.status == "fail" and result.max_abs_err > result.atol, result.message


def test_predict_on_a_users_model_fails_on_one_perturbed_weight(one_run, parity_session, tmp_path):
    directory = tmp_path / "classifier"
    shutil.copytree(one_run[2] / "models" / "classifier", directory)
    shard = directory / json.loads((directory / "model.json").read_text())["weightsManifest"][0]["paths"][0]
    weights = np.fromfile(shard, dtype=np.float32)
    weights[0] += 1e-3
    weights.tofile(shard)
    result = parity_session.run_check("predict", load_reference(directory), "cpu")
    assert result.status == "fail" and result.max_abs_err > result.atol, result.message


@pytest.fixture(scope="module")
def frozen_run(user_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("frozen-run")
    status, report = check(out, user_models / "frozen_base.h5", "--backends", "cpu",
                           "--checks", "predict,fit,fit-worker,validation-split,early-stopping",
                           "--accept", "tfjs-frozen-batch-normalization")
    return status, report, out


def test_frozen_batch_normalization_is_the_named_known_difference_accepted(frozen_run):
    status, report, _ = frozen_run
    assert status == cli.EXIT_PASS
    rows = rows_of(report, "frozen_base")
    assert rows["predict"]["status"] == "pass"
    for check in ("fit", "fit-worker", "validation-split"):
        assert rows[check]["status"] == "xfail", rows[check]["message"]
        assert rows[check]["message"].startswith("accepted (--accept, no reason given): known difference by design "
                                                 "[tfjs-frozen-batch-normalization]"), rows[check]["message"]
        assert "train only the layers after it" in rows[check]["message"]
    stopping = rows["early-stopping"]
    assert stopping["status"] == "skip" and "frozen BatchNormalization" in stopping["message"]


def test_a_wrong_answer_on_a_frozen_batch_normalization_model_stays_a_failure(frozen_run, parity_session):
    reference = load_reference(frozen_run[2] / "models" / "frozen_base")
    result = parity_session.run_check("fit", reference, "cpu", lambda context: training.check_fit(
        context, mutate=learning_rate_off_by_1_percent))
    assert result.status == "fail", result.message


def test_train_file_and_data_file_set_up_training(user_models, tmp_path):
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"optimizer": "adam", "learning_rate": 0.02, "loss": "mse", "epochs": 2,
                                 "batch_size": 16}))
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(40, 5)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x0=x, y0=np.stack([x.sum(axis=1), x[:, 0] - x[:, 1]], axis=1))
    status, report = check(tmp_path / "out", user_models / "plain.h5", "--train", train, "--data",
                           tmp_path / "data.npz", "--backends", "cpu", "--checks", "fit,evaluate,early-stopping")
    assert status == cli.EXIT_PASS, [r["message"] for r in report["results"]]
    recorded = json.loads((tmp_path / "out" / "models" / "plain" / "training.json").read_text())
    assert recorded["epochs"] == 2 and recorded["batch_size"] == 16
    assert recorded["compile"]["optimizer"]["learningRate"] == 0.02
    assert recorded["train"]["inputs"][0]["shape"] == [30, 5] and recorded["heldout"]["inputs"][0]["shape"] == [10, 5]


@pytest.mark.parametrize(("content", "message"), [
    ({"lr": 0.1}, "unknown field 'lr'"),
    ({"loss": "huber"}, "loss huber: tfjs-layers has no huber loss"),
    ({"optimizer": "nadam"}, "optimizer 'nadam': known are sgd, momentum, adagrad, adadelta, adam, adamax, rmsprop"),
    ({"metrics": ["auc"]}, "metric 'auc': tfjs reports no such metric"),
    ({"epochs": 0}, "field 'epochs' is 0; it must be a positive integer"),
    ([1, 2], "must be a JSON object"),
])
def test_a_bad_train_file_is_refused_naming_the_file_and_field(user_models, tmp_path, capsys, content, message):
    train = tmp_path / "train.json"
    train.write_text(json.dumps(content))
    status, _ = check(tmp_path / "out", user_models / "plain.h5", "--train", train)
    output = capsys.readouterr().err
    assert status == cli.EXIT_USAGE and f"--train {train}" in output and message in output, output


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x0": np.zeros((20, 5), np.float32)}, "no array 'outputs' (or 'y0')"),
    ({"x0": np.zeros((20, 4), np.float32), "y0": np.zeros((20, 2), np.float32)},
     "array 'x0' has shape [20, 4]; the model's input 'features' takes [rows, 5]"),
    ({"x0": np.zeros((20, 5), np.float32), "y0": np.zeros((12, 2), np.float32)}, "different numbers of rows"),
])
def test_bad_training_data_is_an_error_row_naming_the_array(user_models, tmp_path, capsys, arrays, message):
    np.savez(tmp_path / "data.npz", **arrays)
    status, report = check(tmp_path / "out", user_models / "plain.h5",
                           "--train", _mse_train(tmp_path), "--data", tmp_path / "data.npz", "--backends", "cpu",
                           "--checks", "fit")
    output = capsys.readouterr().err
    assert status == cli.EXIT_USAGE and message in output, output
    row = rows_of(report, "plain")["reference-build"]
    assert row["status"] == "error" and message in row["message"]


def _mse_train(tmp_path):
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"optimizer": "sgd", "loss": "mse"}))
    return train


def test_a_model_that_cannot_be_set_up_does_not_stop_the_others(user_models, tmp_path, capsys):
    configure_tensorflow_environment()
    import tf_keras as keras

    tiny = keras.initializers.RandomNormal(stddev=1e-4, seed=2)
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", kernel_initializer=tiny),
                      keras.layers.Dense(5, activation="softmax", kernel_initializer=tiny)]).save(tmp_path / "flat.h5")
    status, report = check(tmp_path / "out", tmp_path / "flat.h5", user_models / "plain.h5", "--backends", "cpu",
                           "--checks", "predict")
    output = capsys.readouterr().err
    assert status == cli.EXIT_USAGE and "flat: reference outputs prove nothing" in output, output
    assert rows_of(report, "flat")["reference-build"]["status"] == "error"
    assert rows_of(report, "plain")["predict"]["status"] == "pass"


def test_inner_outputs_of_a_users_model(user_models, tmp_path):
    """``--inner-output LAYER`` makes predict compare that layer too (here MobileNetV2's last activation before its
    pooled head); a layer the model does not have is an error naming it, and the other model still runs."""
    status, report = check(tmp_path, user_models / "mobilenet.h5", user_models / "classifier.h5", "--backends", "cpu",
                           "--checks", "predict", "--inner-output", "out_relu")
    assert status == cli.EXIT_USAGE  # as for any model whose reference cannot be built: the others ran
    predict = rows_of(report, "mobilenet")["predict"]
    assert predict["status"] == "pass", predict["message"]
    inner = predict["details"]["inner_outputs"]
    assert [o["name"] for o in inner] == ["out_relu"] and inner[0]["elements"] == 8 * 1280
    assert inner[0]["channel_atol_max"] > 0 and predict["tolerance_ratio"] >= inner[0]["worst_ratio"]
    refused = [r for r in rows_of(report, "classifier").values() if r["status"] == "error"]
    assert refused and "inner output 'out_relu': model" in refused[0]["message"], refused
    assert "has no layer of that name" in refused[0]["message"]
