"""Each browser check must be able to fail, and bad input must be an error that names the file."""

import re

import pytest
from playwright.sync_api import Error as PlaywrightError

from conftest import predict_with_a_perturbed_weight
from harness.browser.page import PageOperation
from harness.checks.inference import check_predict

pytestmark = pytest.mark.browser


def test_predict_fails_on_a_weight_perturbed_by_1e_3(parity_session, parity_references, parity_backend):
    result = predict_with_a_perturbed_weight(parity_session, parity_references["mlp"], parity_backend)
    assert result.status == "fail", result.message
    # Output column 3 moves in every row; the report names the worst element and both values.
    assert result.details["worst"]["index"][1] == 3
    assert "Mismatch at index:" in result.message
    assert re.search(r"\[\d+, 3\]: [\d.e-]+ \(BROWSER\), [\d.e-]+ \(KERAS\)", result.message)
    assert result.max_abs_err > result.atol


def test_topology_fails_on_a_different_model(parity_session, parity_references):
    mlp, cnn = parity_references["mlp"], parity_references["cnn"]

    def topology_of_cnn_against_mlp(context):
        from harness.checks.context import CheckContext
        from harness.checks.inference import check_topology

        other = CheckContext(context.check, context.backend, context.page, mlp, parity_session.model_url(cnn))
        return check_topology(other)

    result = parity_session.run_check("topology", mlp, "cpu", topology_of_cnn_against_mlp)
    assert result.status == "fail"
    assert "missing in browser: dense_1/kernel" in result.message
    assert "parameter count: browser 13642, keras 25450" in result.message


def test_missing_weight_shard_is_an_error_naming_the_file(parity_session, parity_references, make_damaged_reference):
    broken = make_damaged_reference(parity_references["mlp"], lambda d: (d / "group1-shard1of1.bin").unlink())
    result = parity_session.run_check("predict", broken, "cpu")
    assert result.status == "error"
    assert str(broken.directory / "group1-shard1of1.bin") in result.message
    assert "404" in result.message
    assert parity_session.run_check("predict", parity_references["mlp"], "cpu").status == "pass"


def test_malformed_model_json_is_an_error_naming_the_file(parity_session, parity_references,
                                                        make_damaged_reference):
    broken = make_damaged_reference(parity_references["mlp"], lambda d: (d / "model.json").write_text('{"format": '))
    result = parity_session.run_check("topology", broken, "wasm")
    assert result.status == "error"
    assert str(broken.directory / "model.json") in result.message
    assert parity_session.run_check("topology", parity_references["mlp"], "wasm").status == "pass"


def test_crashed_page_is_an_error_and_the_run_goes_on(parity_session, parity_references):
    reference = parity_references["mlp"]

    def crash_then_predict(context):
        with pytest.raises(PlaywrightError):
            context.page.page.goto("chrome://crash", timeout=10_000)
        return check_predict(context)

    result = parity_session.run_check("predict", reference, "cpu", crash_then_predict)
    assert result.status == "error"
    assert "crashed" in result.message and "fresh page" in result.message
    assert parity_session.run_check("predict", reference, "cpu").status == "pass"


def test_hung_page_times_out_and_the_run_goes_on(parity_session, parity_references):
    reference = parity_references["mlp"]

    def hang(context):
        context.page.page.evaluate("setTimeout(() => { for (;;) {} }, 0)")
        context.page.call(PageOperation.INFO, timeout_s=2.0)
        raise AssertionError("the hung page answered")

    result = parity_session.run_check("predict", reference, "wasm", hang)
    assert result.status == "error"
    assert "did not finish within 2 s" in result.message
    assert parity_session.run_check("predict", reference, "wasm").status == "pass"
