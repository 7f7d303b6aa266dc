"""Live progress: one line per finished check in logs, a line rewritten in place on a terminal, nothing with -q;
TensorFlow's own log lines go to the report directory's tensorflow.log, not the terminal."""

import io
import os
import subprocess
import sys

from harness.report.progress import Progress, row_line
from harness.results import CheckResult
from harness.run.tensorflow_log import TENSORFLOW_LOG, tensorflow_log


def row(check="predict", status="pass", **fields):
    return CheckResult("mlp", "webgl", check, status, **fields)


def test_a_line_names_the_check_its_error_against_tolerance_and_its_time():
    line = row_line(row(max_abs_err=8.9e-8, tolerance_ratio=0.031, atol=1e-5, rtol=1e-4, seconds=0.42), 3, 40)
    assert line == "[ 3/40] pass   mlp / predict / webgl: max abs err 8.9e-08, 0.031 of tolerance (0.42 s)"
    exact = row_line(row("save-load[http]", max_abs_err=0.0, atol=0.0, rtol=0.0, seconds=0.1), 4, 40)
    assert exact == "[ 4/40] pass   mlp / save-load[http] / webgl: identical (0.10 s)"
    skipped = row_line(row("fit", "skip", message="no training setup: " + "x" * 200, seconds=0.0), 5, 40)
    assert skipped.startswith("[ 5/40] skip   mlp / fit / webgl: no training setup: x") and skipped.endswith("...")


def test_lines_mode_prints_every_row_and_keeps_them():
    stream = io.StringIO()
    progress = Progress(2, "lines", stream)
    progress(row(seconds=0.1))
    progress(row("topology", "fail", message="different", seconds=0.2))
    assert [r.check for r in progress.rows] == ["predict", "topology"]
    assert stream.getvalue().splitlines()[1] == "[2/2] fail   mlp / topology / webgl: different (0.20 s)"


def test_a_skip_reason_a_models_checks_share_is_one_line_per_model():
    """A graph model's training and storage checks skip for one reason on every backend: one line, not one each."""
    stream = io.StringIO()
    progress = Progress(6, "lines", stream)
    graph = "a graph model: tfjs runs it for inference only"
    for check in ("fit", "evaluate", "save-load[http]"):
        progress(row(check, "skip", message=graph))
    progress(row("fit", "skip", message="no training setup"))
    progress(CheckResult("other", "webgl", "fit", "skip", message=graph))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and len(progress.rows) == 5 and progress.counts["skip"] == 5
    assert lines[0] == ("[1/6] skip   mlp / fit / webgl: a graph model: tfjs runs it for inference only (its other "
                        "checks skipped for this reason: one line in the summary)")
    assert lines[1].startswith("[4/6] skip   mlp / fit / webgl: no training setup") and "other / fit" in lines[2]


def test_bar_mode_rewrites_one_line_with_counts_and_time_left_and_keeps_failures():
    stream = io.StringIO()
    progress = Progress(4, "bar", stream)
    progress(row(seconds=0.1))
    progress(row("topology", "fail", message="different"))
    progress.finish()
    text = stream.getvalue()
    assert "\r\033[K1/4 checks (1 pass), " in text and "s left; last: mlp / predict / webgl" in text
    assert "\r\033[K[2/4] fail   mlp / topology / webgl: different\n" in text
    assert text.endswith("\n")


def test_quiet_mode_prints_nothing():
    stream = io.StringIO()
    progress = Progress(1, "quiet", stream)
    progress(row())
    progress.finish()
    assert stream.getvalue() == "" and len(progress.rows) == 1


def test_native_writes_go_to_the_log_and_the_harness_messages_to_the_terminal(tmp_path):
    script = (
        "import os, sys, logging, warnings\n"
        "from pathlib import Path\n"
        "from harness.run.tensorflow_log import tensorflow_log\n"
        "with tensorflow_log(Path(sys.argv[1])):\n"
        "    os.write(2, b'E0000 cuda_dnn.cc] Unable to register cuDNN factory\\n')\n"
        "    logging.getLogger('tensorflow').warning('Compiled the loaded model')\n"
        "    warnings.warn('You are saving your model as an HDF5 file')\n"
        "    print('[1/1] pass   mlp / predict / cpu', file=sys.stderr)\n"
        "print('after the run', file=sys.stderr)\n"
        "os.write(2, b'native after the run\\n')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[1/1] pass   mlp / predict / cpu\nafter the run\nnative after the run\n"
    log = (tmp_path / TENSORFLOW_LOG).read_text()
    for line in ("Unable to register cuDNN factory", "WARNING tensorflow: Compiled the loaded model",
                 "You are saving your model as an HDF5 file"):
        assert line in log


def test_inside_pytests_capture_the_harness_messages_stay_captured(tmp_path, capsys):
    with tensorflow_log(tmp_path):
        print("a harness message", file=sys.stderr)
    assert capsys.readouterr().err == "a harness message\n"
