"""Reports: atomic writes, the required keys, Markdown rendered from JSON, merged worker parts."""

import json

from harness.report.files import write_atomically, write_report
from harness.report.parts import merge_parts, write_part
from harness.report.terminal import render_matrix
from harness.results import CheckResult

REQUIRED_KEYS = {"model", "backend", "check", "status", "max_abs_err", "max_rel_err", "atol", "rtol", "message"}


def row(model, backend, check="predict", status="pass", err=1e-7, ratio=0.05):
    return CheckResult(model, backend, check, status, max_abs_err=err, max_rel_err=err, atol=2e-6, rtol=1e-5,
                       tolerance_ratio=ratio if err is not None else None,
                       details={"first_ms": 12.5, "median_ms": 3.25})


def test_report_has_environment_rows_and_required_keys(tmp_path):
    path = write_report(tmp_path, {"browser": "Chromium 1"}, [row("mlp", "cpu"), row("cnn", "wasm", status="fail")])
    report = json.loads(path.read_text())
    assert report["environment"] == {"browser": "Chromium 1"}
    assert report["summary"] == {"pass": 1, "fail": 1, "error": 0, "xfail": 0, "skip": 0}
    assert all(REQUIRED_KEYS <= set(r) for r in report["results"])
    markdown = (tmp_path / "parity.md").read_text()
    assert "| mlp | pass 0.05 | - |" in markdown and "| cnn | - | fail 0.05 |" in markdown
    assert "and predict's largest error / tolerance (1 is at the tolerance's limit" in markdown
    assert "| mlp | cpu | predict | pass | 1.00e-07 | 1.00e-07 | 2.00e-06 | 1.00e-05 |  |  | 12.5 | 3.2 |" in markdown


def test_matrix_cell_shows_worst_status_and_predicts_error_to_tolerance_ratio():
    report = {"results": [row("mlp", "cpu", "topology", err=None).to_dict(),
                          row("mlp", "cpu", status="error", err=3e-7, ratio=0.0031).to_dict(),
                          row("mlp", "cpu", "quantized[uint8]", err=1.1e-3, ratio=0.5).to_dict()]}
    lines = render_matrix(report).splitlines()
    assert lines[1].split() == ["mlp", "error", "0.0031"]
    assert lines[-1].startswith("Each cell: the worst status of the model's checks that ran on that backend")


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


def training_row(check, gap_ms):
    details = {"responsiveness": {"longestGapMs": gap_ms, "durationMs": 900.0},
               "worst_epoch": {"metric": "loss", "epoch": 2, "browser": 0.5000001, "keras": 0.5, "abs_err": 1e-7},
               "weights_max_abs_err": 3e-7}
    return CheckResult("mlp", "webgl", check, "pass", max_abs_err=1e-7, max_rel_err=2e-7, atol=1e-5, rtol=5e-4,
                       details=details)


def test_training_rows_show_worst_epoch_weights_error_and_responsiveness(tmp_path):
    path = write_report(tmp_path, {}, [training_row("fit", 640.0), training_row("fit-worker", 9.5)])
    report = json.loads(path.read_text())
    assert report["responsiveness"] == [{"model": "mlp", "backend": "webgl",
                                         "main_thread_longest_gap_ms": 640.0, "main_thread_train_ms": 900.0,
                                         "worker_longest_gap_ms": 9.5, "worker_train_ms": 900.0}]
    markdown = (tmp_path / "parity.md").read_text()
    assert "| mlp | webgl | 640.0 | 9.5 |" in markdown
    assert "| 3.00e-07 | loss epoch 2: 0.5000001 / 0.5 |" in markdown


def test_matrix_cell_without_a_predict_row_shows_the_status_only():
    report = {"results": [row("functional", "cpu", "fit", err=4e-7, ratio=0.2).to_dict(),
                          row("functional", "cpu", "evaluate", status="xfail", err=8.7, ratio=900.0).to_dict()]}
    assert render_matrix(report).splitlines()[1].split() == ["functional", "xfail"]


def test_html_puts_failures_first_with_evidence_and_opens_only_failing_models():
    from harness.report.document import build_report
    from harness.report.html import render_html

    failed = row("cnn", "wasm", status="fail", err=3e-3, ratio=40.0)
    failed.message = "Not equal to tolerance rtol=1e-05, atol=2e-06"
    failed.details["evidence"] = {"trace": "evidence/cnn/wasm/predict/trace.zip"}
    page = render_html(build_report({}, [row("mlp", "cpu", ratio=0.004), failed, row("cnn", "cpu", ratio=0.3)]))
    assert page.index("<h2>Failures (1)</h2>") < page.index("<h2>Matrix</h2>") < page.index("<h2>Error / tolerance")
    assert '<a href="evidence/cnn/wasm/predict/trace.zip">trace.zip</a>' in page
    assert "<details><summary>mlp (1 rows)</summary>" in page
    assert "<details open><summary>cnn (2 rows, 1 failed)</summary>" in page
    heatmap = page[page.index('<div id="heatmap">'):]
    assert 'style="background: #e8f5e9"' not in heatmap  # 0.004 sits in the 1e-3..1e-2 band
    assert 'style="background: #c8e6c9" title="pass: max abs err 1.00e-07, atol 2e-06, rtol 1e-05">0.004<' in heatmap
    assert 'style="background: #ffd54f"' in heatmap and 'style="background: #e57373"' in heatmap


def test_the_training_chart_plots_the_difference_against_its_tolerance():
    from harness.report.html_plots import training_error_charts

    fit = row("mlp", "webgl", "fit", err=2e-7).to_dict()
    fit["details"]["history"] = {"keras": {"loss": [1.0, 0.5]}, "browser": {"loss": [1.0, 0.5000002]}}
    [svg] = training_error_charts([fit])
    assert "|browser - Keras| training loss per epoch" in svg and "webgl tolerance" in svg
    assert svg.count("stroke-dasharray") == 1 and ">1e-12<" in svg  # the exact first epoch sits on the floor


def test_a_cell_whose_checks_pass_but_for_skips_reads_pass_and_skip_only_when_none_ran():
    passing = {"results": [row("rnn", "wasm", ratio=0.02).to_dict(),
                           row("rnn", "wasm", "fit", status="skip").to_dict()]}
    assert render_matrix(passing).splitlines()[1].split() == ["rnn", "pass", "0.02"]
    skipped = {"results": [row("rnn", "wasm", "fit", status="skip", err=None).to_dict()]}
    assert render_matrix(skipped).splitlines()[1].split() == ["rnn", "skip"]
