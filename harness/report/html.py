"""``parity.html``: the report as one self-contained page (no network: styles and plots inline).

Top to bottom: the summary line, the failures in full (each explained one first with its cause,
workaround and repro links, and the per-layer error curve; then its evidence), regressions against a
baseline, the model x backend matrix, the heatmap of error / tolerance over model x check x backend,
the plots (training loss difference against its tolerance, absolute-error distribution, latency),
the environment, then every row, one collapsible section per model (open when it has a failure).
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from harness.report.document import (
    CHANGE_HEADER,
    ENDPOINT_HEADER,
    MATRIX_LEGEND,
    REPEAT_HEADER,
    change_rows,
    endpoint_rows,
    lost_endpoint_lines,
    matrix_rows,
    power_lines,
    repeat_rows,
    spread_line,
    summary_line,
)
from harness.report.html_plots import (
    error_distribution_chart,
    latency_chart,
    layer_error_chart,
    speed_chart,
    training_error_charts,
)
from harness.report.speed_table import speed_lines, speed_rows
from harness.report.svg_charts import data_uri

STATUS_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "error": "#ef9a9a", "xfail": "#fff9c4", "skip": "#eeeeee"}
# The heatmap's scale: how much of its tolerance a row uses, by decade (the last one fails).
RATIO_BANDS = ((1e-3, "#e8f5e9", "below 1e-3"), (1e-2, "#c8e6c9", "1e-3 to 1e-2"), (1e-1, "#81c784", "1e-2 to 0.1"),
               (1.0, "#ffd54f", "0.1 to 1: little margin"), (math.inf, "#e57373", "above 1: fails"))
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.cell { text-align: center; white-space: nowrap; }
pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
.plots img { margin: 0 1em 1em 0; border: 1px solid #eee; }
.note { color: #8a6d00; }
.failure { border-left: 4px solid #c62828; padding: 0.2em 0.8em; margin: 0 0 1em; }
.why { background: #fff8e1; padding: 0.4em 0.8em; margin: 0.4em 0; } .why p { margin: 0.2em 0; }
details { margin: 0 0 0.5em; } summary { cursor: pointer; font-weight: bold; }
.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 0.3em 0 1em; }
""" + "".join(f"td.{status} {{ background: {hue}; }}\n" for status, hue in STATUS_COLOURS.items())


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already escaped HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _title(row: dict[str, Any]) -> str:
    return f"{row['model']} / {row['check']} / {row['backend']}"


def _evidence_links(details: dict[str, Any]) -> str:
    """Links to a failed row's console log, screenshot and trace (``playwright show-trace`` opens the trace)."""
    evidence = details.get("evidence") or {}
    if not evidence:
        return ""
    links = " ".join(f'<a href="{escape(path)}">{escape(Path(path).name)}</a>' for path in evidence.values())
    return f'<p class="evidence">evidence: {links} (open the trace with <code>playwright show-trace</code>)</p>'


def _why(details: dict[str, Any]) -> str:
    """An explained failure's cause, workaround and repro (with links to its page and ISSUE.md), and the curve of
    each layer's error over its tolerance (``harness.explain``)."""
    explanation = details.get("explanation") or {}
    if not explanation.get("lines"):
        return ""
    lines = "".join(f"<p>{escape(line)}</p>" for line in explanation["lines"])
    repro = (explanation.get("repro") or {}).get("relative")
    links = (f'<p>repro: <a href="{escape(repro)}/index.html">index.html</a> (serve the folder: '
             f'<code>python3 -m http.server</code>), <a href="{escape(repro)}/ISSUE.md">ISSUE.md</a></p>'
             if repro else "")
    curve = layer_error_chart(explanation)
    chart = f'<p><img alt="error per layer" src="{data_uri(curve)}"></p>' if curve else ""
    return f'<div class="why">{lines}{links}{chart}</div>'


def _failures(results: list[dict[str, Any]]) -> str:
    failed = [r for r in results if r["status"] in ("fail", "error")]
    if not failed:
        return ""
    failed.sort(key=lambda r: "explanation" not in (r.get("details") or {}))
    items = "".join(f'<div class="failure"><h3>[{escape(r["status"])}] {escape(_title(r))}</h3>'
                    f"{_why(r.get('details') or {})}<pre>{escape(r['message'])}</pre>"
                    f"{_evidence_links(r.get('details') or {})}</div>" for r in failed)
    return f"<h2>Failures ({len(failed)})</h2>{items}"


