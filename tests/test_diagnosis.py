"""First-failing-layer diagnosis: an error planted in one layer is traced to that layer."""

import pytest

from harness.browser.page import PageOperation
from harness.checks.inference import compare_predictions

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("model", "weight", "layer", "before"), [
    ("cnn", "batch_normalization/gamma", "batch_normalization", "max_pooling2d"),
    ("functional", "dense_2/kernel", "dense_2", "concatenate"),
])
def test_a_perturbed_weight_is_traced_to_its_layer(parity_session, parity_references, parity_backend, model, weight,
                                                   layer, before):
    def predict_with_a_planted_error(context):
        model_id = context.page.call(PageOperation.LOAD, context.model_url)
        context.page.call(PageOperation.PERTURB_WEIGHT, model_id, weight, 0, 1e-2)
        return compare_predictions(context, model_id)

    result = parity_session.run_check("predict", parity_references[model], parity_backend,
                                      predict_with_a_planted_error)
    assert result.status == "fail", result.message
    diagnosis = result.details["first_failing_layer"]
    assert diagnosis["layer"] == layer, diagnosis
    assert diagnosis["previous"]["layer"] == before
    assert diagnosis["max_abs_err"] > result.atol > diagnosis["previous"]["max_abs_err"]
    assert f"First layer out of tolerance: {layer} (max abs error" in result.message
    assert f"the layer before it, {before}, was within" in result.message


def test_a_passing_predict_has_no_diagnosis(parity_session, parity_references):
    result = parity_session.run_check("predict", parity_references["cnn"], "cpu")
    assert result.status == "pass" and "first_failing_layer" not in result.details
