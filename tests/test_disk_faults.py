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
