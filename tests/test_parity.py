"""The parity checks themselves: every selected zoo model on every selected backend."""

import pytest

from harness.checks import CONVERSION_CHECKS, STORAGE_CHECKS, TRAINING_CHECKS, check_applies, recorded_reason
from harness.plugin import assert_passed

pytestmark = pytest.mark.browser
# core-api runs on the mlp only, fine-tune-worker on the transfer-learning model only: each has its own test.
MODEL_TRAINING_CHECKS = [check for check in TRAINING_CHECKS if check not in ("core-api", "fine-tune-worker")]


def test_topology(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("topology", reference_model, parity_backend))


def test_predict(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("predict", reference_model, parity_backend))


@pytest.mark.parametrize("check", CONVERSION_CHECKS, ids=[c.replace("[", "-").rstrip("]") for c in CONVERSION_CHECKS])
def test_conversion(parity_session, reference_model, parity_backend, check):
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))


@pytest.mark.parametrize("check", MODEL_TRAINING_CHECKS)
def test_training(parity_session, reference_model, parity_backend, check):
    reason = recorded_reason(check, reference_model)
    if reason:
        pytest.fail(f"the zoo's reference of {reference_model.name} has no Keras run for {check}: {reason}")
    if not check_applies(check, reference_model):
        pytest.skip(f"{reference_model.name} trains only its head (see fine-tune-worker): "
                    f"no Keras reference for {check}")
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))


def test_core_api(parity_session, parity_references, parity_backend):
    if "mlp" not in parity_references:
        pytest.skip("the Core API recipe runs on the mlp model, which is not selected")
    assert_passed(parity_session.run_check("core-api", parity_references["mlp"], parity_backend))


def test_fine_tune_worker(parity_session, parity_references, parity_backend):
    if "mobilenet_v2" not in parity_references:
        pytest.skip("fine-tuning runs on the mobilenet_v2 model, which is not selected")
    assert_passed(parity_session.run_check("fine-tune-worker", parity_references["mobilenet_v2"], parity_backend))


@pytest.mark.parametrize("check", STORAGE_CHECKS, ids=[c.replace("[", "-").rstrip("]") for c in STORAGE_CHECKS])
def test_storage(parity_session, reference_model, parity_backend, check):
    assert_passed(parity_session.run_check(check, reference_model, parity_backend))


def test_memory(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("memory", reference_model, parity_backend))
