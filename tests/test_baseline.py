"""Regressions against a baseline report: what counts, and what does not."""

from harness.report.baseline import RegressionRules, compare_with_baseline
from harness.results import CheckResult


def row(check="predict", status="pass", error=1e-7, median_ms=10.0, backend="cpu"):
    return CheckResult("mlp", backend, check, status, max_abs_err=error, details={"median_ms": median_ms})


def compare(before, after, rules=None):
    return compare_with_baseline([r.to_dict() for r in before], after, rules or RegressionRules())


def test_pass_to_fail_or_error_is_a_regression_and_fail_to_pass_an_improvement():
    found = compare([row(), row("fit"), row("evaluate", status="fail")],
                    [row(status="fail"), row("fit", status="error"), row("evaluate")])
    assert [(c["check"], c["summary"]) for c in found["regressions"]] == [("predict", "pass -> fail"),
                                                                          ("fit", "pass -> error")]
    assert [(c["check"], c["summary"]) for c in found["improvements"]] == [("evaluate", "fail -> pass")]


def test_error_growth_counts_beyond_the_factor_and_above_the_floor():
    rules = RegressionRules(error_factor=2.0, error_floor=1e-6)
    assert compare([row(error=1e-6)], [row(error=2.5e-6)], rules)["regressions"][0]["kind"] == "error"
    assert compare([row(error=1e-6)], [row(error=1.9e-6)], rules)["regressions"] == []
    assert compare([row(error=1e-8)], [row(error=9e-7)], rules)["regressions"] == []  # below the floor: noise
    assert compare([row(error=4e-6)], [row(error=1e-6)], rules)["improvements"][0]["kind"] == "error"


def test_latency_growth_counts_beyond_the_percentage_and_the_absolute_floor():
    rules = RegressionRules(latency_percent=50.0, latency_floor_ms=5.0)
    found = compare([row(median_ms=10.0)], [row(median_ms=16.0)], rules)["regressions"]
    assert found[0]["kind"] == "latency" and "+60%" in found[0]["summary"]
    assert compare([row(median_ms=10.0)], [row(median_ms=14.0)], rules)["regressions"] == []
    assert compare([row(median_ms=1.2)], [row(median_ms=5.9)], rules)["regressions"] == []  # timer granularity


def test_known_upstream_bugs_and_unmatched_rows_are_not_judged():
    found = compare([row(status="xfail", error=1e-7), row("gone-check")], [row(status="xfail", error=1.0),
                                                                         row("new-check")])
    assert found["regressions"] == found["improvements"] == []
    assert found["added"] == [["mlp", "cpu", "new-check"]] and found["gone"] == [["mlp", "cpu", "gone-check"]]
