"""Storage checks must be able to fail: a changed stored byte, broken saved files (browser side and
Python side), a wrong model-management step, and a model too large for localStorage."""

import json
import shutil

import numpy as np
import pytest

from harness.browser.page import PageOperation
from harness.checks.browser_to_python import check_browser_to_python, keras_side
from harness.checks.saving import FILE_SCHEMES, SCHEMES
from harness.checks.storage import check_model_management, check_save_load
from harness.reference.directory import load_reference, save_arrays, write_manifest

pytestmark = pytest.mark.browser
WEIGHTS_BIN = "model.weights.bin"


def run_with(session, reference, backend, check, **hooks):
    name = {check_browser_to_python: "browser-to-python", check_model_management: "model-management"}[check]
    return session.run_check(name, reference, backend, lambda context: check(context, **hooks))


def run_save_load(session, reference, backend, scheme, tamper):
    return session.run_check(f"save-load[{scheme}]", reference, backend,
                             lambda context: check_save_load(context, scheme, tamper))


def flip_stored_byte(context, saved):
    """Change one weight byte of the saved model, wherever it was saved."""
    if saved.directory is None:
        context.page.call(PageOperation.TAMPER_STORED, saved.load_url)
        return
    data = bytearray((saved.directory / WEIGHTS_BIN).read_bytes())
    data[3] ^= 0x40
    (saved.directory / WEIGHTS_BIN).write_bytes(bytes(data))


def truncate(context, saved):
    path = saved.directory / WEIGHTS_BIN
    path.write_bytes(path.read_bytes()[:-100])


def lengthen(context, saved):
    path = saved.directory / WEIGHTS_BIN
    path.write_bytes(path.read_bytes() + b"\0" * 8)


def malform_json(context, saved):
    saved.model_json.write_text('{"modelTopology": {"class_name": ')


@pytest.mark.parametrize("scheme", SCHEMES)
def test_save_load_fails_when_a_stored_weight_byte_changes(parity_session, parity_references, parity_backend, scheme):
    result = run_save_load(parity_session, parity_references["mlp"], parity_backend, scheme, flip_stored_byte)
    assert result.status == "fail", result.message
    assert "weight dense/kernel: bytes changed (SHA-256" in result.message
    assert "output 0 not bit-identical" in result.message and "(AFTER)" in result.message
    assert result.max_abs_err > 0


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
@pytest.mark.parametrize(("damage", "problem"), [
    (truncate, "truncated: 101700 bytes of weight data, the weights manifest needs 101800"),
    (lengthen, "wrong weight byte length: 101808 bytes of weight data, the weights manifest describes 101800"),
    (malform_json, "model.json: malformed JSON"),
], ids=["truncated", "wrong-length", "malformed-json"])
def test_broken_saved_files_are_an_error_naming_the_file(parity_session, parity_references, scheme, damage, problem):
    reference = parity_references["mlp"]
    browser = run_save_load(parity_session, reference, "cpu", scheme, damage)
    python = run_with(parity_session, reference, "cpu", check_browser_to_python, tamper=damage)
    for result in (browser, python):
        assert result.status == "error", result.message
        assert problem in result.message
        assert str(parity_session.server.slots.root) in result.message  # a path on disk, not a URL
    assert "tensorflowjs" not in python.message  # caught before Keras sees the files
    after = parity_session.run_check(f"save-load[{scheme}]", reference, "cpu")
    assert after.status == "pass", after.message


def test_browser_to_python_fails_when_the_saved_weights_differ(parity_session, parity_references):
    result = run_with(parity_session, parity_references["mlp"], "cpu", check_browser_to_python,
                      tamper=flip_stored_byte)
    assert result.status == "fail", result.message
    assert "weight dense/kernel differs" in result.message and "(KERAS)" in result.message


def test_keras_reuses_what_it_made_of_saved_files_only_for_the_same_bytes(parity_references, tmp_path):
    reference = parity_references["mlp"]
    directory = tmp_path / "saved"
    shutil.copytree(reference.directory, directory, ignore=shutil.ignore_patterns("*.npy", "quantized-*", "graph"))
    model_json, inputs = directory / reference.model_json, reference.load_inputs()
    _, weights, _ = keras_side(model_json, inputs)
    assert keras_side(model_json, inputs)[2] is True
    assert keras_side(model_json, [x[:-1] for x in inputs])[2] is False
    shard = directory / json.loads(model_json.read_text())["weightsManifest"][0]["paths"][0]
    data = bytearray(shard.read_bytes())
    data[3] ^= 0x40
    shard.write_bytes(bytes(data))
    _, changed_weights, reused = keras_side(model_json, inputs)
    assert not reused and not np.array_equal(changed_weights["dense/kernel"], weights["dense/kernel"])


