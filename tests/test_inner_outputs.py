"""Inner outputs: ``predict`` compares mobilenet_v2's pooled ``features`` with Keras' too, each channel within its
own float32 rounding, and so catches a wrong weight its 4-class head hides below the tolerance."""

import json

import numpy as np
import pytest

from harness.browser.page import PageOperation
from harness.checks.inference import compare_predictions
from harness.reference.artifacts import float32_weights, read_model_json
from harness.verdict.compare import Tolerance, compare_within, format_failure
from harness.verdict.tolerances import inner_output_tolerance, predict_tolerance


def test_a_channels_allowance_is_its_own():
    expected = np.zeros((2, 3), dtype=np.float32)
    actual = expected + np.array([1e-3, 1e-5, 1e-5], dtype=np.float32)
    loose_first = Tolerance(atol=0.0, rtol=0.0, reason="test", channel_atol=(2e-3, 1e-6, 1e-4))
    comparison = compare_within(actual, expected, loose_first)
    assert not comparison.ok and comparison.mismatched == 2  # channel 1 only, in both rows
    assert {m.index[1] for m in comparison.mismatches} == {1}
    assert "atol=0 + per channel up to 0.002" in format_failure(comparison, "title")
    wrong = Tolerance(atol=0.0, rtol=0.0, reason="test", channel_atol=(1.0, 1.0))
    assert "2 channel tolerances for an array of shape (2, 3)" in compare_within(actual, expected, wrong).problem


def test_a_quiet_channel_is_allowed_the_median_channels_rounding():
    rounding = np.array([1e-9, 1e-6, 2e-6, 3e-6], dtype=np.float32)
    tolerance = inner_output_tolerance("cpu", rounding)
    margin = 4.0
    assert tolerance.channel_atol[0] == pytest.approx(margin * float(np.median(rounding)))
    assert tolerance.channel_atol[3] == pytest.approx(margin * 3e-6)
    assert tolerance.atol == predict_tolerance("cpu").atol
    assert inner_output_tolerance("webgl:f16", rounding).channel_atol[3] == pytest.approx(margin * 3e-6 * 8192)


@pytest.mark.browser
def test_predict_catches_a_feature_change_the_head_hides(parity_session, parity_references):
    """Conv_1_bn's gamma changed by 3e-4 relative in the strongest feature's channel: the softmax head moves less
    than its tolerance, the features row fails and names the inner output."""
    reference = parity_references["mobilenet_v2"]
    assert [entry.name for entry in reference.inner_outputs] == ["features"]
    unchanged = parity_session.run_check("predict", reference, "cpu")
    assert unchanged.status == "pass", unchanged.message
    assert unchanged.details["inner_outputs"][0]["worst_ratio"] < 1

    channel = int(np.argmax(reference.load_inner_outputs()[0].mean(axis=0)))
    model_json = reference.directory / reference.model_json
    gamma = dict(float32_weights(model_json, read_model_json(model_json)))["Conv_1_bn/gamma"][channel]

    def predict_with_a_changed_gamma(context):
        model_id = context.page.call(PageOperation.LOAD, context.model_url)
        context.page.call(PageOperation.PERTURB_WEIGHT, model_id, "Conv_1_bn/gamma", channel, 3e-4 * float(gamma))
        return compare_predictions(context, model_id)

    result = parity_session.run_check("predict", reference, "cpu", predict_with_a_changed_gamma)
    assert result.status == "fail"
    assert result.details["outputs"][0]["worst_ratio"] < 1  # the head alone would have passed
    assert result.details["inner_outputs"][0]["worst_ratio"] > 1 and result.tolerance_ratio > 1
    assert "mobilenet_v2 / inner output features (layer) / predict on cpu" in result.message
    assert result.details["inner_outputs"][0]["worst"]["index"][1] == channel
    # Each layer is judged with its own rounding: the diagnosis finds the changed layer, not a noisy one before it.
    assert result.details["first_failing_layer"]["layer"] == "Conv_1_bn", result.message


def test_the_pytest_api_takes_inner_outputs_as_a_list_of_layer_names():
    from harness.errors import UsageError
    from harness.run.model_check import model_options

    assert model_options(("cpu",), ("predict",), inner_outputs=["features"]).inner_outputs == ("features",)
    with pytest.raises(UsageError, match="inner_outputs: a list of layer names, not the string 'features'"):
        model_options(("cpu",), ("predict",), inner_outputs="features")


@pytest.mark.browser
def test_disposing_a_view_keeps_its_models_weights(parity_session, parity_references):
    """The page's inner-output view shares its model's weights: disposing the view only forgets it, disposing the
    model forgets its views too."""
    from harness.browser.page import BrowserError, PageOperation
    from harness.browser.tensors import encode_tensor

    reference = parity_references["mlp"]
    page = parity_session.page("cpu")
    model_id = page.call(PageOperation.LOAD, parity_session.model_url(reference))
    layer = page.call(PageOperation.TOPOLOGY, model_id)["weights"][0]["name"].split("/")[0]
    inputs = [encode_tensor(x) for x in reference.load_inputs()]
    view = page.call(PageOperation.WITH_INNER_OUTPUTS, model_id, [layer])
    assert len(page.call(PageOperation.PREDICT, view, inputs, 1)["outputs"]) == 2
    page.call(PageOperation.DISPOSE, view)
    assert len(page.call(PageOperation.PREDICT, model_id, inputs, 1)["outputs"]) == 1  # the weights are still there
    view = page.call(PageOperation.WITH_INNER_OUTPUTS, model_id, [layer])
    page.call(PageOperation.DISPOSE, model_id)
    with pytest.raises(BrowserError, match=f"no loaded model with id {view}"):
        page.call(PageOperation.PREDICT, view, inputs, 1)


@pytest.mark.browser
def test_inner_outputs_of_a_model_that_is_not_keras_are_refused_naming_the_option(parity_references, tmp_path):
    from conftest import run_cli
    from harness import cli

    directory = parity_references["mlp"].directory  # a converted tfjs layers model, with its arrays
    status = run_cli(["check", str(directory), "--inputs", str(directory / "input_0.npy"), "--expected",
                      str(directory / "output_0.npy"), "--inner-output", "dense", "--backends", "cpu", "--checks",
                      "predict", "--out", str(tmp_path), "-q"])
    assert status == cli.EXIT_USAGE
    rows = [json.loads(line) for line in (tmp_path / "parity.journal.jsonl").read_text().splitlines()]
    messages = [row.get("message", "") for row in rows if row.get("status") == "error"]
    assert any("--inner-output dense: " in m and "is a tfjs-layers model; inner outputs are compared on Keras "
               "models" in m for m in messages), rows
