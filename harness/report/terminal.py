"""What a run prints on the terminal: the model x backend matrix, every failure in full, the
skips and xfails in one line each, regressions, the summary and where the report is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.speed_table import speed_lines
from harness.report.document import (
    MATRIX_LEGEND,
    acceptance_lines,
    lost_endpoint_lines,
    matrix_rows,
    power_lines,
    summary_line,
    time_lines,
)


def render_matrix(report: dict[str, Any]) -> str:
    """The matrix as aligned plain text, for the terminal, with its legend."""
    table = matrix_rows(report)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join([*lines, MATRIX_LEGEND])


def _evidence_line(row: dict[str, Any], report_dir: Path) -> list[str]:
    """Where a failed row's console log, screenshot and trace are, and how to open the trace."""
    evidence = (row.get("details") or {}).get("evidence") or {}
    if not evidence:
        return []
    folder = report_dir / Path(next(iter(evidence.values()))).parent
    line = f"evidence in {folder}/: {', '.join(Path(p).name for p in evidence.values())}"
    if "trace" in evidence:
        line += f" (open the trace: playwright show-trace {report_dir / evidence['trace']})"
    return [line]


def _grouped_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One line per model, status and reason for the xfails and skips: the checks and backends it covers."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] in ("xfail", "skip"):
            reason = row["message"].splitlines()[0] if row["message"] else ""
            groups.setdefault((row["status"], row["model"], reason), []).append(row)
    lines = []
    for (status, model, reason), group in groups.items():
        checks = ", ".join(dict.fromkeys(r["check"] for r in group))
        backends = ", ".join(dict.fromkeys(r["backend"] for r in group))
        lines.append(f"[{status}] {model} / {checks} / {backends}: {reason}")
    return lines


def _explained(rows: list[dict[str, Any]]) -> list[str]:
    """Each explained failure's three lines (cause, workaround, repro), under its title."""
    explained = [row for row in rows if ((row.get("details") or {}).get("explanation") or {}).get("lines")]
    if not explained:
        return []
    lines = ["\nWhy it failed, and what to do:"]
    for row in explained:
        lines.append(f"  {row['model']} / {row['check']} / {row['backend']}")
        lines += [f"    {line}" for line in row["details"]["explanation"]["lines"]]
    return lines


def render_outcome(report: dict[str, Any], report_path: Path) -> str:
    """Everything a finished run prints: matrix, failures in full, skips and xfails, regressions, summary, paths."""
    rows = report["results"]
    lines = [render_matrix(report)]
    for row in rows:
        if row["status"] in ("fail", "error"):
            lines.append(f"\n[{row['status']}] {row['model']} / {row['check']} / {row['backend']}\n{row['message']}")
            lines += _evidence_line(row, report_path.parent)
    lines += _grouped_notes(rows)
    lines += _explained(rows)
    lines += acceptance_lines(report)
    lines += lost_endpoint_lines(report)
    power = power_lines(report)
    lines += [f"\n{power[0]}", *(f"  {line}" for line in power[1:])] if power else []
    speed = speed_lines(report)
    lines += ["\nSpeed per backend (the table: parity.md, parity.html):", *(f"  {line}" for line in speed)] \
        if speed else []
    times = time_lines(report)
    lines += [f"\n{times[0]}", *(f"  {line}" for line in times[1:])] if times else []
    regressions = (report.get("baseline") or {}).get("regressions", [])
    if regressions:
        lines.append(f"\nRegressions against the baseline {report['baseline']['path']}:")
        lines += [f"  {c['model']} / {c['check']} / {c['backend']}: {c['summary']}" for c in regressions]
    lines.append(f"\n{summary_line(report)}\nreport: {report_path} (and {report_path.with_suffix('.md')}, "
                 f"{report_path.with_suffix('.html')})")
    if report["environment"].get("tensorflow_log"):
        lines.append(f"TensorFlow's own log lines: {report_path.parent / report['environment']['tensorflow_log']}")
    return "\n".join(lines)
