"""References that cannot tell right from wrong are refused; those that can tell little are run and marked weak."""

import numpy as np
import pytest

from harness.reference.degeneracy import (
    INFORMATIVE_FACTOR,
    LOOSEST_PREDICT_ATOL,
    LOOSEST_PREDICT_RTOL,
    REFUSE_FACTOR,
    DegenerateReferenceError,
    degeneracy_problems,
    judge_reference,
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


def spread_at(factor, base):
    """The spread that is exactly ``factor`` x the loosest tolerance at magnitude ``base + spread``."""
    return factor * (LOOSEST_PREDICT_ATOL + LOOSEST_PREDICT_RTOL * base) / (1 - factor * LOOSEST_PREDICT_RTOL)


def spread_of(factor, centre=1000.0):
    """A one-column batch from ``centre`` up, spreading exactly ``factor`` x the tolerance at its magnitude."""
    return (centre + np.linspace(0, spread_at(factor, centre), 8)).reshape(8, 1)


@pytest.mark.parametrize("factor, verdict", [(9, "refused"), (11, "weak"), (99, "weak"), (101, "informative")])
def test_each_side_of_each_boundary(factor, verdict):
    """Below 10x the tolerance refused, from 10x to 100x weak (run, marked), from 100x informative."""
    assert (REFUSE_FACTOR, INFORMATIVE_FACTOR) == (10, 100)
    output = spread_of(factor)
    if verdict == "refused":
        with pytest.raises(DegenerateReferenceError, match=rf"m/price: nearly constant across the batch .*: "
                                                            rf"{factor:g} x the tolerance"):
            judge_reference([output], ["price"], "m", advice="give --inputs")
        return
    weak = judge_reference([output], ["price"], "m")
    if verdict == "weak":
        assert len(weak) == 1 and f": {factor:g} x the tolerance" in weak[0], weak
    else:
        assert weak == []


@pytest.mark.parametrize("factor, verdict", [(9, "refused"), (11, "weak"), (99, "weak"), (101, "informative")])
def test_across_classes_has_the_same_boundaries(factor, verdict):
    batch = np.linspace(-0.5, 0.5, 8).reshape(8, 1)  # varies across the batch; the two columns differ by a step
    output = np.hstack([batch, batch + spread_at(factor, 0.5)])
    if verdict == "refused":
        with pytest.raises(DegenerateReferenceError, match=rf"across classes .*: {factor:g} x the tolerance"):
            judge_reference([output], ["out"], "m")
    else:
        assert len(judge_reference([output], ["out"], "m")) == (verdict == "weak")


def test_a_refusal_names_every_refused_output_and_the_advice():
    with pytest.raises(DegenerateReferenceError) as refused:
        judge_reference([np.ones((4, 3)), spread_of(50), np.zeros((1, 2))], ["a", "b", "c"], "m", advice="use X")
    message = str(refused.value)
    assert "m/a: nearly constant across the batch" in message and "m/c: batch of 1" in message
    assert "m/b" not in message and message.endswith("use X")
