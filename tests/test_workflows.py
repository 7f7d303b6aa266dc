"""The workflows are valid GitHub Actions YAML: the nightly one runs the README's report command on the
nightly matrix against the last baseline; the release one runs the release matrix against the previous
release's report and attaches the reports and the wheel; the recipe for a user's repository runs their
tests with the pytest API and keeps the report."""

import re
from pathlib import Path

import pytest
import yaml

from harness.report.release_notes import BEGIN, END, merge_notes, parity_section

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
RECIPE = ROOT / "docs" / "recipes" / "parity.yml"


def load(path=WORKFLOW):
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true; GitHub reads it as the trigger list.
    workflow["on"] = workflow.pop(True)
    return workflow


def only_job(path):
    [job] = load(path)["jobs"].values()
    return job


def test_it_is_scheduled_and_can_be_started_by_hand():
    triggers = load()["on"]
    cron = triggers["schedule"][0]["cron"]
    assert len(cron.split()) == 5 and re.fullmatch(r"[\d*/,\- ]+", cron)
    assert "workflow_dispatch" in triggers


@pytest.mark.parametrize("path", [WORKFLOW, RELEASE, RECIPE], ids=["nightly", "release", "recipe"])
def test_every_step_either_uses_an_action_or_runs_a_command(path):
    job = only_job(path)
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


def test_the_release_workflow_runs_on_a_version_tag_or_a_published_release():
    workflow = load(RELEASE)
    assert workflow["on"] == {"push": {"tags": ["v*"]}, "release": {"types": ["published"]}}
    assert workflow["permissions"] == {"contents": "write"}


def test_the_release_runs_the_release_matrix_against_the_previous_releases_report():
    steps = only_job(RELEASE)["steps"]
    assert any(step.get("run") == "make dist" for step in steps)
    baseline = next(step for step in steps if step.get("id") == "baseline")
    assert "gh release download" in baseline["run"] and "--pattern parity.json" in baseline["run"]
    assert "--baseline baseline/parity.json" in baseline["run"]
    report = next(step["run"] for step in steps if "make report" in step.get("run", ""))
    assert "--matrix nightly" in report and "--junit reports/junit.xml" in report
    assert "steps.baseline.outputs.args" in report
    assert "if" not in next(step for step in steps if "make report" in step.get("run", ""))  # its failure fails


def test_the_release_attaches_reports_and_wheel_always_and_writes_its_notes():
    attach = next(step for step in only_job(RELEASE)["steps"] if "gh release upload" in step.get("run", ""))
    assert attach["if"] == "always()"
    for asset in ("reports/parity.html", "reports/parity.json", "reports/junit.xml", "dist/*.whl", "constraints.txt"):
        assert asset in attach["run"]
    assert "python -m harness.report.release_notes reports/parity.md" in attach["run"]
    assert "gh release edit" in attach["run"] and "--notes-file notes.md" in attach["run"]


def test_the_recipe_installs_the_wheel_with_its_pins_and_runs_the_users_tests_with_a_report():
    steps = only_job(RECIPE)["steps"]
    install = next(step["run"] for step in steps if "pip install" in step.get("run", ""))
    assert "$TFJS_PARITY_WHEEL" in install and '-c "$TFJS_PARITY/constraints.txt"' in install
    assert "playwright install --with-deps chromium" in install and "tfjs-parity doctor" in install
    tests = next(step["run"] for step in steps if "pytest" in step.get("run", ""))
    assert "--parity-report reports/" in tests and "--parity-backends" in tests
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"


PARITY_MD = """# tfjs-parity report

**40 pass, 1 fail, 0 error, 0 xfail, 2 skip**

| model | cpu |
|---|---|
| mlp | fail 38 |

## Environment

- browser: Chromium 156
"""


def test_release_notes_keep_the_authors_text_and_replace_their_parity_section():
    section = parity_section(PARITY_MD)
    assert section.startswith(BEGIN) and section.endswith(END)
    assert "## Parity report (tfjs-parity)" in section and "| mlp | fail 38 |" in section
    assert "Chromium 156" not in section
    notes = merge_notes("Faster WASM loading.\n", section)
    assert notes.startswith("Faster WASM loading.\n\n" + BEGIN)
    again = merge_notes(notes, parity_section(PARITY_MD.replace("fail 38", "pass 0.02")))
    assert again.count(BEGIN) == 1 and "pass 0.02" in again and "fail 38" not in again
    assert again.startswith("Faster WASM loading.")
    assert merge_notes("", section) == section + "\n"
