"""The parity checks themselves: every selected zoo model on every selected backend."""

import pytest

from harness.checks import CONVERSION_CHECKS, STORAGE_CHECKS, TRAINING_CHECKS
from harness.plugin import assert_passed

pytestmark = pytest.mark.browser
MODEL_TRAINING_CHECKS = [check for check in TRAINING_CHECKS if check != "core-api"]


def test_topology(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("topology", reference_model, parity_backend))


def test_predict(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("predict", reference_model, parity_backend))


@pytest.mark.parametrize("check", CONVERSION_CHECKS, ids=[c.replace("[", "-").rstrip("]") for c in CONVERSION_CHECKS])
def test_conversion(parity_session, reference_model, parity_backend, check):
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))


@pytest.mark.parametrize("check", MODEL_TRAINING_CHECKS)
def test_training(parity_session, reference_model, parity_backend, check):
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))


def test_core_api(parity_session, parity_references, parity_backend):
    if "mlp" not in parity_references:
        pytest.skip("the Core API recipe runs on the mlp model, which is not selected")
    assert_passed(parity_session.run_check("core-api", parity_references["mlp"], parity_backend))


@pytest.mark.parametrize("check", STORAGE_CHECKS, ids=[c.replace("[", "-").rstrip("]") for c in STORAGE_CHECKS])
def test_storage(parity_session, reference_model, parity_backend, check):
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))
