"""The bad-input catalog (docs/bad-inputs.md): each bad file gets a message naming the file, field or option,
and the other models of the run still run. Inputs the server, the options and the training files meet are
tested where those are (test_uploads, test_cli, test_user_models); the table in the docs names each test."""

import json
import shutil
import zipfile

import numpy as np
import pytest

from conftest import run_cli, small_keras_model
from harness import cli
from harness.errors import HarnessError
from harness.reference.conversions import convert_layers_model
from harness.reference.directory import load_reference
from harness.reference.user_build import InputSpec, build_tfjs_reference, load_user_arrays

pytestmark = pytest.mark.browser
SHARD = "group1-shard1of1.bin"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small Keras model (4 inputs, 3 outputs) as .h5 and converted, with inputs and the outputs Keras gave."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    keras.backend.clear_session()  # layer names as the messages below give them (dense, dense_1), whatever ran before
    root = tmp_path_factory.mktemp("bad-inputs")
    model = small_keras_model(1)
    model.save(root / "good.h5")
    convert_layers_model(model, root / "converted")
    x = np.random.default_rng(0).uniform(size=(8, 4)).astype(np.float32)
    np.save(root / "x.npy", x)
    np.save(root / "y.npy", model.predict(x, verbose=0))
    return root


def edit_json(edit):
    def damage(directory):
        path = directory / "model.json"
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return damage


def edit_weights(edit):
    def damage(directory):
        values = np.fromfile(directory / SHARD, np.float32)
        edit(values)
        values.tofile(directory / SHARD)
    return damage


def manifest(edit):
    def change(raw):
        edit(raw["weightsManifest"][0])
        return raw
    return edit_json(change)


def symlink_out(directory):
    (directory / SHARD).unlink()
    (directory / SHARD).symlink_to("/etc/passwd")


def set_at(index, value):
    def edit(values):
        values[index] = value
    return edit


CONVERTED = {  # a converted model's damage -> what the message says (after the model.json's path)
    "malformed-json": (lambda d: (d / "model.json").write_text('{"modelTopology": '), "malformed JSON"),
    "not-an-object": (lambda d: (d / "model.json").write_text("[1, 2]"), "not a tfjs model.json (a JSON list, "
                                                                           "not an object)"),
    "no-weights-manifest": (edit_json(lambda raw: {k: v for k, v in raw.items() if k != "weightsManifest"}),
                            "no weightsManifest: tfjs would load the topology with freshly initialised weights"),
    "shard-missing": (lambda d: (d / SHARD).unlink(), f"{SHARD}: missing (listed in model.json's weights manifest)"),
    "shard-truncated": (lambda d: (d / SHARD).write_bytes((d / SHARD).read_bytes()[:-8]),
                        "truncated: 196 bytes of weight data, the weights manifest needs 204"),
    "shard-extra-bytes": (lambda d: (d / SHARD).write_bytes((d / SHARD).read_bytes() + bytes(8)),
                          "wrong weight byte length: 212 bytes of weight data, the weights manifest describes 204"),
    "unknown-dtype": (manifest(lambda group: group["weights"][0].update(dtype="float64")),
                      "weight dense/kernel: unsupported dtype float64"),
    "nan-weight": (edit_weights(set_at(0, np.nan)), "weight dense/kernel holds 1 NaN or infinite value(s) (nan at "
                                                    "flat index 0)"),
    "infinite-weight": (edit_weights(set_at(5, np.inf)), "(inf at flat index 5)"),
    "duplicate-weight-names": (manifest(lambda group: group["weights"][1].update(name="dense/kernel")),
                               "the weights manifest lists weight dense/kernel twice"),
    "path-outside": (manifest(lambda group: group.update(paths=[f"../converted/{SHARD}"])),
                     f"weight path '../converted/{SHARD}' leaves the model's directory"),
    "symlink-outside": (symlink_out, f"{SHARD} is a symlink to /etc/passwd, outside the model's directory"),
}


@pytest.mark.parametrize("case", CONVERTED)
def test_a_damaged_converted_model_is_refused_naming_the_file_and_problem(files, tmp_path, case):
    damage, message = CONVERTED[case]
    directory = tmp_path / case
    shutil.copytree(files / "converted", directory)
    damage(directory)
    with pytest.raises(HarnessError) as refused:
        build_tfjs_reference(directory / "model.json", tmp_path / "reference", case, (files / "x.npy",),
                             (files / "y.npy",))
    assert str(directory) in str(refused.value) and message in str(refused.value), str(refused.value)


