"""``run --power``: faults planted into each converted model on the page show what ``predict`` can catch with
its reference inputs and tolerance, in every report format; a model whose check misses one gets a warning."""

import json

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.browser.page import PageOperation
from harness.browser.tensors import decode_tensor, encode_tensor
from harness.reference.artifacts import float32_weights, read_model_json
from harness.reference.directory import tfjs_weight_name
from harness.run.power import measure_power, most_visible, planted_faults
from harness.verdict.tolerances import model_predict_tolerance
from harness.verdict.compare import compare_exact, compare_within

pytestmark = pytest.mark.browser


def test_power_reports_each_planted_fault_in_every_format(tmp_path):
    status = run_cli(["run", "--models", "mlp,binary", "--backends", "cpu", "--checks", "predict", "--power",
                      "--out", str(tmp_path), "-q"])
    assert status == cli.EXIT_PASS
    power = json.loads((tmp_path / "parity.json").read_text())["power"]
    assert power["backend"] == "cpu" and set(power["models"]) == {"mlp", "binary"}
    for figures in power["models"].values():
        labels = [f["fault"] for f in figures["faults"]]
        assert "every weight rounded to float16" in labels and any("dropped" in label for label in labels), labels
        assert figures["caught"] + len(figures["missed"]) == figures["planted"] == len(labels)
        assert (figures["warning"] is None) == (figures["missed"] == []), figures
        assert figures["smallest_flagged_change"]["relative"] > 0
        assert figures["missed"] == []  # the zoo's mlp and binary models catch every planted fault
    for name in ("parity.md", "parity.html"):
        text = (tmp_path / name).read_text()
        assert "Detection power" in text and "binary: " in text and "planted faults caught" in text


def test_a_planted_fault_is_undone_and_no_fault_is_not_caught(parity_session, parity_references):
    """The measurement can tell: the model as loaded predicts the same bits after every plant, and a change of
    zero is never 'caught'."""
    reference = parity_references["cnn"]
    page = parity_session.page("cpu")
    model_id = page.model(parity_session.model_url(reference))
    inputs = [encode_tensor(x) for x in reference.load_inputs()]
    before = page.call(PageOperation.PREDICT, model_id, inputs, 1)["outputs"]
    tolerance = model_predict_tolerance("cpu", reference.float32_rounding)
    visible = most_visible(page, model_id, reference, inputs, [(e, tolerance) for e in reference.load_outputs()])
    assert all(variable.endswith(("kernel", "gamma")) for variable in visible)  # one weight per layer
    # the weights were unfrozen, then not
    after_gradients = page.call(PageOperation.PREDICT, model_id, inputs, 1)["outputs"]
    for fault in planted_faults(reference, visible):
        page.call(PageOperation.PLANT, model_id, inputs, fault.request)
    after = page.call(PageOperation.PREDICT, model_id, inputs, 1)["outputs"]
    for outputs in (after_gradients, after):
        assert all(compare_exact(decode_tensor(a), decode_tensor(b)).ok for a, b in zip(outputs, before))
    figures = measure_power(page, reference, parity_session.model_url(reference))
    assert figures["faults"][0]["ratio"] > 1  # a 1e-3 change of the first layer's most visible weight shows on cnn
    zero = {**planted_faults(reference, visible)[0].request, "relative": 0.0}
    unchanged = page.call(PageOperation.PLANT, model_id, inputs, zero)
    assert all(compare_exact(decode_tensor(a), decode_tensor(b)).ok for a, b in zip(unchanged, before))


def test_a_recurrent_layers_activation_is_really_swapped(parity_session, parity_references):
    """An LSTM's activation lives in its cell: a swap that missed it would pass as 'not caught'."""
    reference = parity_references["rnn"]
    figures = measure_power(parity_session.page("cpu"), reference, parity_session.model_url(reference))
    swapped = next(f for f in figures["faults"] if f["fault"].startswith("activation of lstm"))
    assert swapped["ratio"] > 1, figures["faults"]


def test_the_planted_weight_change_is_where_it_shows_most(parity_session, parity_references):
    """On the rnn, a 1e-3 change of the LSTM kernel's largest-magnitude element stays within tolerance, while the
    same change of the element ``most_visible`` picks is caught: without the gradients, the layer would be
    reported blind when it is not."""
    reference = parity_references["rnn"]
    page = parity_session.page("cpu")
    model_id = page.model(parity_session.model_url(reference))
    tolerance = model_predict_tolerance("cpu", reference.float32_rounding)
    inputs = [encode_tensor(x) for x in reference.load_inputs()]
    expected = reference.load_outputs()
    visible = most_visible(page, model_id, reference, inputs, [(e, tolerance) for e in expected])["lstm/kernel"]
    model_json = reference.directory / reference.model_json
    weights = {tfjs_weight_name(name): values for name, values in float32_weights(model_json,
                                                                                  read_model_json(model_json))}
    largest = int(np.argmax(np.abs(weights["lstm/kernel"])))
    assert visible != largest

    def ratio(index: int) -> float:
        request = {"kind": "scale", "weight": "lstm/kernel", "index": index, "relative": 1e-3}
        outputs = [decode_tensor(o) for o in page.call(PageOperation.PLANT, model_id, inputs, request)]
        return max(compare_within(a, e, tolerance).worst_ratio for a, e in zip(outputs, expected))

    assert ratio(largest) < 1 < ratio(visible)
