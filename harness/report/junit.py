"""JUnit XML for CI systems: one test suite per backend, one test case per model x check, and a
``regressions`` suite with a failing case per regression against the baseline."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.files import write_atomically
from harness.results import CheckResult

# What each status becomes: JUnit has no xfail, so a known upstream bug is a skip that says so.
_CHILD = {"fail": "failure", "error": "error", "skip": "skipped", "xfail": "skipped"}


def _first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""


def _suite(parent: ET.Element, name: str, cases: list[tuple[str, str, str, str, float]]) -> None:
    """A ``testsuite`` of (classname, name, status, message, seconds) cases."""
    suite = ET.SubElement(parent, "testsuite", name=name, tests=str(len(cases)),
                          failures=str(sum(c[2] == "fail" for c in cases)),
                          errors=str(sum(c[2] == "error" for c in cases)),
                          skipped=str(sum(c[2] in ("skip", "xfail") for c in cases)),
                          time=f"{sum(c[4] for c in cases):.3f}")
    for classname, case_name, status, message, seconds in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=case_name, time=f"{seconds:.3f}")
        if status in _CHILD:
            summary = _first_line(message) if status != "xfail" else f"xfail: {_first_line(message)}"
            child = ET.SubElement(case, _CHILD[status], message=summary)
            child.text = message


def junit_xml(results: list[CheckResult], baseline: dict[str, Any] | None = None) -> str:
    """The JUnit XML document for ``results`` (and the baseline comparison's regressions)."""
    root = ET.Element("testsuites", name="tfjs-parity")
    for backend in dict.fromkeys(r.backend for r in results):
        _suite(root, f"tfjs-parity.{backend}", [
            (f"{r.model}.{backend}", r.check, r.status, r.message, r.seconds or 0.0)
            for r in results if r.backend == backend])
    if baseline is not None:
        _suite(root, "tfjs-parity.regressions", [
            (f"{c['model']}.{c['backend']}", f"{c['check']} ({c['kind']})", "fail",
             f"regression against {baseline.get('path')}: {c['summary']}", 0.0)
            for c in baseline["regressions"]])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, results: list[CheckResult], baseline: dict[str, Any] | None = None) -> None:
    """Write ``junit_xml`` to ``path`` atomically."""
    write_atomically(path, junit_xml(results, baseline))