def _matrix(report: dict[str, Any]) -> str:
    table = matrix_rows(report)
    rows = [[escape(line[0]), *(f'<td class="cell {escape(cell.split()[0])}">{escape(cell)}</td>'
                                for cell in line[1:])] for line in table[1:]]
    return f"<h2>Matrix</h2>{_table(table[0], rows)}<p>{escape(MATRIX_LEGEND)}</p>"


def _band(ratio: float) -> str:
    return next(hue for limit, hue, _ in RATIO_BANDS if ratio <= limit)


def _heat_cell(rows: list[dict[str, Any]]) -> str:
    """A heatmap cell: the row's error / tolerance on the band's colour; its status when it has no ratio."""
    if not rows:
        return '<td class="cell">-</td>'
    row = rows[0]
    ratio = row.get("tolerance_ratio")
    figures = (f"max abs err {row['max_abs_err']:.2e}, atol {row['atol']:.2g}, rtol {row['rtol']:.2g}"
               if row.get("max_abs_err") is not None and row.get("atol") is not None else "")
    hint = escape(f"{row['status']}: {figures}" if figures else row["status"])
    if ratio is None or row["status"] not in ("pass", "fail"):
        exact = row["status"] == "pass" and row.get("atol") == 0 and row.get("max_abs_err") == 0
        text = "identical" if exact else row["status"]
        return f'<td class="cell {escape(row["status"])}" title="{hint}">{escape(text)}</td>'
    return (f'<td class="cell {escape(row["status"])}" style="background: {_band(ratio)}" title="{hint}">'
            f"{ratio:.2g}</td>")


def _heatmap(results: list[dict[str, Any]]) -> str:
    """Model x check rows, backend columns: how much of its tolerance each row uses."""
    backends = list(dict.fromkeys(r["backend"] for r in results))
    keys = list(dict.fromkeys((r["model"], r["check"]) for r in results))
    rows = [[escape(model), escape(check),
             *(_heat_cell([r for r in results if (r["model"], r["check"], r["backend"]) == (model, check, b)])
               for b in backends)] for model, check in keys]
    legend = "".join(f'<span class="swatch" style="background: {hue}"></span>{escape(label)}'
                     for _, hue, label in RATIO_BANDS)
    return ("<h2>Error / tolerance, every check</h2><p>Each cell: the row's largest error divided by its allowance "
            "(atol + rtol &times; |expected|); hover for the figures. Exact comparisons show "
            "<em>identical</em>, rows without a figure their status. Quantized conversions sit near 0.5 by "
            "construction: their tolerance is twice the quantization's own effect on the outputs.</p>"
            f"<p>{legend}</p>"
            + f'<div id="heatmap">{_table(["model", "check", *backends], rows)}</div>')


def _baseline(baseline: dict[str, Any] | None) -> str:
    if baseline is None:
        return ""
    html = f"<h2>Regressions against the baseline</h2><p>Baseline: <code>{escape(baseline['path'])}</code></p>"
    for title, key in (("Regressions", "regressions"), ("Improvements", "improvements")):
        changes = baseline[key]
        rows = [[escape(cell) for cell in row] for row in change_rows(changes)]
        html += f"<h3>{title} ({len(changes)})</h3>" + (_table(CHANGE_HEADER, rows) if rows else "<p>None.</p>")
    return html


def _repeats(repeats: dict[str, Any] | None) -> str:
    if repeats is None:
        return ""
    rows = [[escape(cell) for cell in row] for row in repeat_rows(repeats)]
    return (f"<h2>Repeats ({repeats['runs_measured']} runs)</h2><p>{escape(spread_line(repeats))}.</p>"
            + (_table(REPEAT_HEADER, rows) if rows else "<p>Every row had the same status and error in every run.</p>"))


def _power(report: dict[str, Any]) -> str:
    lines = power_lines(report)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines[1:])
    return f"<h2>Detection power</h2><p>{escape(lines[0])}</p><ul>{items}</ul>"


def _speed(report: dict[str, Any]) -> str:
    """Which backend to ship: the per-backend table, its summary lines and its chart."""
    if not report.get("speed"):
        return ""
    header, *rows = speed_rows(report)
    items = "".join(f"<li>{escape(line)}</li>" for line in speed_lines(report))
    charts = "".join(f'<img alt="latency per backend" src="{data_uri(svg)}" width="640" height="300">'
                     for svg in speed_chart(report))
    return (f"<h2>Speed and memory per backend</h2><ul>{items}</ul>"
            + _table(header, [[escape(cell) for cell in row] for row in rows]) + f'<div class="plots">{charts}</div>')


