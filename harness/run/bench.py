"""How fast the harness is, against its goals: ``python -m harness.run.bench`` (``make bench``).

Each figure is measured as a user meets it, from process start to exit: ``check`` on eleven small
models, the zoo's default run and the nightly matrix (warm fixtures), the cold fixture build, and
``make test`` in a fresh clone. The zoo run also gives the peak memory of the harness and its browser,
and where its time goes (by backend, model and check, from the report's rows). The figures go to
``bench.json``, each figure's logs and reports to ``bench/`` beside it. WebGL and WebGPU on a machine
without a GPU run on SwiftShader (software): their timings are not GPU timings.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.options import comma_list
from harness.reference.cache import ensure_references
from harness.reference.zoo import ZOO
from harness.report.files import write_atomically
from harness.run.bench_models import write_small_models
from harness.run.process_memory import PeakMemory

GIB = 1024 ** 3
HARNESS = [sys.executable, "-m", "harness"]


@dataclass(frozen=True)
class Goal:
    """One figure of issue 17's table: what it measures, its goal, and its value when the issue was filed."""

    key: str
    label: str
    goal: float
    unit: str
    filed: float | None  # None: not measured then
    process: str = ""  # the figure whose process's exit status this one shares (default: its own)

    def exit_status(self, results: dict[str, Any]) -> int:
        """The exit status of the process the figure was measured on (0 when not recorded)."""
        return int(results.get(f"{self.process or self.key}_exit") or 0)


GOALS: tuple[Goal, ...] = (
    Goal("small_models_check", "check: 11 small models x cpu,webgl,wasm, topology+predict, warm", 40, "s", 105),
    Goal("zoo_default_run", "tfjs-parity run: the zoo's default run, warm fixtures", 90, "s", 320),
    Goal("fixtures_cold", "cold fixture build, whole zoo", 35, "s", 70),
    Goal("nightly_matrix", "tfjs-parity run --matrix nightly (8 backend ids), warm fixtures", 480, "s", 930),
    Goal("fresh_clone_make_test", "make test in a fresh clone, setup included", 360, "s", 578),
    Goal("peak_memory", "peak memory (PSS) of harness + browser, zoo default run", 3, "GiB", None, "zoo_default_run"),
)
FIGURES = ("small", "zoo", "cold", "nightly", "test")  # --figures; the zoo run also measures peak_memory


@dataclass
class Timed:
    seconds: float
    returncode: int
    peak_bytes: int = 0


def _run(argv: list[str], cwd: Path | None = None, log: Path | None = None) -> Timed:
    """Run ``argv`` to its end, its output to ``log``; wall time and the peak memory of its process tree."""
    started = time.perf_counter()
    with open(log or os.devnull, "w") as out:
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        with PeakMemory(process.pid) as peak:
            returncode = process.wait()
    return Timed(round(time.perf_counter() - started, 1), returncode, peak.bytes)


def _small_models(work: Path) -> dict[str, Any]:
    models = write_small_models(work / "models")
    argv = [*HARNESS, "check", *map(str, models), "--backends", "cpu,webgl,wasm", "--checks", "topology,predict",
            "--repair", "-q", "--out", str(work / "check")]
    _run(argv)  # warms the OS' and the browser's caches, as a user's second run finds them
    timed = _run(argv, log=work / "check.log")
    return {"small_models_check": timed.seconds, "small_models_check_exit": timed.returncode,
            "small_models_rows": _statuses(work / "check" / "parity.json")}


def _zoo_run(work: Path, name: str, extra: list[str]) -> tuple[Timed, dict[str, Any]]:
    ensure_references(list(ZOO))
    out = work / name
    timed = _run([*HARNESS, "run", "-q", "--out", str(out), *extra], log=work / f"{name}.log")
    return timed, _breakdown(out / "parity.json")


def _zoo(work: Path) -> dict[str, Any]:
    timed, breakdown = _zoo_run(work, "zoo", [])
    return {"zoo_default_run": timed.seconds, "zoo_default_run_exit": timed.returncode,
            "peak_memory": round(timed.peak_bytes / GIB, 2), "zoo_default_run_breakdown": breakdown}


def _nightly(work: Path) -> dict[str, Any]:
    timed, breakdown = _zoo_run(work, "nightly", ["--matrix", "nightly"])
    return {"nightly_matrix": timed.seconds, "nightly_matrix_exit": timed.returncode,
            "nightly_matrix_breakdown": breakdown}


