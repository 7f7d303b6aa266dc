"""A run stopped by SIGINT (Ctrl-C) or SIGTERM (a CI timeout) keeps every finished row in a report
marked interrupted, leaves no process behind and exits 130; ``--resume`` runs only what is missing.
The signal goes to the harness process alone (not its process group), as a CI runner sends it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_cli
from harness import cli
from harness.report.journal import JOURNAL, Journal, read_journal
from harness.results import CheckResult
from harness.run.interrupt import EXIT_INTERRUPTED, is_alive
from harness.run.process_memory import process_tree

pytestmark = pytest.mark.browser
SELECTION = ["--models", "mlp,binary", "--backends", "cpu"]


def journal_rows(out):
    path = out / JOURNAL
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def interrupted_run(out, signal_number, *extra):
    """Start ``tfjs-parity run``, send ``signal_number`` to it alone once three rows are journaled; returns its exit
    status, stderr, how long it took to stop, which of the processes it had started are still alive, and the save
    slots' private directories left in its temp directory."""
    temp = Path(tempfile.mkdtemp(prefix="tp-"))  # short: Chromium refuses a socket path over 107 characters
    process = subprocess.Popen([sys.executable, "-m", "harness", "run", *SELECTION, "--out", str(out), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, "TMPDIR": str(temp), "PYTHONFAULTHANDLER": "1"})
    deadline = time.monotonic() + 240
    while journal_rows(out) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be interrupted"
    started = process_tree(process.pid)[1:]  # Playwright's drivers, the browsers (in sessions of their own), ...
    assert started
    sent = time.monotonic()
    process.send_signal(signal_number)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # where it hangs: faulthandler prints every thread's stack on SIGABRT, to
        process.send_signal(signal.SIGABRT)  # descriptor 2, which the run points at OUT/tensorflow.log
        _, stderr = process.communicate(timeout=30)
        log = out / "tensorflow.log"
        threads = log.read_text(errors="replace")[-8000:] if log.exists() else "(no tensorflow.log)"
        pytest.fail(f"the run did not stop within 60 s of the signal; its output:\n{stderr[-4000:]}\n"
                    f"its threads then ({log}):\n{threads}")
    stopped_after = time.monotonic() - sent
    time.sleep(0.5)
    slot_directories = sorted(path.name for path in temp.glob("tfjs-parity-saved-*"))
    shutil.rmtree(temp)
    return process.returncode, stderr, stopped_after, [pid for pid in started if is_alive(pid)], slot_directories


# The storage checks spend most of their time inside an open subject (a model loaded or trained on the page, disposed
# when the check moves on): the signal lands there, and the subject's disposal must not outlive its page.
STORAGE_ONLY = ["--checks", "save-load[localstorage],save-load[indexeddb],save-load[downloads],model-management"]


@pytest.mark.parametrize(("signal_number", "extra"), [(signal.SIGINT, ["--parallel", "1"]),
                                                      (signal.SIGTERM, ["--parallel", "2"]),
                                                      (signal.SIGINT, ["--parallel", "2", *STORAGE_ONLY])],
                         ids=["sigint-one-browser", "sigterm-two-browsers", "sigint-inside-a-storage-subject"])
def test_a_signal_keeps_every_finished_row_and_leaves_no_process(tmp_path, signal_number, extra):
    out = tmp_path / "report"
    status, stderr, stopped_after, left, directories_left = interrupted_run(out, signal_number, *extra)
    assert status == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stopped_after < 5, stopped_after
    assert left == [], left
    assert directories_left == [], directories_left
    report = json.loads((out / "parity.json").read_text())
    name = signal.Signals(signal_number).name
    assert report["interrupted"].startswith(f"{name} after "), report["interrupted"]
    assert f"--resume {out}" in report["interrupted"]
    journaled = read_journal(out / JOURNAL, json.loads((out / JOURNAL).read_text().splitlines()[0])["selection"])
    assert len(report["results"]) == len(journaled) >= 3
    assert all(row["status"] == "pass" for row in report["results"])
    for rendered in ((out / "parity.md").read_text(), (out / "parity.html").read_text()):
        assert f"INTERRUPTED ({name} after" in rendered


def test_resume_runs_only_the_checks_an_interrupted_run_lacks(tmp_path):
    out = tmp_path / "report"
    status, stderr, *_ = interrupted_run(out, signal.SIGINT, "--parallel", "1")
    assert status == EXIT_INTERRUPTED, stderr
    before = {(r["model"], r["check"]): r for r in json.loads((out / "parity.json").read_text())["results"]}
    assert run_cli(["run", *SELECTION, "--resume", str(out), "-q"]) == cli.EXIT_PASS
    report = json.loads((out / "parity.json").read_text())
    assert "interrupted" not in report
    keys = [(r["model"], r["check"]) for r in report["results"]]
    assert len(keys) == len(set(keys)) > len(before)
    for row in report["results"]:  # the rows measured before were kept, not measured again
        if (row["model"], row["check"]) in before:
            assert row == before[(row["model"], row["check"])]


