"""References that cannot tell right from wrong are refused."""

import numpy as np

from harness.reference.degeneracy import (
    INFORMATIVE_FACTOR,
    LOOSEST_PREDICT_ATOL,
    LOOSEST_PREDICT_RTOL,
    degeneracy_problems,
    min_spread,
)
from harness.verdict.tolerances import PREDICT_TOLERANCES


def test_tfjs_e2e_style_constant_softmax_is_refused():
    # What tfjs's own e2e suite compares for MobileNetV2 on random weights: 1000 outputs all 0.001.
    problems = degeneracy_problems(np.full((4, 1000), 0.001, dtype=np.float32), "mobilenet/out")
    assert any("across the batch" in p for p in problems)
    assert any("across classes" in p for p in problems)


def test_rows_identical_across_the_batch_are_refused():
    row = np.random.default_rng(0).uniform(size=(1, 10))
    problems = degeneracy_problems(np.repeat(row, 8, axis=0), "m/out")
    assert len(problems) == 1 and "across the batch" in problems[0]


def test_varying_outputs_are_accepted():
    assert degeneracy_problems(np.random.default_rng(0).uniform(size=(8, 10)), "m/out") == []


def test_single_column_regression_only_needs_to_vary_across_the_batch():
    assert degeneracy_problems(np.linspace(-3, 3, 8).reshape(8, 1), "m/score") == []


def test_batch_of_one_is_refused():
    assert degeneracy_problems(np.ones((1, 3)), "m/out")


def test_the_rule_follows_the_loosest_predict_tolerance():
    assert LOOSEST_PREDICT_ATOL == max(t.atol for t in PREDICT_TOLERANCES.values())
    assert LOOSEST_PREDICT_RTOL == max(t.rtol for t in PREDICT_TOLERANCES.values())
    assert min_spread(2.0) == INFORMATIVE_FACTOR * (1e-5 + 1e-4 * 2.0)


def test_a_spread_too_small_for_the_tolerance_to_see_is_refused():
    # Outputs near 1000 that vary by 5: a constant answer of 1000 would be off by at most 5, only 50x the
    # tolerance there (1e-5 + 1e-4 x 1000 = 0.1): refused. Varying by 20 (200x): accepted.
    narrow = 1000 + np.linspace(0, 5, 8).reshape(8, 1)
    assert "spread 5 < 10" in degeneracy_problems(narrow, "m/price")[0]
    assert degeneracy_problems(1000 + np.linspace(0, 20, 8).reshape(8, 1), "m/price") == []
