"""Fixture building and caching: content-hash keys, warm runs without TensorFlow, loud refusals."""

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from harness.reference import cache, zoo
from harness.reference.degeneracy import DegenerateReferenceError
from harness.reference.zoo_build import build_zoo_reference
from harness.reference.losses import LossSpec
from harness.reference.optimizers import OptimizerSpec
from harness.reference.training_spec import TrainingSpec
from harness.reference.directory import ReferenceFileError, load_reference
from harness.reference.keras_env import VERSIONED_PACKAGES, configure_tensorflow_environment


def test_key_is_stable_and_covers_seed_and_versions(monkeypatch):
    spec = zoo.get_spec("mlp")
    key = cache.fixture_key(spec)
    assert key == cache.fixture_key(spec)
    assert key != cache.fixture_key(replace(spec, seed=spec.seed + 1))
    monkeypatch.setattr(cache, "library_versions", lambda: {"tensorflow": "9.9.9"})
    assert key != cache.fixture_key(spec)


def test_keys_differ_between_models():
    assert len({cache.fixture_key(spec) for spec in zoo.ZOO.values()}) == len(zoo.ZOO)


def test_mlp_is_the_seeds_model(parity_references):
    mlp = parity_references["mlp"]
    assert mlp.param_count == 25_450
    assert [w.shape for w in mlp.weights] == [(784, 32), (32,), (32, 10), (10,)]


def test_references_are_seeded_realistic_and_batched(parity_references):
    for reference in parity_references.values():
        for array in reference.load_inputs():
            assert array.shape[0] > 1
            assert len(np.unique(array)) > array.shape[0]  # not zeros or ones
        for output in reference.load_outputs():
            assert output.dtype == np.float32 and output.std() > 0


def test_warm_run_reads_the_cache_without_importing_tensorflow(parity_references):
    names = sorted(parity_references)
    probe = (
        "import sys\n"
        "from harness.reference.cache import ensure_references\n"
        f"refs = ensure_references({names!r})\n"
        "print('HEAVY', [m for m in ('tensorflow', 'tf_keras', 'tensorflowjs') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in done.stdout, done.stderr[-2000:]


def build_constant_model():
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Input(shape=(4,)),
        keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros", trainable=False),
    ])


def constant_model_data(rng, n):
    return [rng.uniform(size=(n, 4)).astype(np.float32)], [np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]]


@pytest.mark.keras
def test_build_refuses_a_model_whose_outputs_are_constant(tmp_path):
    spec = zoo.ModelSpec("constant", "softmax of zeros: every output is 0.1", build_constant_model,
                         constant_model_data,
                         TrainingSpec(OptimizerSpec("sgd", 0.1), LossSpec("categorical_crossentropy")),
                         epochs=1, train_samples=8)
    with pytest.raises(DegenerateReferenceError, match="nearly constant across the batch"):
        build_zoo_reference(spec, tmp_path, key="test")


