"""``parity.html``: the report as one self-contained page (no network: styles and plots inline).

Top to bottom: environment, summary, regressions against a baseline, the coloured matrix
(model x check rows, backend columns), plots (loss curves, absolute-error distributions, latency),
then every row's details.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.verdict.compare import ERROR_DECADES
from harness.report.document import CHANGE_HEADER, STATUS_ORDER, change_rows, summary_line
from harness.report.svg_charts import REFERENCE_COLOUR, Series, bar_chart, colour, data_uri, line_chart

STATUS_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "error": "#ef9a9a", "xfail": "#fff9c4", "skip": "#eeeeee"}
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.cell { text-align: center; white-space: nowrap; }
pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
.plots img { margin: 0 1em 1em 0; border: 1px solid #eee; }
.note { color: #8a6d00; }
""" + "".join(f"td.{status} {{ background: {hue}; }}\n" for status, hue in STATUS_COLOURS.items())


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already escaped HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _environment(env: dict[str, Any]) -> str:
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
    return html + ("<h3>tfjs bundles served</h3>" + _table(["URL", "version", "sha256", "file"], bundles)
                   if bundles else "")


def _cell(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<td class="cell">-</td>'
    status = min((r["status"] for r in rows), key=STATUS_ORDER.__getitem__)
    error = rows[0].get("max_abs_err")
    text = escape(status) + (f"<br>{error:.1e}" if error is not None and status != "xfail" else "")
    tolerance = f"atol {rows[0]['atol']:.2g}, rtol {rows[0]['rtol']:.2g}" if rows[0].get("atol") is not None else ""
    return f'<td class="cell {status}" title="{escape(tolerance)}">{text}</td>'


def _matrix(results: list[dict[str, Any]]) -> str:
    backends = list(dict.fromkeys(r["backend"] for r in results))
    keys = list(dict.fromkeys((r["model"], r["check"]) for r in results))
    rows = []
    for model, check in keys:
        cells = [_cell([r for r in results if (r["model"], r["check"], r["backend"]) == (model, check, backend)])
                 for backend in backends]
        rows.append([escape(model), escape(check), *cells])
    return "<h2>Summary</h2>" + _table(["model", "check", *backends], rows)


def _baseline(baseline: dict[str, Any] | None) -> str:
    if baseline is None:
        return ""
    html = f"<h2>Regressions against the baseline</h2><p>Baseline: <code>{escape(baseline['path'])}</code></p>"
    for title, key in (("Regressions", "regressions"), ("Improvements", "improvements")):
        changes = baseline[key]
        rows = [[escape(cell) for cell in row] for row in change_rows(changes)]
        html += f"<h3>{title} ({len(changes)})</h3>" + (_table(CHANGE_HEADER, rows) if rows else "<p>None.</p>")
    return html


def _loss_charts(results: list[dict[str, Any]]) -> list[str]:
    """Per model: Keras' training loss per epoch, and each backend's (the ``fit`` check)."""
    charts = []
    backends = list(dict.fromkeys(r["backend"] for r in results))
    for model in dict.fromkeys(r["model"] for r in results):
        fits = {r["backend"]: r["details"]["history"] for r in results
                if r["model"] == model and r["check"] == "fit" and (r.get("details") or {}).get("history")}
        if not fits:
            continue
        keras = next(iter(fits.values()))["keras"].get("loss", [])
        series: list[Series] = [(b, list(fits[b]["browser"].get("loss", [])), colour(backends.index(b)))
                                for b in backends if b in fits]
        series.append(("Keras (Python)", list(keras), REFERENCE_COLOUR))
        charts.append(line_chart(f"{model}: training loss per epoch (fit)", [str(e + 1) for e in range(len(keras))],
                                 series, "loss"))
    return charts


def _error_chart(results: list[dict[str, Any]]) -> list[str]:
    """Per backend: the share of predicted elements in each decade of |browser - Keras| (``predict``)."""
    series: list[Series] = []
    backends = list(dict.fromkeys(r["backend"] for r in results))
    for backend in backends:
        counts = [r["details"]["error_decades"] for r in results if r["backend"] == backend and r["check"] == "predict"
                  and (r.get("details") or {}).get("error_decades")]
        if counts:
            total = [sum(column) for column in zip(*counts)]
            elements = sum(total) or 1
            series.append((backend, [100.0 * n / elements for n in total], colour(backends.index(backend))))
    if not series:
        return []
    labels = ["<1e-12", *(f"{edge:.0e}" for edge in ERROR_DECADES)]
    return [line_chart("Distribution of |browser - Keras| over all predict outputs", labels, series,
                       "% of elements (bin = decade from label)")]


def _latency_chart(results: list[dict[str, Any]]) -> list[str]:
    """Per model and backend: in-browser median predict latency (bar) and first call (black tick)."""
    rows = [r for r in results if r["check"] == "predict" and (r.get("details") or {}).get("median_ms") is not None]
    if not rows:
        return []
    models = list(dict.fromkeys(r["model"] for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    medians: list[Series] = []
    firsts: list[Series] = []
    for backend in backends:
        by_model = {r["model"]: r["details"] for r in rows if r["backend"] == backend}
        if by_model:
            hue = colour(backends.index(backend))
            medians.append((backend, [by_model.get(m, {}).get("median_ms") for m in models], hue))
            firsts.append((backend, [by_model.get(m, {}).get("first_ms") for m in models], hue))
    return [bar_chart("predict latency in the browser: median (bar), first call (tick)", models, medians, "ms",
                      log=True, markers=firsts)]


def _plots(results: list[dict[str, Any]]) -> str:
    charts = _loss_charts(results) + _error_chart(results) + _latency_chart(results)
    images = "".join(f'<img alt="chart" src="{data_uri(svg)}" width="640" height="300">' for svg in charts)
    note = ('<p class="note">WebGL and WebGPU ran on SwiftShader (software) here: their latencies are not GPU '
            "timings.</p>")
    return f'<h2>Plots</h2>{note}<div class="plots">{images or "<p>No plottable rows.</p>"}</div>'


def _details(results: list[dict[str, Any]]) -> str:
    header = ["model", "backend", "check", "status", "max abs err", "max rel err", "atol", "rtol", "first ms",
              "median ms", "message"]
    rows = []
    for r in results:
        details = r.get("details") or {}
        figures = [r.get("max_abs_err"), r.get("max_rel_err"), r.get("atol"), r.get("rtol")]
        timing = [details.get("first_ms"), details.get("median_ms")]
        rows.append([escape(r["model"]), escape(r["backend"]), escape(r["check"]),
                     f'<td class="{r["status"]}">{escape(r["status"])}</td>',
                     *("" if v is None else f"{v:.2e}" for v in figures),
                     *("" if v is None else f"{v:.1f}" for v in timing),
                     (f"<pre>{escape(r['message'])}</pre>" if r["message"] else "") + _evidence_links(details)])
    return "<h2>Every check</h2>" + _table(header, rows)


def _evidence_links(details: dict[str, Any]) -> str:
    """Links to a failed row's console log, screenshot and trace (``playwright show-trace`` opens the trace)."""
    evidence = details.get("evidence") or {}
    if not evidence:
        return ""
    links = " ".join(f'<a href="{escape(path)}">{escape(Path(path).name)}</a>' for path in evidence.values())
    return f'<p class="evidence">evidence: {links}</p>'



def render_html(report: dict[str, Any]) -> str:
    """The whole page for a ``parity.json`` document."""
    results = report["results"]
    body = (f"<h1>tfjs-parity report</h1><p><strong>{escape(summary_line(report))}</strong></p>"
            + _environment(report["environment"]) + _baseline(report.get("baseline"))
            + (_matrix(results) + _plots(results) + _details(results) if results else "<p>No results.</p>"))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tfjs-parity report</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")
