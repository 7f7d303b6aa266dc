"""The parity report as a document: the JSON structure every rendering reads (``parity.json`` is
the source of truth), its summary line, and the model x backend matrix and change tables the
renderings share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.report.speed_table import speed_table
from harness.results import STATUSES, CheckResult

STATUS_ORDER = {"error": 0, "fail": 1, "xfail": 2, "skip": 3, "pass": 4}
MATRIX_LEGEND = ("Each cell: the worst status of the model's checks that ran on that backend (skip only when none "
                 "ran; each skip is listed with its reason), and predict's largest error / tolerance (1 is at the "
                 "tolerance's limit, above 1 fails). Every check's ratio: parity.html. A model marked (weak "
                 "reference) has outputs that spread only 10x-100x the tolerance: what predict can catch with them "
                 "is under Detection power.")
CHANGE_HEADER = ["model", "backend", "check", "what", "before", "after", "change"]


def build_report(environment: dict[str, Any], results: Iterable[CheckResult],
                 baseline: dict[str, Any] | None = None, blocks: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document: environment, a summary, one row per model x backend x check, the comparison with a
    baseline report (``baseline.compare_with_baseline``) if there was one, and ``blocks``: why the run stopped
    early (``interrupted``), what changed between repeated runs (``repeats``, see ``run.repeats``), what
    ``predict`` could catch (``power``, see ``run.power``)."""
    rows = [r.to_dict() for r in results]
    summary = {status: sum(1 for r in rows if r["status"] == status) for status in STATUSES}
    report = {"environment": environment, "summary": summary, "responsiveness": responsiveness(rows),
              "speed": speed_table(rows), "results": rows}
    if baseline is not None:
        report["baseline"] = baseline
    report.update({key: value for key, value in (blocks or {}).items() if value is not None})
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


def acceptance_lines(report: dict[str, Any]) -> list[str]:
    """The accepted known issues (each with the rows it made ``xfail``) and the stale acceptances, one line each."""
    block = report.get("acceptance") or {}
    lines = [f"accepted [{e['id']}] ({e['source']}): {e['rows']} row(s) xfail: {e['reason']}"
             for e in block.get("accepted", [])]
    lines += [f"STALE acceptance [{e['id']}] ({e['source']}): rows in its scope ran and none fails with it any more; "
              "remove it" for e in block.get("stale", [])]
    return lines


def summary_line(report: dict[str, Any]) -> str:
    """``"22 pass, 1 fail, 1 error, 0 skip"`` (and ``"; 2 regression(s) against the baseline"``), after
    ``"INTERRUPTED (...):"`` when the run stopped early."""
    line = ", ".join(f"{n} {status}" for status, n in report["summary"].items())
    if report.get("interrupted"):
        line = f"INTERRUPTED ({report['interrupted']}): {line}"
    if "baseline" in report:
        line += f"; {len(report['baseline']['regressions'])} regression(s) against the baseline"
    if "repeats" in report:
        repeats = report["repeats"]
        line += (f"; run {repeats['runs_measured']} times: {len(repeats['status_changed'])} row(s) changed status, "
                 f"{len(repeats['error_changed'])} changed error only")
    return line


def time_lines(report: dict[str, Any]) -> list[str]:
    """The ``estimate`` block in words: per model and backend, the time its checks took against the estimate printed
    before them (``run.cost``)."""
    estimate = report.get("estimate") or {}
    lines = [f"{model} / {backend}: took {_minutes(entry.get('took_s'))}, estimated "
             f"{_minutes(entry.get('estimated_s'))}"
             for model, backends in estimate.items() for backend, entry in backends.items()]
    return ["Time per model and backend (checks only):", *lines] if lines else []


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "nothing (no figure to estimate from)"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def power_lines(report: dict[str, Any]) -> list[str]:
    """The ``power`` block in words: a heading line, then one line per model (a missed fault says ``WARNING``)."""
    power = report.get("power")
    if not power:
        return []
    lines = [f"Detection power on {power['backend']} (faults planted into each model; predict against the unchanged "
             "reference):"]
    for model, figures in power["models"].items():
        if figures.get("weak_reference"):
            lines.append(f"WEAK reference {model}: " + "; ".join(figures["weak_reference"]))
        if "note" in figures:
            lines.append(f"{model}: {figures['note']}")
            continue
        smallest = figures["smallest_flagged_change"] or {}
        flagged = (f"; the smallest change of one weight it flags: {fmt(smallest['relative'])} relative "
                   f"({smallest['weight']})" if smallest.get("relative") else "")
        line = f"{model}: {figures['caught']} of {figures['planted']} planted faults caught{flagged}"
        lines.append(f"WARNING {line}. {figures['warning']}" if figures["warning"] else line)
    return lines