ARRAYS = {  # an --inputs file -> what the message says
    "wrong-shape": (np.zeros((8, 5), np.float32), "shape [8, 5], input 'features' takes [batch, 4]"),
    "wrong-dtype": (np.zeros((8, 4), np.complex64), "dtype complex64: a model's arrays must hold real numbers"),
    "nan-input": (np.array([[0.5, np.nan, 0.1, 0.2]] * 8, np.float32), "holds 8 NaN or infinite value(s) (first at "
                                                                         "[0, 1]: nan)"),
}


@pytest.mark.parametrize("case", ARRAYS)
def test_a_bad_inputs_file_is_refused_naming_the_option_and_file(tmp_path, case):
    array, message = ARRAYS[case]
    path = tmp_path / f"{case}.npy"
    np.save(path, array)
    with pytest.raises(HarnessError) as refused:
        load_user_arrays((path,), [InputSpec("features", (4,), "float32")], "--inputs")
    assert f"--inputs {path}: {message}" in str(refused.value), str(refused.value)


def test_a_pickled_inputs_file_is_refused_unread(tmp_path):
    path = tmp_path / "pickled.npy"
    np.save(path, np.array([{"a": 1}] * 8, dtype=object), allow_pickle=True)
    with pytest.raises(HarnessError, match="not a readable .npy array: Object arrays cannot be loaded when "
                                           "allow_pickle=False"):
        load_user_arrays((path,), None, "--inputs")


def test_an_unknown_layer_class_is_a_fail_row_naming_it_thrown_in_tfjs(files, tmp_path, parity_session):
    directory = tmp_path / "unknown-layer"
    shutil.copytree(files / "converted", directory)
    edit_json(lambda raw: raw["modelTopology"]["model_config"]["config"]["layers"][1].update(
        class_name="FancyDense") or raw)(directory)
    reference = build_tfjs_reference(directory / "model.json", tmp_path / "reference", "unknown-layer",
                                     (files / "x.npy",), (files / "y.npy",))
    row = parity_session.run_check("predict", load_reference(reference.directory), "cpu")
    assert row.status == "fail" and "Unknown layer: FancyDense" in row.message, row.message
    assert row.details["known_issue"]["id"] == "tfjs-threw" and row.details["thrown_in"] == "tfjs", row.details


def test_files_that_are_not_models_are_refused_each_and_the_good_model_still_runs(files, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.h5").write_bytes(b"")
    small_keras_model(2).save_weights(bad / "weights_only.h5")
    with zipfile.ZipFile(bad / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    (bad / "no_model_json").mkdir()
    (bad / "model.onnx").write_bytes(b"\x08\x07")
    (bad / "model.pt").write_bytes(b"PK")
    not_utf8 = bad / b"caf\xe9.h5".decode("utf-8", "surrogateescape")
    shutil.copy(files / "good.h5", not_utf8)
    expected = {
        "empty": "empty.h5: not a readable HDF5 file",
        "weights_only": "holds weights only (no model_config): save the whole model",
        "model": "model.keras: Keras 3 could not load it",
        "no_model_json": "no_model_json: a directory with neither saved_model.pb nor model.json",
        "model-2": "model.onnx: not a valid ONNX model",
        "model-3": "model.pt: a PyTorch file: export the model to ONNX (torch.onnx.export) and check the .onnx file",
        "caf\ufffd": "b'" + str(bad) + "/caf\\xe9.h5': the file name is not UTF-8; rename the file",
    }
    paths = [bad / "empty.h5", bad / "weights_only.h5", bad / "model.keras", bad / "no_model_json",
             bad / "model.onnx", bad / "model.pt", not_utf8, files / "good.h5"]
    status = run_cli(["check", *map(str, paths), "--backends", "cpu", "--checks", "predict", "--out",
                      str(tmp_path / "out"), "-q"])
    assert status == cli.EXIT_USAGE
    rows = {r["model"]: r for r in json.loads((tmp_path / "out" / "parity.json").read_text())["results"]
            if r["model"] != "good"}
    for model, message in expected.items():
        assert rows[model]["status"] == "error" and message in rows[model]["message"], (model, rows[model]["message"])
    good = [r for r in json.loads((tmp_path / "out" / "parity.json").read_text())["results"] if r["model"] == "good"]
    assert [(r["check"], r["status"]) for r in good] == [("preflight", "pass"), ("predict", "pass")]
    assert "empty.h5: not a readable HDF5 file" in capsys.readouterr().err
