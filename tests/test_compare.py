"""The comparison engine: numpy's asymmetric rule, shape/dtype/non-finite checks, and messages."""

import numpy as np
import pytest

from harness.verdict.compare import compare_arrays, format_failure


@pytest.fixture
def expected():
    return np.random.default_rng(0).uniform(0.01, 1.0, size=(4, 10)).astype(np.float32)


def test_identical_arrays_pass_with_zero_error(expected):
    result = compare_arrays(expected.copy(), expected, atol=1e-6, rtol=1e-5)
    assert result.ok and result.max_abs_err == 0.0 and result.mismatched == 0
    assert result.elements == 40


def test_one_perturbed_element_fails_and_is_named(expected):
    actual = expected.copy()
    actual[2, 7] += 1e-3
    result = compare_arrays(actual, expected, atol=1e-6, rtol=1e-5)
    assert not result.ok
    assert result.mismatched == 1
    assert result.worst.index == (2, 7)
    assert result.worst.actual == pytest.approx(float(actual[2, 7]))
    assert result.worst.expected == pytest.approx(float(expected[2, 7]))
    message = format_failure(result, "mlp / output 0 / predict on webgl")
    assert "Mismatched elements: 1 / 40 (2.5%)" in message
    assert " [2, 7]: " in message and "(BROWSER)" in message and "(KERAS)" in message
    assert message.startswith("Not equal to tolerance rtol=1e-05, atol=1e-06\nmlp / output 0 / predict on webgl")


def test_rule_is_asymmetric_relative_to_the_reference():
    # |a - e| = 1.0; allowed = rtol * |e|: passes against e = 10, fails against e = 9 with a = 10.
    assert compare_arrays(np.float32([9.0]), np.float32([10.0]), atol=0.0, rtol=0.1).ok
    assert not compare_arrays(np.float32([10.0]), np.float32([9.0]), atol=0.0, rtol=0.1).ok


def test_error_exactly_at_the_allowance_passes():
    assert compare_arrays(np.float64([1.5]), np.float64([1.0]), atol=0.5, rtol=0.0).ok


def test_shape_mismatch_is_reported_before_values(expected):
    result = compare_arrays(expected[:3], expected, atol=1, rtol=1)
    assert not result.ok and "shape mismatch" in result.problem


def test_dtype_mismatch_is_reported(expected):
    result = compare_arrays(expected.astype(np.float64), expected, atol=1, rtol=1)
    assert not result.ok and "dtype mismatch: actual float64, expected float32" == result.problem


def test_nan_in_browser_output_fails_even_with_huge_tolerance(expected):
    actual = expected.copy()
    actual[1, 1] = np.nan
    result = compare_arrays(actual, expected, atol=1e9, rtol=1e9)
    assert not result.ok and "actual has non-finite values (1), first at [1, 1]" in result.problem


def test_relative_error_uses_the_reference_magnitude():
    result = compare_arrays(np.float32([2.0, 0.0]), np.float32([1.0, 0.0]), atol=10, rtol=0)
    assert result.ok and result.max_abs_err == 1.0 and result.max_rel_err == 1.0


def test_at_most_five_mismatches_are_listed(expected):
    result = compare_arrays(expected + 1.0, expected, atol=1e-6, rtol=0)
    assert result.mismatched == 40 and len(result.mismatches) == 5


def test_worst_ratio_is_error_over_allowance(expected):
    actual = expected.copy()
    actual[0, 0] += 1e-3
    result = compare_arrays(actual, expected, atol=1e-4, rtol=0)
    assert result.worst_ratio == pytest.approx(10.0, rel=1e-3)


def test_a_rows_tolerance_ratio_is_its_worst_comparisons_and_none_when_not_finite():
    from harness.verdict.compare import compare_exact, worst_ratio

    near = compare_arrays(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6]), atol=1e-6, rtol=0.0)
    far = compare_arrays(np.array([1.0]), np.array([1.5]), atol=0.1, rtol=0.0)
    assert worst_ratio([near]) == pytest.approx(1.0, rel=1e-3)
    assert worst_ratio([near, far]) == pytest.approx(5.0)
    assert worst_ratio([]) is None
    assert worst_ratio([compare_exact(np.array([1.0]), np.array([2.0]))]) is None
    assert worst_ratio([compare_arrays(np.zeros(2), np.zeros(3), atol=1.0, rtol=0.0)]) is None
