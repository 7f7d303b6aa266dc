"""``run --parallel N``: browsers launched here share a run's (model, backend) groups, and the report is the one a
single browser writes: every row, in the usual order."""

import json

import pytest

from conftest import run_cli
from harness import cli


@pytest.mark.browser
def test_two_local_browsers_share_a_run_and_the_report_keeps_every_row_in_order(tmp_path, capsys):
    status = run_cli(["run", "--models", "mlp,binary", "--backends", "cpu,wasm", "--checks", "topology,predict",
                      "--parallel", "2", "--out", str(tmp_path)])
    output = capsys.readouterr()
    assert status == cli.EXIT_PASS, output.out + output.err
    report = json.loads((tmp_path / "parity.json").read_text())
    assert sorted(report["environment"]["browsers_sharing_the_run"]) == ["local browser 1", "local browser 2"]
    rows = [(r["backend"], r["model"], r["check"]) for r in report["results"]]
    assert rows == [(backend, model, check) for backend in ("cpu", "wasm") for model in ("mlp", "binary")
                    for check in ("topology", "predict")]
    assert {r["status"] for r in report["results"]} == {"pass"}
    assert set(report["environment"]["backends"]) == {"cpu", "wasm"}


@pytest.mark.browser
@pytest.mark.keras
def test_check_gives_the_same_rows_with_one_browser_and_with_two(tmp_path, capsys):
    """Two models, one of which cannot be built: the rows (also the reference-build ones), their order and statuses do
    not depend on how many browsers share the checks."""
    from conftest import small_keras_model

    small_keras_model(5).save(tmp_path / "first.h5")
    small_keras_model(6, inputs=3).save(tmp_path / "second.h5")
    (tmp_path / "broken.h5").write_text("not HDF5")
    models = [str(tmp_path / name) for name in ("first.h5", "broken.h5", "second.h5")]
    reports = {}
    for parallel in ("1", "2"):
        out = tmp_path / f"parallel-{parallel}"
        status = run_cli(["check", *models, "--backends", "cpu,wasm", "--checks", "topology,predict,sharded",
                          "--parallel", parallel, "--out", str(out), "-q"])
        output = capsys.readouterr()
        assert status == cli.EXIT_USAGE and "broken: " in output.err, output.out + output.err  # broken.h5's cause
        reports[parallel] = json.loads((out / "parity.json").read_text())
    rows = {parallel: [(r["model"], r["backend"], r["check"], r["status"]) for r in report["results"]]
            for parallel, report in reports.items()}
    assert rows["1"] == rows["2"]
    assert rows["1"][:4] == [("first", "cpu", "preflight", "pass"), ("first", "cpu", "topology", "pass"),
                             ("first", "cpu", "predict", "pass"), ("first", "cpu", "sharded", "pass")]
    assert ("broken", "wasm", "reference-build", "error") in rows["1"] and len(rows["1"]) == 2 * 2 * 4 + 2
    assert "browsers_sharing_the_run" not in reports["1"]["environment"]
    assert sorted(reports["2"]["environment"]["browsers_sharing_the_run"]) == ["local browser 1", "local browser 2"]