def test_malformed_manifest_is_an_error_naming_the_file(parity_references, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(parity_references["mlp"].directory, directory)
    (directory / "manifest.json").write_text("{not json")
    with pytest.raises(ReferenceFileError, match=f"{directory / 'manifest.json'}: malformed manifest"):
        load_reference(directory)


def test_reference_array_that_disagrees_with_the_manifest_is_refused(parity_references, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(parity_references["mlp"].directory, directory)
    np.save(directory / "output_0.npy", np.zeros((2, 2), np.float32))
    message = "output_0.npy: holds float32[2, 2], manifest says float32[16, 10]"
    with pytest.raises(ReferenceFileError, match=re.escape(message)):
        load_reference(directory).load_outputs()


def test_manifest_records_versions_and_onednn(parity_references):
    raw = json.loads((parity_references["cnn"].directory / "manifest.json").read_text())
    assert set(raw["build"]["versions"]) == set(VERSIONED_PACKAGES)
    assert raw["build"]["onednn"] in ("0", "1")


def test_training_reference_records_every_run(parity_references):
    training = parity_references["mlp"].training()
    assert set(training.get("runs")) == {"fit", "fit-dataset", "evaluate", "validation-split", "early-stopping",
                                         "core-api"}
    assert training.get("runs", "early-stopping", "stopped_epoch") < training.get("runs", "early-stopping",
                                                                                 "max_epochs") - 1
    fit = training.get("runs", "fit", "history")
    assert len(fit["loss"]) == training.get("epochs") and len(set(fit["loss"])) == len(fit["loss"])
    assert len(training.arrays("train", "inputs")[0]) % training.get("batch_size") != 0  # a partial last batch


def test_malformed_training_reference_is_an_error_naming_the_file(parity_references, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(parity_references["mlp"].directory, directory)
    (directory / "training.json").write_text("{not json")
    with pytest.raises(ReferenceFileError, match=f"{directory / 'training.json'}: malformed training reference"):
        load_reference(directory).training()
    assert load_reference(directory).has_training("fit")  # so the check runs and reports the broken file
    (directory / "training.json").write_text('{"runs": {}}')
    with pytest.raises(ReferenceFileError, match="training.json: no 'runs/fit'"):
        load_reference(directory).training().get("runs", "fit", "history")


def test_a_model_without_training_reference_has_no_training_checks(parity_references, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(parity_references["cnn"].directory, directory)
    assert load_reference(directory).has_training("fit") and not load_reference(directory).has_training("core-api")
    (directory / "training.json").unlink()
    assert not load_reference(directory).has_training("fit")


def test_every_model_is_converted_every_other_way(parity_references):
    from harness.reference.conversions import shard_count, weight_bytes

    for reference in parity_references.values():
        float32 = weight_bytes(reference.directory / reference.model_json)
        for dtype, ratio in (("uint8", 0.25), ("uint16", 0.5), ("float16", 0.5)):
            entry = reference.conversion(f"quantized-{dtype}")
            assert entry["weight_bytes"] / float32 == pytest.approx(ratio, abs=0.02)
            assert 0 < entry["output_effect"] and 0 < entry["max_step"]
            dequantized = reference.conversion_outputs(f"quantized-{dtype}")
            assert [d.shape for d in dequantized] == [o.shape for o in reference.load_outputs()]
        sharded = reference.conversion("sharded")
        assert sharded["shards"] >= 3
        assert shard_count(reference.directory / "sharded" / "model.json") == sharded["shards"]
        graph = reference.conversion("graph")
        assert [spec["key"] for spec in graph["outputs"]] == [entry.name for entry in reference.outputs]
        assert len(graph["inputs"]) == len(reference.inputs)


def test_uint8_moves_outputs_more_than_uint16(parity_references):
    for reference in parity_references.values():
        uint8, uint16 = (reference.conversion(f"quantized-{d}")["output_effect"] for d in ("uint8", "uint16"))
        assert uint8 > uint16


@pytest.mark.parametrize("calibrate", [False, True])
@pytest.mark.keras
def test_mobilenet_outputs_vary_only_with_calibrated_batch_norm(calibrate):
    """With random weights MobileNetV2's activations vanish layer by layer and every output is the same."""
    configure_tensorflow_environment()
    import tf_keras as keras

    from harness.reference.degeneracy import degeneracy_problems

    keras.utils.set_random_seed(1)
    model = zoo.build_mobilenet_v2(calibrate=calibrate)
    images, _ = zoo.grating_images(np.random.default_rng(2), 8)
    problems = degeneracy_problems(model.predict(images, verbose=0), "mobilenet_v2/head")
    assert bool(problems) is not calibrate, problems


def test_mobilenet_trains_only_its_head(parity_references):
    reference = parity_references["mobilenet_v2"]
    training = reference.training()
    assert set(training.get("runs")) == {"fine-tune"}
    assert training.get("runs", "fine-tune", "head_from") == "features"
    assert set(training.named_arrays("runs", "fine-tune", "weights")) == {"head/kernel", "head/bias"}
    assert not reference.has_training("fit") and reference.has_training("fine-tune")
    history = training.get("runs", "fine-tune", "history")["loss"]
    assert history[-1] < history[0]  # the head learns


def test_float32_rounding_is_measured_per_model(parity_references):
    """MobileNetV2 (52 BatchNormalizations on calibrated statistics) rounds far more than the small models."""
    small = max(parity_references[name].float32_rounding for name in ("mlp", "binary", "functional"))
    assert 0 < small < 1e-6 < parity_references["mobilenet_v2"].float32_rounding < 1e-4


def test_manifest_records_the_cache_key_of_its_directory(parity_references):
    for reference in parity_references.values():
        assert reference.build_info["key"] == reference.directory.name.rsplit("-", 1)[-1]


def test_a_damaged_cached_reference_is_built_again_saying_which_file(parity_references, tmp_path, capsys):
    cached = parity_references["mlp"].directory
    root = tmp_path / "fixtures"
    shutil.copytree(cached, root / cached.name)
    assert cache.ensure_references(["mlp"], root)["mlp"].directory == root / cached.name
    assert "mlp" not in capsys.readouterr().err  # intact: read as it is
    damaged = root / cached.name / "output_0.npy"
    original = damaged.read_bytes()
    damaged.write_bytes(original[:-4] + b"\0\0\0\0")
    cache.ensure_references(["mlp"], root)
    error = capsys.readouterr().err
    assert (f"the cached reference of mlp is damaged ({damaged} does not have the content it was built with); "
            "building it again") in error
    assert damaged.read_bytes() == original and cache.damage(root / cached.name) is None