def _cold(work: Path) -> dict[str, Any]:
    build = ("import sys; from pathlib import Path; from harness.reference.cache import ensure_references; "
             "from harness.reference.zoo import ZOO; ensure_references(list(ZOO), Path(sys.argv[1]))")
    timed = _run([sys.executable, "-c", build, str(work / "fixtures")], log=work / "fixtures.log")
    return {"fixtures_cold": timed.seconds, "fixtures_cold_exit": timed.returncode}


def _fresh_clone_test(work: Path) -> dict[str, Any]:
    """``make test`` in a clone of this checkout's HEAD (its own venv, npm install and fixtures)."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    if top.returncode != 0:
        return {"fresh_clone_make_test_skipped": "not run from a git checkout"}
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", top.stdout.strip(), str(clone)], check=True)
    timed = _run(["make", "test"], cwd=clone, log=work / "make-test.log")
    shutil.rmtree(clone, ignore_errors=True)  # its venv, node_modules and fixtures: over a GiB
    return {"fresh_clone_make_test": timed.seconds, "fresh_clone_make_test_exit": timed.returncode}


MEASURES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "small": _small_models, "zoo": _zoo, "cold": _cold, "nightly": _nightly, "test": _fresh_clone_test}


def _statuses(report: Path) -> dict[str, int]:
    if not report.is_file():
        return {}
    return dict(collections.Counter(row["status"] for row in json.loads(report.read_text())["results"]))


def _breakdown(report: Path) -> dict[str, Any]:
    """Where a run's check time went: seconds by backend, model and check, and its rows' statuses."""
    if not report.is_file():
        return {}
    rows = json.loads(report.read_text())["results"]
    by: dict[str, Any] = {"statuses": _statuses(report)}
    for key in ("backend", "model", "check"):
        totals: dict[str, float] = collections.defaultdict(float)
        for row in rows:
            totals[row[key]] += row.get("seconds") or 0.0
        by[f"by_{key}_s"] = {name: round(seconds, 1) for name, seconds in sorted(totals.items(), key=lambda x: -x[1])}
    return by


def measure(figures: tuple[str, ...], work: Path) -> dict[str, Any]:
    """Measure ``figures`` (``FIGURES`` names), working in ``work``."""
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "note": "no GPU here: WebGL runs on SwiftShader (software)"}}
    for name in figures:
        print(f"measuring {name} ...", flush=True)
        (work / name).mkdir(parents=True)
        results.update(MEASURES[name](work / name))
    results["goals"] = {goal.key: {"value": results.get(goal.key), "goal": goal.goal, "unit": goal.unit,
                                   "filed": goal.filed} for goal in GOALS if goal.key in results}
    return results


def goal_table(results: dict[str, Any]) -> str:
    """The goals as a text table: figure, value, goal, value / goal, value when the issue was filed; a figure whose
    process failed says so instead of a ratio (its time is not the work's)."""
    lines = [f"{'figure':68} {'value':>9} {'goal':>7} {'ratio':>6} {'filed':>7}"]
    for goal in GOALS:
        value = results.get(goal.key)
        if value is None:
            continue
        filed = "" if goal.filed is None else f"{goal.filed:g}"
        failed = goal.exit_status(results)
        ratio = f"{value / goal.goal:>6.2f}" if not failed else f"FAILED (exit {failed}, see its log)"
        lines.append(f"{goal.label:68} {value:>8g}{goal.unit} {goal.goal:>6g}{goal.unit} {ratio} {filed:>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.run.bench", description=__doc__)
    parser.add_argument("--figures", default=",".join(FIGURES),
                        help=f"comma-separated, from {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench.json"))
    args = parser.parse_args(argv)
    figures = comma_list(args.figures)
    unknown = [name for name in figures if name not in MEASURES]
    if unknown:
        parser.error(f"--figures: unknown {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    work = args.out.parent / "bench"  # each figure's logs and reports stay here until the next bench
    shutil.rmtree(work, ignore_errors=True)
    results = measure(figures, work)
    write_atomically(args.out, json.dumps(results, indent=2) + "\n")
    print(goal_table(results))
    print(f"wrote {args.out}")
    return 1 if any(goal.exit_status(results) for goal in GOALS if goal.key in results) else 0


if __name__ == "__main__":
    sys.exit(main())
