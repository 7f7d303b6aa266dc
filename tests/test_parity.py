"""The parity checks themselves: every selected zoo model on every selected backend."""

import pytest

from harness.plugin import assert_passed

pytestmark = pytest.mark.browser


def test_topology(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("topology", reference_model, parity_backend))


def test_predict(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("predict", reference_model, parity_backend))
