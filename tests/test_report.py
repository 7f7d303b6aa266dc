"""Reports: atomic writes, the required keys, Markdown rendered from JSON, merged worker parts."""

import json

from harness.report import merge_parts, render_matrix, write_atomically, write_part, write_report
from harness.results import CheckResult

REQUIRED_KEYS = {"model", "backend", "check", "status", "max_abs_err", "max_rel_err", "atol", "rtol", "message"}


def row(model, backend, check="predict", status="pass", err=1e-7):
    return CheckResult(model, backend, check, status, max_abs_err=err, max_rel_err=err, atol=2e-6, rtol=1e-5,
                       details={"first_ms": 12.5, "median_ms": 3.25})


def test_report_has_environment_rows_and_required_keys(tmp_path):
    path = write_report(tmp_path, {"browser": "Chromium 1"}, [row("mlp", "cpu"), row("cnn", "wasm", status="fail")])
    report = json.loads(path.read_text())
    assert report["environment"] == {"browser": "Chromium 1"}
    assert report["summary"] == {"pass": 1, "fail": 1, "error": 0, "skip": 0}
    assert all(REQUIRED_KEYS <= set(r) for r in report["results"])
    markdown = (tmp_path / "parity.md").read_text()
    assert "| mlp | pass 1.0e-07 | - |" in markdown and "| cnn | - | fail 1.0e-07 |" in markdown
    assert "| mlp | cpu | predict | pass | 1.00e-07 | 1.00e-07 | 2.00e-06 | 1.00e-05 |  | 12.5 | 3.2 |" in markdown


def test_matrix_cell_shows_worst_status_and_largest_error():
    report = {"results": [row("mlp", "cpu", "topology", err=None).to_dict(),
                          row("mlp", "cpu", status="error", err=3e-7).to_dict()]}
    assert render_matrix(report).splitlines()[1].split() == ["mlp", "error", "3.0e-07"]


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path):
    target = tmp_path / "parity.json"
    write_atomically(target, "old")
    write_atomically(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["parity.json"]


def test_worker_parts_are_merged_not_overwritten(tmp_path):
    write_part(tmp_path, "gw0", {"backends": {"cpu": {"x": 1}}}, [row("mlp", "cpu")])
    write_part(tmp_path, "gw1", {"backends": {"wasm": {"y": 2}}}, [row("mlp", "wasm"), row("cnn", "wasm")])
    path = merge_parts(tmp_path)
    report = json.loads(path.read_text())
    assert len(report["results"]) == 3
    assert set(report["environment"]["backends"]) == {"cpu", "wasm"}
    assert not list((tmp_path / ".parts").iterdir())


def test_merge_without_parts_writes_nothing(tmp_path):
    assert merge_parts(tmp_path) is None
    assert not (tmp_path / "parity.json").exists()
