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
