"""The pytest plugin from the outside: options, readable ids, merged reports under pytest -n 2, and a user's
own project testing its own models with the ``parity`` fixture."""

import json
import shutil

import pytest

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("plugin")

TEST_FILE = """
from harness.plugin import assert_passed

def test_predict(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("predict", reference_model, parity_backend))

def test_backend_only(parity_backend):
    assert parity_backend
"""


def test_ids_are_model_dash_backend(pytester):
    pytester.makepyfile(test_ids=TEST_FILE)
    result = pytester.runpytest("--collect-only", "-q", "--parity-models", "mlp,cnn",
                                "--parity-backends", "cpu,wasm")
    result.stdout.fnmatch_lines([
        "test_ids.py::test_predict[mlp-cpu]", "test_ids.py::test_predict[mlp-wasm]",
        "test_ids.py::test_predict[cnn-cpu]", "test_ids.py::test_predict[cnn-wasm]",
        "test_ids.py::test_backend_only[cpu]", "test_ids.py::test_backend_only[wasm]",
    ])


def test_unknown_backend_is_a_usage_error(pytester):
    pytester.makepyfile(test_ids=TEST_FILE)
    result = pytester.runpytest("--collect-only", "--parity-backends", "metal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'metal' (known: cpu, webgl, wasm*"])


@pytest.mark.browser
def test_xdist_workers_reports_are_merged(pytester, tmp_path):
    pytester.makepyfile(test_merge=TEST_FILE)
    report_dir = tmp_path / "report"
    result = pytester.runpytest_subprocess(
        "-n", "2", "--parity-models", "mlp,cnn", "--parity-backends", "cpu,wasm", "--parity-report", str(report_dir),
        "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=6)
    report = json.loads((report_dir / "parity.json").read_text())
    pairs = {(r["model"], r["backend"]) for r in report["results"]}
    assert pairs == {("mlp", "cpu"), ("mlp", "wasm"), ("cnn", "cpu"), ("cnn", "wasm")}
    assert report["summary"]["pass"] == 4
    assert (report_dir / "parity.md").is_file()


USER_CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def parity_check_args(parity_check_args):
    return {**parity_check_args, "checks": ("topology", "predict", "save-load[indexeddb]")}
"""

USER_TESTS = """
def test_the_keras_model_runs_in_the_browser(parity):
    parity.check("model.h5").assert_passed()


def test_the_shipped_web_model_matches_keras(parity):
    parity.check("web/model/model.json", inputs=["inputs.npy"], expected=["expected.npy"],
                 checks=["predict"]).assert_passed()


def test_a_damaged_copy_of_the_web_model(parity):
    parity.check("damaged/model.json", name="damaged", inputs=["inputs.npy"], expected=["expected.npy"],
                 checks=["predict"]).assert_passed()
"""


@pytest.fixture(scope="module")
def user_model_files(tmp_path_factory):
    """A Keras model, its tfjs conversion as the app ships it with Keras' outputs, and a copy of that conversion
    with one weight changed by 0.05 in its shard. Module-scoped so TensorFlow is imported outside pytester's
    sys.modules snapshot (unloading it would make the next import abort)."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import numpy as np
    import tensorflowjs
    import tf_keras as keras

    root = tmp_path_factory.mktemp("user-model-files")
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(root / "model.h5")
    tensorflowjs.converters.save_keras_model(model, str(root / "web" / "model"))
    inputs = np.random.default_rng(1).uniform(0, 1, (6, 5)).astype("float32")
    np.save(root / "inputs.npy", inputs)
    np.save(root / "expected.npy", model.predict(inputs, verbose=0))
    shutil.copytree(root / "web" / "model", root / "damaged")
    [shard] = (root / "damaged").glob("*.bin")
    weights = np.fromfile(shard, dtype="float32")
    weights[0] += 0.05
    weights.tofile(shard)
    return root


@pytest.fixture
def user_project(pytester, user_model_files):
    """A user's project: the model files, a conftest and a test file."""
    shutil.copytree(user_model_files, pytester.path, dirs_exist_ok=True)
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_my_models=USER_TESTS)
    return pytester


@pytest.mark.browser
def test_a_users_project_checks_its_own_models_and_a_damaged_one_fails(user_project, monkeypatch):
    """Under pytest -n 2, as a user's CI would run it, in an environment that has not seen TensorFlow's settings
    (this process set them): the report merges both workers' rows."""
    for variable in ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL",
                     "TFDF_DISABLE_WELCOME_MESSAGE"):
        monkeypatch.delenv(variable, raising=False)
    report_dir = user_project.path / "report"
    result = user_project.runpytest_subprocess("-n", "2", "--parity-backends", "cpu,wasm", "--parity-report",
                                               str(report_dir), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_a_damaged_copy_of_the_web_model*", "*[[]fail] damaged / predict / cpu*",
                                 "*Not equal to tolerance*"])
    report = json.loads((report_dir / "parity.json").read_text())
    rows = {(r["model"], r["check"], r["backend"]): r["status"] for r in report["results"]}
    assert rows[("model", "save-load[indexeddb]", "wasm")] == "pass"
    # model.h5 and web/model/model.json: "model" and "model-2" in one worker, "model" in each of two
    predicts = [r for r in report["results"] if r["check"] == "predict" and r["backend"] == "cpu"
                and r["model"] in ("model", "model-2")]
    assert len(predicts) == 2 and {r["status"] for r in predicts} == {"pass"}
    assert rows[("damaged", "predict", "cpu")] == rows[("damaged", "predict", "wasm")] == "fail"
    damaged = next(r for r in report["results"] if (r["model"], r["check"]) == ("damaged", "predict"))
    assert (report_dir / damaged["details"]["evidence"]["trace"]).is_file()


def test_a_bad_argument_to_check_fails_the_test_naming_it(pytester):
    pytester.makepyfile(test_bad="""
def test_typo(parity):
    parity.check("model.h5", checks=["predcit"])
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # its own Playwright, not this process's
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity.check('model.h5'): checks: unknown predcit (did you mean 'predict'?); "
                                 "choose from*"])
