"""The parity report: ``parity.json`` (the source of truth), and ``parity.md`` and ``parity.html``
rendered from it.

All three are written atomically (temp file + rename), so a crash never leaves half a report.
Partial reports from pytest-xdist workers live in ``DIR/.parts/`` and are merged, not overwritten.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.results import STATUSES, CheckResult

REPORT_JSON = "parity.json"
REPORT_MD = "parity.md"
REPORT_HTML = "parity.html"
PARTS_DIR = ".parts"
STATUS_ORDER = {"error": 0, "fail": 1, "xfail": 2, "skip": 3, "pass": 4}


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def build_report(environment: dict[str, Any], results: Iterable[CheckResult],
                 baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document: environment, a summary, one row per model x backend x check, and the comparison
    with a baseline report (``baseline.compare_with_baseline``) if there was one."""
    rows = [r.to_dict() for r in results]
    summary = {status: sum(1 for r in rows if r["status"] == status) for status in STATUSES}
    report = {"environment": environment, "summary": summary, "responsiveness": responsiveness(rows), "results": rows}
    if baseline is not None:
        report["baseline"] = baseline
    return report


def responsiveness(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and backend: the main thread's longest timer gap while training on it (``fit``)
    and while a Web Worker trained (``fit-worker``), in milliseconds."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        figures = (row.get("details") or {}).get("responsiveness")
        if row["check"] in ("fit", "fit-worker") and figures:
            entry = table.setdefault((row["model"], row["backend"]), {"model": row["model"], "backend": row["backend"]})
            side = "main_thread" if row["check"] == "fit" else "worker"
            entry[f"{side}_longest_gap_ms"] = round(figures["longestGapMs"], 1)
            entry[f"{side}_train_ms"] = round(figures["durationMs"], 1)
    return list(table.values())


def write_report(directory: Path, environment: dict[str, Any], results: Iterable[CheckResult],
                 baseline: dict[str, Any] | None = None) -> Path:
    """Write ``parity.json``, ``parity.md`` and ``parity.html`` into ``directory``; returns the JSON path."""
    from harness.html_report import render_html

    report = build_report(environment, results, baseline)
    json_path = directory / REPORT_JSON
    write_atomically(json_path, json.dumps(report, indent=2, allow_nan=True) + "\n")
    write_atomically(directory / REPORT_MD, render_markdown(report))
    write_atomically(directory / REPORT_HTML, render_html(report))
    return json_path


def write_part(directory: Path, worker: str, environment: dict[str, Any], results: Iterable[CheckResult]) -> None:
    """A worker's partial report, merged later by ``merge_parts``."""
    write_atomically(directory / PARTS_DIR / f"{worker}.json", json.dumps(build_report(environment, results)))


def merge_parts(directory: Path) -> Path | None:
    """Merge every worker's partial report into ``parity.json``/``parity.md``; None if there are none."""
    parts = sorted((directory / PARTS_DIR).glob("*.json"))
    if not parts:
        return None
    environment: dict[str, Any] = {}
    results: list[CheckResult] = []
    for part in parts:
        raw = json.loads(part.read_text())
        backends = {**environment.get("backends", {}), **raw["environment"].get("backends", {})}
        environment = {**environment, **raw["environment"], "backends": backends}
        results += [CheckResult.from_dict(r) for r in raw["results"]]
    path = write_report(directory, environment, results)
    for part in parts:
        part.unlink()
    return path


def summary_line(report: dict[str, Any]) -> str:
    """``"22 pass, 1 fail, 1 error, 0 skip"`` (and ``"; 2 regression(s) against the baseline"``)."""
    line = ", ".join(f"{n} {status}" for status, n in report["summary"].items())
    if "baseline" in report:
        line += f"; {len(report['baseline']['regressions'])} regression(s) against the baseline"
    return line


CHANGE_HEADER = ["model", "backend", "check", "what", "before", "after", "change"]


def change_rows(changes: list[dict[str, Any]]) -> list[list[str]]:
    """Regressions or improvements as table rows (``CHANGE_HEADER``)."""
    return [[c["model"], c["backend"], c["check"], c["kind"], _fmt(c["before"]), _fmt(c["after"]), c["summary"]]
            for c in changes]


def _baseline_section(baseline: dict[str, Any] | None) -> list[str]:
    if baseline is None:
        return []
    rules = baseline["rules"]
    lines = ["", "## Regressions against the baseline", "",
             f"Baseline: `{baseline['path']}`. A regression is a check that passed and now fails or errors, a max abs "
             f"error grown more than {rules['error_factor']:g}x (and above {rules['error_floor']:g}), or a median "
             f"latency grown more than {rules['latency_percent']:g}%.", ""]
    for title, key in (("Regressions", "regressions"), ("Improvements", "improvements")):
        changes = baseline[key]
        lines += [f"### {title} ({len(changes)})", ""]
        lines += [*_md_table([CHANGE_HEADER, *change_rows(changes)]), ""] if changes else ["None.", ""]
    for title, key in (("Checks not in the baseline", "added"), ("Baseline checks not run now", "gone")):
        if baseline[key]:
            lines += [f"{title}: " + ", ".join(" / ".join(k) for k in baseline[key]), ""]
    return lines


def _cell(rows: list[dict[str, Any]]) -> str:
    status = min((r["status"] for r in rows), key=STATUS_ORDER.__getitem__)
    # A known upstream bug's error (xfail) would hide the cell's real figure.
    errors = [r["max_abs_err"] for r in rows if r.get("max_abs_err") is not None and r["status"] != "xfail"]
    return f"{status} {max(errors):.1e}" if errors else status


def matrix_rows(report: dict[str, Any]) -> list[list[str]]:
    """Model x backend matrix: worst status of the cell's checks and the largest abs error."""
    rows = report["results"]
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    table = [["model", *backends]]
    for model in models:
        line = [model]
        for backend in backends:
            cell = [r for r in rows if r["model"] == model and r["backend"] == backend]
            line.append(_cell(cell) if cell else "-")
        table.append(line)
    return table


def render_matrix(report: dict[str, Any]) -> str:
    """The matrix as aligned plain text, for the terminal."""
    table = matrix_rows(report)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.2e}" if isinstance(value, float) else str(value)


