"""The command line: usage errors exit 2, and --help does not import TensorFlow."""

import subprocess
import sys

import pytest

from harness.cli import EXIT_USAGE, main


@pytest.mark.parametrize("argv", [
    [], ["frobnicate"], ["run", "--models", "resnet"], ["run", "--backends", "metal"],
    ["run", "--checks", "nope"], ["run", "--timeout", "0"], ["run", "--models", ""],
    ["run", "--upload-limit-mib", "0"], ["run", "--backends", "webgl:f32"], ["run", "--matrix", "weekly"],
    ["run", "--matrix", "nightly", "--backends", "cpu"], ["run", "--tfjs", "4.x"],
    ["run", "--baseline", "/nonexistent/parity.json"], ["run", "--error-growth", "0"], ["run", "--parallel", "0"],
    ["run", "--parallel", "2", "--browser-endpoint", "ws://127.0.0.1:9/"], ["run", "--bench-batch", "0"],
    ["run", "--min-top1", "int4=50"], ["run", "--min-top1", "most"], ["run", "--min-top1", "101"],
    ["run", "--serve-on", "grid.local"], ["run", "--serve-on", "10.0.0.5:8765", "--parallel", "2"],
])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == EXIT_USAGE
    assert "error" in capsys.readouterr().err


def test_a_baseline_that_is_not_a_report_stops_the_run_naming_it(tmp_path, capsys):
    baseline = tmp_path / "old.json"
    baseline.write_text("[1, 2]")
    assert main(["run", "--models", "mlp", "--backends", "cpu", "--baseline", str(baseline),
                 "--out", str(tmp_path)]) == EXIT_USAGE
    assert f"baseline {baseline} is not a parity.json report" in capsys.readouterr().err


def test_unknown_model_message_lists_the_zoo(capsys):
    main(["run", "--models", "mlp,resnet"])
    assert "--models: unknown resnet; choose from mlp, cnn, rnn, functional" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["-m", "harness", "run", "--help"], ["-m", "pytest", "--help"]])
def test_help_does_not_import_tensorflow(command):
    probe = (
        "import runpy, sys\n"
        f"sys.argv = {['x', *command[2:]]!r}\n"
        "try:\n"
        f"    runpy.run_module({command[1]!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('tensorflow', 'tf_keras', 'tensorflowjs', 'playwright') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stderr, done.stderr[-2000:]


def test_bad_chromium_override_stops_with_a_clear_message(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TFJS_PARITY_CHROMIUM", "/nonexistent/chrome")
    assert main(["run", "--models", "mlp", "--backends", "cpu", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "TFJS_PARITY_CHROMIUM=/nonexistent/chrome is not an executable file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run", "--models", "mlp", "--backends", "cpu", "--checks", "predict"],
                                     ["check", "MODEL", "--backends", "cpu"]])
def test_a_report_directory_that_cannot_be_written_is_named_before_anything_runs(command, tmp_path, capsys):
    from conftest import small_keras_model

    small_keras_model(1).save(tmp_path / "tiny.h5")
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "report"
    argv = [str(tmp_path / "tiny.h5") if part == "MODEL" else part for part in command]
    assert main([*argv, "--out", str(out)]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert f"cannot write the report to {out}: Not a directory" in error, error
    assert "Traceback" not in error


def test_a_port_that_cannot_be_bound_is_named_and_nothing_runs(monkeypatch, tmp_path, capsys):
    """The server asks for a free port on 127.0.0.1; here it is given one that is taken."""
    import socket

    from aiohttp import web

    from conftest import run_cli

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    site = web.TCPSite
    monkeypatch.setattr(web, "TCPSite", lambda runner, host, port: site(runner, host, taken.getsockname()[1]))
    try:
        status = run_cli(["run", "--models", "mlp", "--backends", "cpu", "--checks", "predict", "--out", str(tmp_path)])
    finally:
        taken.close()
    error = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert "could not start: cannot serve the page on 127.0.0.1: [Errno 98]" in error, error
    assert "address already in use" in error and "Traceback" not in error and "Exception in thread" not in error


@pytest.mark.parametrize(("argv", "hint"), [
    (["run", "--backends", "cpu,wbgl"], "unknown backend 'wbgl' (did you mean 'webgl'?)"),
    (["run", "--checks", "predcit"], "unknown predcit (did you mean 'predict'?)"),
    (["run", "--models", "mpl"], "unknown mpl (did you mean 'mlp'?)"),
    (["check", "m.h5", "--checks", "save-load[htp]"], "(did you mean 'save-load[http]'?)"),
])
def test_a_typo_in_a_name_gets_the_nearest_known_one(argv, hint, capsys):
    assert main(argv) == EXIT_USAGE
    assert hint in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "check m.h5"])
def test_a_reference_timeout_of_zero_is_refused(command, capsys):
    """Zero would switch the deadline off, not make it immediate."""
    assert main([*command.split(), "--reference-timeout", "0"]) == EXIT_USAGE
    assert "--reference-timeout" in capsys.readouterr().err
