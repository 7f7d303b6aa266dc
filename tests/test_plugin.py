"""The pytest plugin from the outside: options, readable ids, and merged reports under pytest -n 2."""

import json

import pytest

TEST_FILE = """
from harness.plugin import assert_passed

def test_predict(parity_session, reference_model, parity_backend):
    assert_passed(parity_session.run_check("predict", reference_model, parity_backend))

def test_backend_only(parity_backend):
    assert parity_backend
"""


def test_ids_are_model_dash_backend(pytester):
    pytester.makepyfile(test_ids=TEST_FILE)
    result = pytester.runpytest("--collect-only", "-q", "--models", "mlp,cnn", "--backends", "cpu,wasm")
    result.stdout.fnmatch_lines([
        "test_ids.py::test_predict[mlp-cpu]", "test_ids.py::test_predict[mlp-wasm]",
        "test_ids.py::test_predict[cnn-cpu]", "test_ids.py::test_predict[cnn-wasm]",
        "test_ids.py::test_backend_only[cpu]", "test_ids.py::test_backend_only[wasm]",
    ])


def test_unknown_backend_is_a_usage_error(pytester):
    pytester.makepyfile(test_ids=TEST_FILE)
    result = pytester.runpytest("--collect-only", "--backends", "metal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'metal' (known: cpu, webgl, wasm*"])


@pytest.mark.browser
def test_xdist_workers_reports_are_merged(pytester, tmp_path):
    pytester.makepyfile(test_merge=TEST_FILE)
    report_dir = tmp_path / "report"
    result = pytester.runpytest_subprocess(
        "-n", "2", "--models", "mlp,cnn", "--backends", "cpu,wasm", "--parity-report", str(report_dir),
        "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=6)
    report = json.loads((report_dir / "parity.json").read_text())
    pairs = {(r["model"], r["backend"]) for r in report["results"]}
    assert pairs == {("mlp", "cpu"), ("mlp", "wasm"), ("cnn", "cpu"), ("cnn", "wasm")}
    assert report["summary"]["pass"] == 4
    assert (report_dir / "parity.md").is_file()
