"""``run --repeat N``: the selection runs N times; the report names every row whose status or error changed
between the runs, and each backend's largest error spread. A planted flaky check is caught."""

import dataclasses
import itertools
import json

import pytest

from conftest import run_cli
from harness import cli, checks
from harness.checks.inference import check_predict

pytestmark = pytest.mark.browser
SELECTION = ["run", "--models", "mlp,binary", "--backends", "cpu,wasm", "--checks", "predict,topology", "-q"]


def test_a_repeated_run_of_steady_checks_reports_no_change(tmp_path):
    assert run_cli([*SELECTION, "--repeat", "3", "--out", str(tmp_path)]) == cli.EXIT_PASS
    report = json.loads((tmp_path / "parity.json").read_text())
    repeats = report["repeats"]
    assert repeats["count"] == 3 and repeats["runs_measured"] == 3
    assert repeats["status_changed"] == [] and repeats["error_changed"] == []
    assert set(repeats["largest_spread"]) == {"cpu", "wasm"}
    assert len(report["results"]) == 8  # the first run's rows: 2 models x 2 backends x 2 checks
    assert "run 3 times: 0 row(s) changed status, 0 changed error only" in (tmp_path / "parity.md").read_text()


def test_a_check_that_fails_once_in_three_runs_is_named_as_changed(tmp_path, monkeypatch):
    calls = itertools.count()

    def flaky_predict(context):
        result = check_predict(context)
        if context.reference.name == "mlp" and context.backend == "cpu" and next(calls) == 1:
            result.status, result.message = "fail", "planted: the second run fails"
        return result

    monkeypatch.setitem(checks.CHECKS, "predict", dataclasses.replace(checks.CHECKS["predict"], run=flaky_predict))
    assert run_cli([*SELECTION, "--repeat", "3", "--parallel", "1", "--out", str(tmp_path)]) == cli.EXIT_FAIL
    repeats = json.loads((tmp_path / "parity.json").read_text())["repeats"]
    assert [(e["model"], e["backend"], e["check"], e["statuses"]) for e in repeats["status_changed"]] == [
        ("mlp", "cpu", "predict", ["pass", "fail", "pass"])]
    html = (tmp_path / "parity.html").read_text()
    assert "1 row(s) changed status" in html and "pass fail pass" in html


def test_repeat_is_at_least_one_and_cannot_be_resumed(tmp_path, capsys):
    assert run_cli([*SELECTION, "--repeat", "0"]) == cli.EXIT_USAGE
    assert run_cli([*SELECTION, "--repeat", "2", "--resume", str(tmp_path)]) == cli.EXIT_USAGE
    assert "a repeated run cannot be resumed" in capsys.readouterr().err
