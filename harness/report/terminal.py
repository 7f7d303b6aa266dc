"""What a run prints on the terminal: the model x backend matrix, every failure in full, the
skips and xfails in one line each, regressions, the summary and where the report is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.document import matrix_rows, summary_line


def render_matrix(report: dict[str, Any]) -> str:
    """The matrix as aligned plain text, for the terminal."""
    table = matrix_rows(report)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def render_outcome(report: dict[str, Any], report_path: Path) -> str:
    """Everything a finished run prints: matrix, failures in full, skips and xfails, regressions, summary, paths."""
    rows = report["results"]
    lines = [render_matrix(report)]
    for row in rows:
        if row["status"] in ("fail", "error"):
            lines.append(f"\n[{row['status']}] {row['model']} / {row['check']} / {row['backend']}\n{row['message']}")
    for row in rows:
        if row["status"] in ("xfail", "skip"):
            lines.append(f"[{row['status']}] {row['model']} / {row['check']} / {row['backend']}: "
                         f"{row['message'].splitlines()[0] if row['message'] else ''}")
    regressions = (report.get("baseline") or {}).get("regressions", [])
    if regressions:
        lines.append(f"\nRegressions against the baseline {report['baseline']['path']}:")
        lines += [f"  {c['model']} / {c['check']} / {c['backend']}: {c['summary']}" for c in regressions]
    lines.append(f"\n{summary_line(report)}\nreport: {report_path} (and {report_path.with_suffix('.md')}, "
                 f"{report_path.with_suffix('.html')})")
    return "\n".join(lines)