REPEAT_HEADER = ["model", "backend", "check", "statuses", "max abs error per run"]


def repeat_rows(repeats: dict[str, Any]) -> list[list[str]]:
    """The rows that changed between repeated runs (status first), as table rows (``REPEAT_HEADER``)."""
    return [[e["model"], e["backend"], e["check"], " ".join(e["statuses"]), " ".join(map(fmt, e["max_abs_err"]))]
            for e in [*repeats["status_changed"], *repeats["error_changed"]]]


def spread_line(repeats: dict[str, Any]) -> str:
    """``"largest error spread over the runs: cpu 0 (mlp / predict), webgl 1.2e-07 (cnn / fit)"``."""
    widest = repeats["largest_spread"].items()
    return "largest error spread over the runs: " + ", ".join(
        f"{backend} {fmt(w['spread'])} ({w['model']} / {w['check']})" for backend, w in widest)


def change_rows(changes: list[dict[str, Any]]) -> list[list[str]]:
    """Regressions or improvements as table rows (``CHANGE_HEADER``)."""
    return [[c["model"], c["backend"], c["check"], c["kind"], fmt(c["before"]), fmt(c["after"]), c["summary"]]
            for c in changes]


def _cell(rows: list[dict[str, Any]]) -> str:
    # The worst status of the checks that ran: a cell whose checks pass but for some skips reads pass.
    ran = [r["status"] for r in rows if r["status"] != "skip"] or ["skip"]
    status = min(ran, key=STATUS_ORDER.__getitem__)
    ratios = [r["tolerance_ratio"] for r in rows if r["check"] == "predict" and r.get("tolerance_ratio") is not None]
    return f"{status} {ratios[0]:.2g}" if ratios else status


def matrix_rows(report: dict[str, Any]) -> list[list[str]]:
    """Model x backend matrix: worst status of the cell's checks and predict's error / tolerance
    (``MATRIX_LEGEND``)."""
    rows = report["results"]
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    table = [["model", *backends]]
    weak = {r["model"] for r in rows if (r.get("details") or {}).get("weak_reference")}
    for model in models:
        line = [f"{model} (weak reference)" if model in weak else model]
        for backend in backends:
            cell = [r for r in rows if r["model"] == model and r["backend"] == backend]
            line.append(_cell(cell) if cell else "-")
        table.append(line)
    return table


ENDPOINT_HEADER = ["endpoint", "URL", "browser", "backend", "renderer", "cross-origin isolated", "WASM threads",
                   "rows", "models"]


def endpoint_rows(report: dict[str, Any]) -> list[list[str]]:
    """Per remote browser endpoint and backend: the browser and the facts it showed, and the rows it ran
    (``ENDPOINT_HEADER``); empty for a run in the local browser."""
    table = []
    for name, facts in report["environment"].get("browser_endpoints", {}).items():
        for backend, info in facts.get("backends", {}).items():
            ran = [r for r in report["results"] if (r.get("details") or {}).get("endpoint") == name
                   and r["backend"] == backend]
            table.append([name, facts["url"], facts["browser"], backend, str(info.get("webglRenderer") or ""),
                          str(info.get("crossOriginIsolated")), str(info.get("wasmThreads") or ""), str(len(ran)),
                          ", ".join(dict.fromkeys(r["model"] for r in ran))])
    return table


def lost_endpoint_lines(report: dict[str, Any]) -> list[str]:
    """One line per browser endpoint lost during the run (or that never started), saying why."""
    return [f"browser endpoint {name} was lost: {reason}"
            for name, reason in report["environment"].get("browser_endpoints_lost", {}).items()]


def fmt(value: Any) -> str:
    """A figure as the tables show it: 2 decimals in scientific notation, empty for None."""
    if value is None:
        return ""
    return f"{value:.2e}" if isinstance(value, float) else str(value)