def _worst(details: dict[str, Any]) -> str:
    """The worst element of a predict row, or the worst epoch (else value, else weight) of a training row."""
    worst = details.get("worst")
    if worst:
        return f"{worst['output']}{worst['index']}: {worst['browser']:.9g} / {worst['keras']:.9g}"
    epoch = details.get("worst_epoch")
    if epoch and "epoch" in epoch:
        return f"{epoch['metric']} epoch {epoch['epoch']}: {epoch['browser']:.9g} / {epoch['keras']:.9g}"
    for key in ("worst_value", "worst_weight"):
        entry = details.get(key)
        if entry and "index" in entry:
            return f"{entry['name']}{entry['index']}: {entry['browser']:.9g} / {entry['keras']:.9g}"
    return ""


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _md_table(table: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    return lines + ["| " + " | ".join(row) + " |" for row in table[1:]]


def _responsiveness_section(entries: list[dict[str, Any]]) -> list[str]:
    if not entries:
        return []
    table = [["model", "backend", "longest main-thread gap: training on the page (ms)",
              "longest main-thread gap: training in a Web Worker (ms)"]]
    table += [[e["model"], e["backend"], _ms(e.get("main_thread_longest_gap_ms")), _ms(e.get("worker_longest_gap_ms"))]
              for e in entries]
    return ["", "## Main-thread responsiveness while training", "",
            "Longest gap between 5 ms main-thread timer ticks; lower is more responsive.", "", *_md_table(table)]


def render_markdown(report: dict[str, Any]) -> str:
    """``parity.md``: summary, matrix, environment, and a table of every row."""
    env = report["environment"]
    lines = ["# tfjs-parity report", "", f"**{summary_line(report)}**", ""]
    lines += _md_table(matrix_rows(report)) if report["results"] else ["(no results)"]
    lines += _baseline_section(report.get("baseline"))
    lines += ["", "## Environment", ""]
    lines += [f"- {key}: {env[key]}" for key in ("browser", "tfjs", "python", "platform", "onednn") if key in env]
    lines += [f"- {name} {version}" for name, version in env.get("libraries", {}).items()]
    if env.get("gpu_note"):
        lines.append(f"- note: {env['gpu_note']}")
    lines += _responsiveness_section(report.get("responsiveness", []))
    header = ["model", "backend", "check", "status", "max abs err", "max rel err", "atol", "rtol",
              "weights max abs err", "worst element or epoch (browser / keras)", "first ms", "median ms", "message"]
    table = [header]
    for r in report["results"]:
        details = r.get("details", {})
        first_line = r["message"].splitlines()[0] if r["message"] else ""
        table.append([r["model"], r["backend"], r["check"], r["status"], _fmt(r["max_abs_err"]),
                      _fmt(r["max_rel_err"]), _fmt(r["atol"]), _fmt(r["rtol"]),
                      _fmt(details.get("weights_max_abs_err")), _worst(details),
                      _ms(details.get("first_ms")), _ms(details.get("median_ms")), first_line.replace("|", "\\|")])
    lines += ["", "## Results", "", *_md_table(table), ""]
    return "\n".join(lines)
