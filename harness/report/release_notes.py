"""The parity section of a release's notes: the report's summary, matrix and regressions, merged into
the notes a person wrote (``python -m harness.report.release_notes PARITY.MD NOTES.MD`` prints the
merged notes; the release workflow calls it). Running it again replaces the section, never repeats it."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- tfjs-parity report: begin -->", "<!-- tfjs-parity report: end -->"
_SECTION = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def parity_section(parity_md: str) -> str:
    """``parity.md`` up to its environment (summary line, matrix and legend, regressions), as a notes section
    that says where the full report is."""
    head = parity_md.split("\n## Environment", 1)[0]
    head = head.replace("# tfjs-parity report", "## Parity report (tfjs-parity)", 1).strip()
    return (f"{BEGIN}\n{head}\n\nThe full report (`parity.html`, `parity.json`, JUnit XML) and the wheel are "
            f"attached to this release.\n{END}")


def merge_notes(notes: str, section: str) -> str:
    """``notes`` with ``section`` in place of an earlier parity section, or appended after them."""
    if _SECTION.search(notes):
        return _SECTION.sub(lambda _: section, notes)
    return f"{notes.rstrip()}\n\n{section}\n" if notes.strip() else f"{section}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report.release_notes", description=__doc__)
    parser.add_argument("parity_md", type=Path, help="the run's parity.md")
    parser.add_argument("notes", type=Path, help="the release's current notes (may be empty)")
    args = parser.parse_args(argv)
    notes = args.notes.read_text() if args.notes.is_file() else ""
    sys.stdout.write(merge_notes(notes, parity_section(args.parity_md.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
