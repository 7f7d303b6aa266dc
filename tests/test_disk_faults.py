"""The machine fails the run: a report directory that fills up (a clear error naming it, no traceback, and the
rows journaled before the disk filled are on disk: a real full filesystem, a 20 KiB tmpfs mounted as root), and
a reference build that hangs, a user's or the zoo's (an error naming the step within --reference-timeout)."""

import json
import os
import subprocess
import sys

import pytest

from harness.cli import EXIT_USAGE
from harness.report.journal import JOURNAL
from harness.run.interrupt import is_alive

pytestmark = pytest.mark.browser


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN): {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_report_directory_that_fills_up_is_a_clear_error(small_disk):
    out = small_disk / "report"
    run = subprocess.run([sys.executable, "-m", "harness", "run", "--models", "mlp,binary", "--backends", "cpu",
                          "--checks", "predict,topology,evaluate", "--parallel", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert f"cannot write the report to {out}: No space left on device" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    journaled = (out / JOURNAL).read_text().splitlines()
    assert json.loads(journaled[0])["selection"]["models"] == ["mlp", "binary"]
    assert len(journaled) >= 2  # the rows measured before the report filled the disk


HANGING_LAYER = '''
import time

import tf_keras as keras


class Stuck(keras.layers.Layer):
    def call(self, inputs):
        while True:  # a custom layer that never returns
            time.sleep(0.05)


CUSTOM_OBJECTS = {"Stuck": Stuck}
'''


def test_a_reference_build_that_hangs_is_an_error_naming_the_step_and_the_other_models_run(tmp_path):
    from conftest import small_keras_model

    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    class Stuck(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), Stuck()]).save(tmp_path / "stuck.h5")
    small_keras_model(4).save(tmp_path / "fine.h5")
    (tmp_path / "stuck_layer.py").write_text(HANGING_LAYER)
    models = [str(tmp_path / "stuck.h5"), str(tmp_path / "fine.h5")]
    run = subprocess.run([sys.executable, "-m", "harness", "check", *models, "--custom-objects",
                          str(tmp_path / "stuck_layer.py"), "--backends", "cpu", "--checks", "predict",
                          "--reference-timeout", "5", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert (f"building the reference of stuck ({tmp_path / 'stuck.h5'}: Keras, the converter, training runs; "
            "--reference-timeout gives it more) did not finish within 5 s") in run.stderr, run.stderr
    rows = {(r["model"], r["check"]): r["status"] for r in json.loads((tmp_path / "out" / "parity.json").read_text())[
        "results"]}
    assert rows[("fine", "predict")] == "pass" and rows[("stuck", "reference-build")] == "error", rows


# Loaded by every Python process of the run below (PYTHONPATH), the fixture builders the run spawns too: each
# zoo build records its process id and then hangs.
HANGING_BUILD = '''
import os
import time

import harness.reference.zoo_build as zoo_build


def hang(spec, directory, key):
    with open(os.environ["HUNG_BUILDS"], "a") as pids:
        pids.write(f"{os.getpid()}\\n")
    while True:
        time.sleep(0.05)


zoo_build.build_zoo_reference = hang
'''


@pytest.mark.parametrize("models", ["mlp", "mlp,binary"], ids=["one-build", "two-builds-at-once"])
def test_a_zoo_reference_build_that_hangs_is_an_error_naming_the_step(tmp_path, models):
    """The run ends within ``--reference-timeout`` naming the step, and no builder process is left running."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HANGING_BUILD)
    pids = tmp_path / "hung-builds"
    environment = {**os.environ, "PYTHONPATH": f"{tmp_path / 'hook'}:{os.getcwd()}", "HUNG_BUILDS": str(pids)}
    run = subprocess.run([sys.executable, "-m", "harness", "run", "--models", models, "--backends", "cpu",
                          "--checks", "predict", "--fixtures", str(tmp_path / "fixtures"), "--reference-timeout", "5",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=environment)
    assert run.returncode == EXIT_USAGE, run.stderr
    assert (f"building the references of {models.replace(',', ', ')} in {tmp_path / 'fixtures'} (Keras, the "
            "converter, training runs; --reference-timeout gives it more) did not finish within 5 s") in run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    hung = [int(pid) for pid in pids.read_text().split()]
    assert len(hung) == len(models.split(","))
    assert not any(is_alive(pid) for pid in hung)
