"""A report directory that fills up during a run: a clear error naming it, no traceback, and the rows
journaled before the disk filled are on disk. (A real full filesystem: a 20 KiB tmpfs, mounted as root.)"""

import json
import subprocess
import sys

import pytest

from harness.cli import EXIT_USAGE
from harness.report.journal import JOURNAL

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
    assert rows[("fine", "predict")] == "pass" and rows[("stuck", "reference")] == "error", rows