def test_resume_refuses_a_journal_of_another_selection_or_none(tmp_path, capsys):
    out = tmp_path / "report"
    Journal.start(out, {"models": ["mlp"], "backends": ["cpu"], "checks": ["predict"]}).close()
    assert run_cli(["run", *SELECTION, "--checks", "predict", "--resume", str(out)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert f"--resume {out}" in error and "models: mlp there, mlp,binary now" in error, error
    assert run_cli(["run", *SELECTION, "--resume", str(tmp_path / "none")]) == cli.EXIT_USAGE
    assert "no parity.journal.jsonl there" in capsys.readouterr().err


def test_a_row_cut_short_by_a_crash_is_dropped_and_the_rest_kept(tmp_path):
    selection = {"models": ["mlp"], "backends": ["cpu"], "checks": ["predict", "topology"]}
    journal = Journal.start(tmp_path, selection)
    journal.append(CheckResult("mlp", "cpu", "predict", "pass", max_abs_err=1e-7))
    journal.close()
    with (tmp_path / JOURNAL).open("a") as handle:
        handle.write('{"model": "mlp", "backend": "cpu", "che')
    resumed = Journal.start(tmp_path, selection, resume=True)
    resumed.close()
    assert [(r.check, r.max_abs_err) for r in resumed.rows] == [("predict", 1e-7)]
    assert len((tmp_path / JOURNAL).read_text().splitlines()) == 2  # the broken line is gone from the file too


def test_check_stopped_by_sigterm_writes_what_it_measured_and_resume_runs_the_rest(tmp_path):
    from conftest import small_keras_model

    small_keras_model(3).save(tmp_path / "tiny.h5")
    small_keras_model(4).save(tmp_path / "small.h5")
    models = [str(tmp_path / "tiny.h5"), str(tmp_path / "small.h5")]
    out = tmp_path / "report"
    process = subprocess.Popen([sys.executable, "-m", "harness", "check", *models, "--backends", "cpu,wasm",
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    finished = 0
    while finished < 3:  # three rows printed (preflight and two checks)
        line = process.stderr.readline()
        assert line, "the check ended before it could be interrupted"
        finished += line.startswith("[")
    started = process_tree(process.pid)[1:]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr, stderr
    time.sleep(0.5)
    assert [pid for pid in started if is_alive(pid)] == []
    report = json.loads((out / "parity.json").read_text())
    assert report["interrupted"].startswith("SIGTERM after ") and len(report["results"]) >= 3
    assert f"check --resume {out}" in report["interrupted"]
    before = {(r["model"], r["backend"], r["check"]): r for r in report["results"]}

    assert run_cli(["check", *models, "--backends", "cpu,wasm", "--resume", str(out), "-q"]) == cli.EXIT_PASS
    report = json.loads((out / "parity.json").read_text())
    assert "interrupted" not in report
    keys = [(r["model"], r["backend"], r["check"]) for r in report["results"]]
    assert len(keys) == len(set(keys)) > len(before)
    assert {model for model, _, _ in keys} == {"tiny", "small"}
    assert all(r["status"] in ("pass", "skip") for r in report["results"]), report["results"]
    for row in report["results"]:  # the rows measured before were kept, not measured again
        if (row["model"], row["backend"], row["check"]) in before:
            assert row == before[(row["model"], row["backend"], row["check"])]
    assert run_cli(["check", *models[:1], "--backends", "cpu,wasm", "--resume", str(out)]) == cli.EXIT_USAGE


def test_check_resume_counts_a_model_finished_only_when_nothing_it_gets_is_missing():
    from harness.run.model_check import ModelOptions, _finished

    how = ModelOptions(backends=("cpu",), checks=("predict", "topology"))

    def row(check, status="pass", **details):
        return CheckResult("m", "cpu", check, status, details=details)

    assert not _finished("m", how, [row("preflight"), row("predict")])
    assert _finished("m", how, [row("preflight"), row("predict"), row("topology")])
    assert _finished("m", how, [row("preflight", "fail", problems=[{"name": "FancyLayer"}])])  # no check follows
    assert not _finished("m", how, [row("preflight", "fail", problems=[])])  # a route that drifted: checks follow
    assert _finished("m", how, [row("reference-build", "error")])