def _plots(results: list[dict[str, Any]]) -> str:
    charts = training_error_charts(results) + error_distribution_chart(results) + latency_chart(results)
    images = "".join(f'<img alt="chart" src="{data_uri(svg)}" width="640" height="300">' for svg in charts)
    note = ('<p class="note">WebGL and WebGPU ran on SwiftShader (software) here: their latencies are not GPU '
            "timings.</p>")
    return f'<h2>Plots</h2>{note}<div class="plots">{images or "<p>No plottable rows.</p>"}</div>'


def _environment(report: dict[str, Any]) -> str:
    env = report["environment"]
    facts = [[escape(key), escape(str(env[key]))] for key in ("browser", "tfjs", "python", "platform", "onednn")
             if key in env]
    facts += [[escape(name), escape(str(version))] for name, version in env.get("libraries", {}).items()]
    html = "<h2>Environment</h2>" + _table(["what", "version"], facts)
    if env.get("gpu_note"):
        html += f'<p class="note">{escape(env["gpu_note"])}</p>'
    if env.get("tensorflow_log"):
        log = escape(env["tensorflow_log"])
        html += f'<p>TensorFlow\'s own log lines: <a href="{log}">{log}</a></p>'
    keys = ["tfjsVersion", "floatPrecision", "webglRenderFloat32Enabled", "webglPack", "wasmBinary", "wasmThreads",
            "crossOriginIsolated", "webglRenderer"]
    backends = env.get("backends", {})
    rows = [[escape(name), *(escape(str(info.get(k))) for k in keys)] for name, info in backends.items()]
    html += "<h3>Backends as the page reported them</h3>" + _table(["backend", *keys], rows) if rows else ""
    bundles = [[escape(url), escape(str(b["version"])), f"<code>{escape(b['sha256'])}</code>", escape(b["file"])]
               for url, b in env.get("tfjs_bundles", {}).items()]
    html += "<h3>tfjs bundles served</h3>" + _table(["URL", "version", "sha256", "file"], bundles) if bundles else ""
    endpoints = [[escape(cell) for cell in row] for row in endpoint_rows(report)]
    html += "<h3>Remote browser endpoints</h3>" + _table(ENDPOINT_HEADER, endpoints) if endpoints else ""
    return html + "".join(f'<p class="failure">{escape(line)}</p>' for line in lost_endpoint_lines(report))


def _details(results: list[dict[str, Any]]) -> str:
    """Every row, one collapsible section per model, open when the model has a failure."""
    header = ["backend", "check", "status", "max abs err", "max rel err", "atol", "rtol", "error / tolerance",
              "first ms", "median ms", "message"]
    sections = []
    for model in dict.fromkeys(r["model"] for r in results):
        mine = [r for r in results if r["model"] == model]
        failed = sum(r["status"] in ("fail", "error") for r in mine)
        rows = []
        for r in mine:
            details = r.get("details") or {}
            figures = [r.get("max_abs_err"), r.get("max_rel_err"), r.get("atol"), r.get("rtol"),
                       r.get("tolerance_ratio")]
            timing = [details.get("first_ms"), details.get("median_ms")]
            rows.append([escape(r["backend"]), escape(r["check"]),
                         f'<td class="{r["status"]}">{escape(r["status"])}</td>',
                         *("" if v is None else f"{v:.2e}" for v in figures),
                         *("" if v is None else f"{v:.1f}" for v in timing),
                         (f"<pre>{escape(r['message'])}</pre>" if r["message"] else "") + _evidence_links(details)])
        counts = f"{len(mine)} rows" + (f", {failed} failed" if failed else "")
        sections.append(f"<details{' open' if failed else ''}><summary>{escape(model)} ({counts})</summary>"
                        + _table(header, rows) + "</details>")
    return "<h2>Every check</h2>" + "".join(sections)


def render_html(report: dict[str, Any]) -> str:
    """The whole page for a ``parity.json`` document."""
    results = report["results"]
    body = f"<h1>tfjs-parity report</h1><p><strong>{escape(summary_line(report))}</strong></p>"
    if results:
        body += (_failures(results) + _baseline(report.get("baseline")) + _repeats(report.get("repeats"))
                 + _power(report) + _matrix(report) + _speed(report) + _heatmap(results)
                 + _plots(results) + _environment(report) + _details(results))
    else:
        body += _baseline(report.get("baseline")) + "<p>No results.</p>" + _environment(report)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tfjs-parity report</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")