def test_model_management_fails_when_a_copy_differs(parity_session, parity_references):
    def tamper_copy(context, step):
        if step == "copyModel localstorage -> indexeddb":
            context.page.call(PageOperation.TAMPER_STORED, "indexeddb://tfjs-parity/mlp/b")

    result = run_with(parity_session, parity_references["mlp"], "cpu", check_model_management, tamper=tamper_copy)
    assert result.status == "fail", result.message
    assert "after copyModel localstorage -> indexeddb, indexeddb://tfjs-parity/mlp/b: weight dense/kernel: " \
           "bytes changed" in result.message
    # The tampered copy was moved on, and the move kept the damage.
    assert "after moveModel indexeddb -> localstorage, localstorage://tfjs-parity/mlp/e" in result.message


def test_model_management_fails_when_a_removed_model_is_still_there(parity_session, parity_references):
    def resave_after_remove(context, step):
        if step == "removeModel":
            model_id = context.page.call(PageOperation.LOAD, context.model_url)
            context.page.call(PageOperation.SAVE, model_id, "localstorage://tfjs-parity/mlp/c")

    result = run_with(parity_session, parity_references["mlp"], "cpu", check_model_management,
                      tamper=resave_after_remove)
    assert result.status == "fail"
    assert "after removeModel: tf.io.listModels() lists ['localstorage://tfjs-parity/mlp/c', " in result.message
    assert "after removeModel: localstorage://tfjs-parity/mlp/c still loads" in result.message


def test_leftovers_from_an_earlier_check_are_cleared(parity_session, parity_references):
    page = parity_session.page("cpu")
    model_id = page.call(PageOperation.LOAD, parity_session.model_url(parity_references["binary"]))
    page.call(PageOperation.SAVE, model_id, "indexeddb://leftover")
    page.call(PageOperation.SAVE, model_id, "localstorage://tfjs-parity/mlp/a")
    page.call(PageOperation.DISPOSE, model_id)
    assert parity_session.run_check("model-management", parity_references["mlp"], "cpu").status == "pass"
    assert page.call(PageOperation.LIST_MODELS) == {}


@pytest.fixture(scope="module")
def too_large_for_local_storage(tmp_path_factory):
    """A converted 8 MB model (2M float32 weights) with Keras reference outputs."""
    from harness.reference.conversions import convert_layers_model
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    directory = tmp_path_factory.mktemp("wide")
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.layers.Input((1000,), name="x"), keras.layers.Dense(2000, name="wide")])
    inputs = [np.random.default_rng(7).standard_normal((4, 1000)).astype(np.float32)]
    outputs = [np.asarray(model.predict(inputs[0], verbose=0), dtype=np.float32)]
    write_manifest(directory, {
        "name": "wide", "model_json": convert_layers_model(model, directory),
        "inputs": save_arrays(directory, "input", ["x"], inputs),
        "outputs": save_arrays(directory, "output", ["wide"], outputs),
        "weights": [{"name": "wide/kernel", "shape": [1000, 2000]}, {"name": "wide/bias", "shape": [2000]}],
        "param_count": int(model.count_params()),
    })
    assert json.loads((directory / "model.json").read_text())["weightsManifest"]
    return load_reference(directory)


def test_a_model_too_large_for_local_storage_fails_naming_the_known_limit(parity_session, too_large_for_local_storage):
    result = parity_session.run_check("save-load[localstorage]", too_large_for_local_storage, "cpu")
    assert result.status == "fail" and result.details["known_issue"]["id"] == "browser-localstorage-quota"
    assert "save to indexeddb:// instead" in result.message
    assert "Failed to save model 'tfjs-parity/wide/converted' to local storage" in result.message
    assert "size quota being exceeded" in result.message and "weightDataBytes=8008000" in result.message
    assert "did not finish" not in result.message  # an answer, not a timeout
    assert parity_session.page("cpu").call(PageOperation.LIST_MODELS) == {}  # tfjs removed the partial save
    indexeddb = parity_session.run_check("save-load[indexeddb]", too_large_for_local_storage, "cpu")
    assert indexeddb.status == "pass", indexeddb.message
    assert indexeddb.details["converted"]["saved"]["weightDataBytes"] == 8008000
