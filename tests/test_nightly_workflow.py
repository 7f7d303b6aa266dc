"""The nightly workflow is valid GitHub Actions YAML that runs the README's report command on the
nightly matrix against the last baseline, uploads the reports, and fails on regressions."""

import re
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "nightly.yml"


def load():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true; GitHub reads it as the trigger list.
    workflow["on"] = workflow.pop(True)
    return workflow


def test_it_is_scheduled_and_can_be_started_by_hand():
    triggers = load()["on"]
    cron = triggers["schedule"][0]["cron"]
    assert len(cron.split()) == 5 and re.fullmatch(r"[\d*/,\- ]+", cron)
    assert "workflow_dispatch" in triggers


def test_every_step_either_uses_an_action_or_runs_a_command():
    job = load()["jobs"]["parity-matrix"]
    assert job["runs-on"] and 0 < job["timeout-minutes"] <= 90
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_it_runs_the_readme_report_command_on_the_nightly_matrix_against_the_baseline():
    steps = load()["jobs"]["parity-matrix"]["steps"]
    readme = (WORKFLOW.parent.parent.parent / "README.md").read_text()
    assert "make report" in readme
    run = next(step["run"] for step in steps if "make report" in step.get("run", ""))
    assert "--matrix nightly" in run and "--junit" in run and "--save-baseline" in run
    assert "steps.baseline.outputs.args" in run
    baseline = next(step for step in steps if step.get("id") == "baseline")
    assert "--baseline baseline/parity.json" in baseline["run"] and "parity-baseline" in baseline["run"]


def test_reports_are_uploaded_always_and_the_baseline_only_from_a_clean_run():
    uploads = {step["with"]["name"]: step for step in load()["jobs"]["parity-matrix"]["steps"]
               if step.get("uses", "").startswith("actions/upload-artifact@")}
    assert uploads["parity-reports"]["if"] == "always()" and uploads["parity-reports"]["with"]["path"] == "reports/"
    assert uploads["parity-baseline"]["if"] == "success()"
