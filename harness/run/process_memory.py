"""The peak memory of a process and everything it starts (a browser's many processes included).

Each process' proportional set size (PSS, from ``/proc/PID/smaps_rollup``) counts a page shared by
N processes as 1/N of it in each, so the sum over a process tree is what the tree really holds; where
PSS cannot be read, the resident set size (RSS) stands in. Linux only: elsewhere it measures nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

PROC = Path("/proc")
SAMPLE_EVERY_S = 0.25


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").glob("*/children"))
    except OSError:  # the process ended meanwhile
        return children
    for task in tasks:
        try:
            children += [int(child) for child in task.read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, now."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += _children(current)
    return tree


def _memory_bytes(pid: int) -> int:
    """One process' PSS (else RSS) in bytes; 0 once it has ended."""
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            lines = (PROC / str(pid) / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def tree_memory_bytes(pid: int) -> int:
    """What ``pid`` and its descendants hold now (sum of PSS)."""
    return sum(_memory_bytes(member) for member in process_tree(pid))


class PeakMemory:
    """Samples a process tree's memory on a thread until stopped: ``with PeakMemory(pid) as peak: ...``, then
    ``peak.bytes``. ``available`` is False where ``/proc`` does not exist."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.bytes = 0
        self.available = PROC.is_dir()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            self.bytes = max(self.bytes, tree_memory_bytes(self.pid))
            if self._stop.wait(SAMPLE_EVERY_S):
                return

    def __enter__(self) -> PeakMemory:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
