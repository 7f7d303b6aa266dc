"""Where a parity run spends its time: ``python -m harness.run.bench`` (``make bench``).

Measures a cold fixture build (into a temporary cache), a warm cache read, browser and server
start, each backend's page setup, and each check, then writes ``bench.json``. Timings of WebGL
and WebGPU on a machine without a GPU are SwiftShader (software) timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from harness.browser.backends import DEFAULT_BACKENDS
from harness.checks import DEFAULT_CHECKS, STORAGE_CHECKS, TRAINING_CHECKS, check_applies
from harness.options import DEFAULT_TIMEOUT_S, comma_list
from harness.reference.cache import ensure_references
from harness.reference.zoo import ZOO
from harness.report.files import write_atomically
from harness.run.session import ParitySession


def _timed(work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = work()
    return value, round(time.perf_counter() - started, 3)


def run_benchmark(models: list[str], backends: list[str]) -> dict[str, object]:
    """Time each phase of a parity run; returns the figures (seconds)."""
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as cold_root:
        _, figures["fixtures_cold_s"] = _timed(lambda: ensure_references(models, Path(cold_root)))
    references, figures["fixtures_warm_s"] = _timed(lambda: ensure_references(models))
    session, figures["browser_and_server_start_s"] = _timed(lambda: ParitySession(DEFAULT_TIMEOUT_S).start())
    checks: dict[str, float] = {}
    try:
        for backend in backends:
            _, figures[f"page_setup_{backend}_s"] = _timed(lambda name=backend: session.page(name))
            for name in models:
                for check in DEFAULT_CHECKS:
                    if not check_applies(check, references[name]):
                        continue
                    result = session.run_check(check, references[name], backend)
                    checks[f"{name}/{backend}/{check}"] = result.seconds or 0.0
        figures["gpu_note"] = session.environment()["gpu_note"]
    finally:
        session.close()
    figures["checks_s"] = checks
    figures["checks_total_s"] = round(sum(checks.values()), 3)
    training = [seconds for key, seconds in checks.items() if key.rsplit("/", 1)[1] in TRAINING_CHECKS]
    figures["training_checks_total_s"] = round(sum(training), 3)
    storage = [seconds for key, seconds in checks.items() if key.rsplit("/", 1)[1] in STORAGE_CHECKS]
    figures["storage_checks_total_s"] = round(sum(storage), 3)
    for backend in backends:
        figures[f"checks_{backend}_s"] = round(sum(s for k, s in checks.items() if k.split("/")[1] == backend), 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.run.bench", description=__doc__)
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS))
    parser.add_argument("--out", type=Path, default=Path("reports/bench.json"))
    args = parser.parse_args(argv)
    figures = run_benchmark(list(comma_list(args.models)), list(comma_list(args.backends)))
    write_atomically(args.out, json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        if key != "checks_s":
            print(f"{key:32} {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
