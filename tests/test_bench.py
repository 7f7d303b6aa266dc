"""``make bench``'s own parts: the peak memory of a process tree, and the goal table."""

import subprocess
import sys

from harness.run.bench import GOALS, goal_table
from harness.run.process_memory import PeakMemory, process_tree

HOLD_200_MIB = ("import time; block = bytearray(200 * 2 ** 20)\n"
                "for i in range(0, len(block), 4096): block[i] = 1\n"
                "print('ready', flush=True); time.sleep(1)")


def test_peak_memory_counts_what_the_children_of_a_process_hold():
    # The shell holds almost nothing: the 200 MiB are its child's, as a browser's memory is the harness' child's.
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0"', HOLD_200_MIB], stdout=subprocess.PIPE,
                             text=True)
    with PeakMemory(shell.pid) as peak:
        assert shell.stdout.readline().strip() == "ready"
        assert len(process_tree(shell.pid)) == 2
        shell.wait()
    assert 190 * 2 ** 20 < peak.bytes < 400 * 2 ** 20


def test_the_goal_table_gives_each_measured_figure_against_its_goal():
    table = goal_table({"zoo_default_run": 180.0, "peak_memory": 2.5})
    lines = table.splitlines()
    assert len(lines) == 3
    zoo = next(goal for goal in GOALS if goal.key == "zoo_default_run")
    assert lines[1].startswith(zoo.label) and "180s" in lines[1] and "90s" in lines[1] and " 2.00 " in lines[1]
    assert "2.5GiB" in lines[2] and " 0.83 " in lines[2]
