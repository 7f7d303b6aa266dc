"""``parity.md``: the report as Markdown (summary, matrix, baseline changes, environment,
responsiveness, and a table of every row)."""

from __future__ import annotations

from typing import Any

from harness.report.document import (
    CHANGE_HEADER,
    ENDPOINT_HEADER,
    MATRIX_LEGEND,
    REPEAT_HEADER,
    change_rows,
    endpoint_rows,
    fmt,
    lost_endpoint_lines,
    matrix_rows,
    power_lines,
    repeat_rows,
    spread_line,
    summary_line,
)
from harness.report.speed_table import speed_lines, speed_rows


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


def _repeats_section(repeats: dict[str, Any] | None) -> list[str]:
    if repeats is None:
        return []
    rows = repeat_rows(repeats)
    return ["", f"## Repeats ({repeats['runs_measured']} runs)", "", spread_line(repeats) + ".", "",
            *(_md_table([REPEAT_HEADER, *rows]) if rows else ["Every row had the same status and error in every run."])]


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


def _speed_section(report: dict[str, Any]) -> list[str]:
    if not report.get("speed"):
        return []
    return ["", "## Speed and memory per backend", "", *(f"- {line}" for line in speed_lines(report)), "",
            *_md_table(speed_rows(report))]


def render_markdown(report: dict[str, Any]) -> str:
    """``parity.md``: summary, matrix, environment, and a table of every row."""
    env = report["environment"]
    lines = ["# tfjs-parity report", "", f"**{summary_line(report)}**", ""]
    lines += [*_md_table(matrix_rows(report)), "", MATRIX_LEGEND] if report["results"] else ["(no results)"]
    lines += _baseline_section(report.get("baseline"))
    lines += _repeats_section(report.get("repeats"))
    power = power_lines(report)
    lines += ["", "## Detection power", "", power[0], "", *(f"- {line}" for line in power[1:])] if power else []
    lines += _speed_section(report)
    lines += ["", "## Environment", ""]
    lines += [f"- {key}: {env[key]}" for key in ("browser", "tfjs", "python", "platform", "onednn") if key in env]
    lines += [f"- {name} {version}" for name, version in env.get("libraries", {}).items()]
    if env.get("gpu_note"):
        lines.append(f"- note: {env['gpu_note']}")
    if env.get("tensorflow_log"):
        lines.append(f"- TensorFlow's own log lines: [{env['tensorflow_log']}]({env['tensorflow_log']})")
    bundles = [[url, str(b["version"]), f"`{b['sha256']}`", b["file"]]
               for url, b in env.get("tfjs_bundles", {}).items()]
    if bundles:
        lines += ["", "### tfjs bundles served", "", *_md_table([["URL", "version", "sha256", "file"], *bundles])]
    endpoints = endpoint_rows(report)
    if endpoints:
        lines += ["", "### Remote browser endpoints", "", *_md_table([ENDPOINT_HEADER, *endpoints])]
    lines += [f"- **{line}**" for line in lost_endpoint_lines(report)]
    lines += _responsiveness_section(report.get("responsiveness", []))
    header = ["model", "backend", "check", "status", "max abs err", "max rel err", "atol", "rtol",
              "weights max abs err", "worst element or epoch (browser / keras)", "first ms", "median ms", "message",
              "evidence"]
    table = [header]
    for r in report["results"]:
        details = r.get("details", {})
        first_line = r["message"].splitlines()[0] if r["message"] else ""
        table.append([r["model"], r["backend"], r["check"], r["status"], fmt(r["max_abs_err"]),
                      fmt(r["max_rel_err"]), fmt(r["atol"]), fmt(r["rtol"]),
                      fmt(details.get("weights_max_abs_err")), _worst(details),
                      _ms(details.get("first_ms")), _ms(details.get("median_ms")), first_line.replace("|", "\\|"),
                      " ".join(f"[{kind}]({path})" for kind, path in (details.get("evidence") or {}).items())])
    lines += ["", "## Results", "", *_md_table(table), ""]
    return "\n".join(lines)
