"""A model's cost decides a run's estimate and each check's time limit (``run.cost``): guessed from what a sample cost
Keras, then measured by the backend's ``predict``. A slow model is given the time its calls need; a fast one keeps
``--timeout``, so a hang is still caught."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.browser.page import PageOperation
from harness.checks.cost import TRAINING_STEP_CALLS, Calls, check_calls, predict_calls
from harness.reference.directory import load_reference, write_manifest
from harness.results import CheckResult
from harness.run.cost import LIMIT_MARGIN, ModelCosts, estimate_lines
from harness.run.session import ParitySession


def reference_in(directory, sample_ms=0.05, batch=8, training=None):
    """A reference directory with a manifest (and ``training.json`` when given), and its ``ReferenceModel``."""
    write_manifest(directory, {
        "name": "slow", "model_json": "model.json", "param_count": 1000, "weights": [],
        "inputs": [{"name": "x", "file": "input_0.npy", "shape": [batch, 4], "dtype": "float32"}],
        "outputs": [{"name": "y", "file": "output_0.npy", "shape": [batch, 2], "dtype": "float32"}],
        **({"keras_sample_ms": sample_ms} if sample_ms is not None else {}),
    })
    if training is not None:
        (directory / "training.json").write_text(json.dumps(training))
    return load_reference(directory)


TRAINING = {"epochs": 3, "batch_size": 32, "validation_split": 0.25,
            "train": {"inputs": [{"shape": [200, 4]}]}, "heldout": {"inputs": [{"shape": [64, 4]}]},
            "runs": {"fit": {}, "evaluate": {}, "early-stopping": {"stopped_epoch": 4, "max_epochs": 12}}}


def predict_row(call_ms, model="slow", backend="cpu"):
    return CheckResult(model=model, backend=backend, check="predict", status="pass",
                       details={"first_ms": call_ms * 3, "median_ms": call_ms, "calls": 2})


def test_predict_makes_two_calls_when_one_is_slow_and_five_when_they_are_fast():
    assert predict_calls(20.0) == 2
    assert predict_calls(0.001) == 5


def test_a_checks_calls_follow_the_training_run_keras_recorded(tmp_path):
    reference = reference_in(tmp_path, training=TRAINING)
    fit = Calls(1, 3 * 200 / 8 * TRAINING_STEP_CALLS)  # the outputs after training, and 3 epochs of 200 samples
    assert check_calls("fit", reference, 1.0) == fit
    assert check_calls("early-stopping", reference, 1.0) == Calls(1, 5 * 200 / 8 * TRAINING_STEP_CALLS)
    assert check_calls("validation-split", reference, 1.0) == Calls(3 * 50 / 8, 3 * 150 / 8 * TRAINING_STEP_CALLS)
    assert check_calls("evaluate", reference, 1.0) == Calls(64 / 8)
    assert check_calls("topology", reference, 1.0) == Calls()
    # The converted model's answer before saving is the page's, computed once; the trained model is called twice.
    assert check_calls("save-load[http]", reference, 1.0) == Calls(3) + fit
    assert check_calls("save-load[http]", reference, 1.0, trained_kept=True) == Calls(3)


def test_the_guess_comes_from_keras_and_predict_replaces_it(tmp_path):
    reference, costs = reference_in(tmp_path), ModelCosts()
    guessed, measured = costs.call_s(reference, "cpu")
    assert not measured and guessed > 0
    costs.learn(predict_row(4000.0), reference)
    assert costs.call_s(reference, "cpu") == (4.0, True)
    assert costs.call_s(reference, "wasm")[1] is False  # another backend keeps its guess


def test_training_that_costs_more_than_its_calls_say_raises_the_other_training_checks_limits(tmp_path):
    reference, costs = reference_in(tmp_path, training=TRAINING), ModelCosts()
    costs.learn(predict_row(100.0), reference)  # fit: 226 calls' worth, 23 s by predict's measure
    before = costs.time_limit("early-stopping", reference, "cpu", 120)
    costs.learn(CheckResult(model="slow", backend="cpu", check="fit", status="pass", seconds=300.0), reference)
    after = costs.time_limit("early-stopping", reference, "cpu", 120)
    assert before.seconds == 120 and after.seconds > 3 * 300 * 5 / 3 * 0.9, after  # 5 epochs where fit ran 3
    assert "training at" in after.reason
    assert costs.time_limit("predict", reference, "cpu", 120).seconds == 120  # plain calls keep predict's measure


def test_without_a_keras_figure_nothing_is_guessed_and_the_limit_is_the_timeout(tmp_path):
    reference, costs = reference_in(tmp_path, sample_ms=None), ModelCosts()
    assert costs.call_s(reference, "cpu") is None
    assert costs.time_limit("predict", reference, "cpu", 120).seconds == 120
    assert costs.estimate([(reference, "cpu", ["predict"])]) == {"slow": {"cpu": None}}


def test_a_fast_model_keeps_the_timeout_and_a_slow_one_gets_its_calls_time(tmp_path):
    reference, costs = reference_in(tmp_path, training=TRAINING), ModelCosts()
    costs.learn(predict_row(5.0), reference)
    assert costs.time_limit("fit", reference, "cpu", 120).reason == "--timeout 120 s"
    costs.learn(predict_row(20_000.0), reference)  # 20 s a call: fit is 226 calls
    limit = costs.time_limit("fit", reference, "cpu", 120)
    assert limit.seconds >= LIMIT_MARGIN * 226 * 20
    assert "measured by predict" in limit.reason and "--timeout 120 s" in limit.reason


def test_the_estimate_names_each_model_and_its_slowest_backend_first(tmp_path):
    reference, costs = reference_in(tmp_path, training=TRAINING), ModelCosts()
    costs.learn(predict_row(10_000.0), reference)
    estimate = costs.estimate([(reference, backend, ["predict", "fit"]) for backend in ("cpu", "wasm")])
    assert estimate["slow"]["cpu"] > estimate["slow"]["wasm"]
    line, = estimate_lines(estimate)
    assert line.startswith("slow: about ") and line.index("cpu") < line.index("wasm"), line


BUSY_SCRIPT = "const started = Date.now(); while (Date.now() - started < 8000) {}\n"


def slow_page_call_with_and_without_a_measured_cost(reference, script):
    """A check whose page call takes 8 s, with ``--timeout`` 2 s: first with the model's guessed cost (a call of a few
    milliseconds: the check's limit is its overhead's), then after ``predict`` measured a call of 10 s for it."""
    def busy(context):
        context.page.call(PageOperation.ADD_SCRIPT, session.file_url(script.parent, script.name))
        return context.result(status="pass", details={"limit": context.page.timeout_s})

    with ParitySession(timeout_s=60) as session:
        session.page("cpu")  # loaded within 60 s; the checks get 2 s
        session.timeout_s = 2
        unknown = session.run_check("busy", reference, "cpu", busy)
        session.costs.learn(predict_row(10_000.0, model=reference.name), reference)
        known = session.run_check("busy", reference, "cpu", busy)
        return unknown, known, session.page("cpu").timeout_s


@pytest.mark.browser
def test_a_page_call_longer_than_the_timeout_passes_once_the_model_is_known_to_be_that_slow(tmp_path,
                                                                                         parity_references):
    script = tmp_path / "busy.js"
    script.write_text(BUSY_SCRIPT)
    reference = parity_references["mlp"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        unknown, known, after = pool.submit(slow_page_call_with_and_without_a_measured_cost, reference, script).result()
    assert unknown.status == "error", unknown.message
    assert "did not finish within" in unknown.message and "the check's limit: " in unknown.message, unknown.message
    assert known.status == "pass", known.message
    assert known.details["limit"] > 8 and known.details["time_limit_s"] == known.details["limit"]
    assert after == 2  # the page's limit is the timeout again between checks
