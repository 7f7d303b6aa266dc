"""References that cannot tell right from wrong are refused."""

import numpy as np

from harness.reference.degeneracy import degeneracy_problems


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
