"""Python-side checks of saved tfjs artifacts: every broken file is an error naming it (no browser)."""

import json

import numpy as np
import pytest

from harness.reference.artifacts import ArtifactError, check_weight_files, load_keras_model, read_model_json, spec_bytes

SPECS = [{"name": "dense/kernel", "shape": [3, 2], "dtype": "float32"},
         {"name": "dense/bias", "shape": [2], "dtype": "float32"}]


def write_artifacts(directory, weights=b"\0" * 32, paths=("./model.weights.bin",), specs=SPECS):
    model_json = directory / "model.json"
    model_json.write_text(json.dumps({"modelTopology": {"class_name": "Sequential"},
                                      "weightsManifest": [{"paths": list(paths), "weights": specs}]}))
    (directory / "model.weights.bin").write_bytes(weights)
    return model_json


def problem(path):
    with pytest.raises(ArtifactError) as raised:
        check_weight_files(path, read_model_json(path))
    return str(raised.value)


def test_consistent_artifacts_pass(tmp_path):
    path = write_artifacts(tmp_path)
    check_weight_files(path, read_model_json(path))


def test_truncated_weights_name_the_file(tmp_path):
    message = problem(write_artifacts(tmp_path, weights=b"\0" * 30))
    assert message == (f"{tmp_path / 'model.weights.bin'}: truncated: 30 bytes of weight data, "
                       "the weights manifest needs 32")


def test_over_long_weights_name_the_file(tmp_path):
    message = problem(write_artifacts(tmp_path, weights=b"\0" * 36))
    assert message.startswith(f"{tmp_path / 'model.weights.bin'}: wrong weight byte length: 36 bytes")


@pytest.mark.parametrize(("shape", "expected"), [
    ([3, 3], "truncated: 32 bytes of weight data, the weights manifest needs 44"),
    ([2, 2], "wrong weight byte length: 32 bytes of weight data, the weights manifest describes 24"),
])
def test_a_shape_edited_in_the_manifest_is_caught(tmp_path, shape, expected):
    assert expected in problem(write_artifacts(tmp_path, specs=[dict(SPECS[0], shape=shape), SPECS[1]]))


@pytest.mark.parametrize("text", ['{"modelTopology": ', "not json", "\udcff"])
def test_malformed_json_names_the_file(tmp_path, text):
    path = tmp_path / "model.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ArtifactError, match=r"model\.json: malformed JSON"):
        read_model_json(path)


@pytest.mark.parametrize("raw", ["[]", '{"format": "layers-model"}', '{"modelTopology": {}, "weightsManifest": {}}'])
def test_json_that_is_not_a_tfjs_model_names_the_file(tmp_path, raw):
    path = tmp_path / "model.json"
    path.write_text(raw)
    with pytest.raises(ArtifactError, match=r"model\.json: (not a tfjs model.json|weightsManifest is not a list)"):
        read_model_json(path)


@pytest.mark.parametrize("bad_path", ["../outside.bin", "/etc/passwd", "sub/model.weights.bin", ".."])
def test_weight_paths_cannot_leave_the_directory(tmp_path, bad_path):
    assert "leaves the model's directory" in problem(write_artifacts(tmp_path, paths=(bad_path,)))


def test_a_missing_weight_file_is_named(tmp_path):
    assert problem(write_artifacts(tmp_path, paths=("./other.bin",))) == \
        f"{tmp_path / 'other.bin'}: missing (listed in model.json's weights manifest)"


def test_quantized_weights_take_their_quantized_size():
    assert spec_bytes({"name": "w", "shape": [10], "dtype": "float32", "quantization": {"dtype": "uint8"}}) == 10
    assert spec_bytes({"name": "w", "shape": [10], "dtype": "float32", "quantization": {"dtype": "float16"}}) == 20
    assert spec_bytes({"name": "w", "shape": [2, 5], "dtype": "int32"}) == 40


@pytest.mark.keras
def test_keras_loads_converted_artifacts_with_their_exact_weights(tmp_path):
    from harness.reference.conversions import convert_layers_model
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.reference.keras_model import keras_weights

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(3, name="d")])
    loaded = load_keras_model(tmp_path / convert_layers_model(model, tmp_path))
    expected = {"d/kernel": model.weights[0].numpy(), "d/bias": model.weights[1].numpy()}
    assert {name: value.tobytes() for name, value in keras_weights(loaded).items()} == \
        {name: value.tobytes() for name, value in expected.items()}
    assert np.array_equal(loaded.predict(np.ones((2, 4), np.float32), verbose=0),
                          model.predict(np.ones((2, 4), np.float32), verbose=0))


@pytest.mark.parametrize("total", [12, 4_000, 200_000, 3_000_000, 94_969_920, 400_000_000])
def test_the_sharded_conversion_makes_between_3_and_64_shards_whatever_the_model_size(total):
    from harness.reference.conversions import MAX_SHARDS, MIN_SHARDS, shard_size

    size = shard_size(total)
    assert size % 4 == 0 and MIN_SHARDS <= -(-total // size) <= MAX_SHARDS  # ResNet50's 94 MB made 1441 shards
