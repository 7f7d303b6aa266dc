"""The plots of ``parity.html``, as SVG documents: how far each backend's training loss is from Keras' per
epoch (against its tolerance), the distribution of |browser - Keras| over every ``predict`` output, the
in-browser ``predict`` latency, and for an explained failure each layer's error over its tolerance."""

from __future__ import annotations

import math
from typing import Any

from harness.report.speed_table import backend_label
from harness.report.svg_charts import Series, bar_chart, colour, line_chart
from harness.verdict.compare import ERROR_DECADES

ZERO_FLOOR = 1e-12  # a difference of exactly 0 is drawn at this floor of the log axis


def training_error_charts(results: list[dict[str, Any]]) -> list[str]:
    """Per model: |browser loss - Keras loss| per epoch of ``fit`` on each backend (log scale), with each
    backend's allowance ``atol + rtol * |Keras loss|`` as a dashed line. Where parity holds, the curves
    coincide; this shows how far below its tolerance each backend stays."""
    charts = []
    backends = list(dict.fromkeys(r["backend"] for r in results))
    for model in dict.fromkeys(r["model"] for r in results):
        fits = [r for r in results if r["model"] == model and r["check"] == "fit"
                and (r.get("details") or {}).get("history") and r.get("atol") is not None]
        if not fits:
            continue
        series: list[Series] = []
        dashed = set()
        epochs = 0
        for row in fits:
            keras = row["details"]["history"]["keras"].get("loss", [])
            browser = row["details"]["history"]["browser"].get("loss", [])
            epochs = max(epochs, len(keras))
            hue = colour(backends.index(row["backend"]))
            series.append((row["backend"], [max(abs(b - k), ZERO_FLOOR) for b, k in zip(browser, keras)], hue))
            label = f"{row['backend']} tolerance"
            series.append((label, [row["atol"] + row["rtol"] * abs(k) for k in keras], hue))
            dashed.add(label)
        charts.append(line_chart(f"{model}: |browser - Keras| training loss per epoch (fit)",
                                 [str(e + 1) for e in range(epochs)], series, "abs difference (log)", log=True,
                                 dashed=dashed))
    return charts


def error_distribution_chart(results: list[dict[str, Any]]) -> list[str]:
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


def latency_chart(results: list[dict[str, Any]]) -> list[str]:
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


def speed_chart(report: dict[str, Any]) -> list[str]:
    """Per model, each backend's median latency (bar) and 90th percentile (tick) at the speed check's batch (log
    scale); software renderers labelled so."""
    models = report.get("speed") or []
    if not models:
        return []
    names = [m["model"] for m in models]
    order = list(dict.fromkeys(r["backend"] for r in report.get("results", [])))  # the run's order: stable colours
    entries = sorted((e for m in models for e in m["backends"]),
                     key=lambda e: order.index(e["backend"]) if e["backend"] in order else len(order))
    labels = list(dict.fromkeys(backend_label(e) for e in entries))
    medians: list[Series] = []
    p90s: list[Series] = []
    for k, label in enumerate(labels):
        by_model: dict[str, dict[str, Any]] = {
            m["model"]: next((e for e in m["backends"] if backend_label(e) == label), {}) for m in models}
        medians.append((label, [by_model[n].get("median_ms") for n in names], colour(k)))
        p90s.append((label, [by_model[n].get("p90_ms") for n in names], colour(k)))
    return [bar_chart("latency per backend: median (bar), 90th percentile (tick)", names, medians, "ms per call",
                      log=True, markers=p90s)]


def layer_error_chart(explanation: dict[str, Any]) -> str | None:
    """Each layer's largest error over its tolerance, in the model's order (log scale), with the tolerance at 1: a
    step at one layer is a kernel problem there, a steady rise is error accumulated over depth."""
    curve = [point for point in explanation.get("curve") or []
             if point.get("ratio") is not None and math.isfinite(point["ratio"])]
    if len(curve) < 2:
        return None
    layers = [point["layer"] for point in curve]
    series: list[Series] = [("error / tolerance", [max(point["ratio"], ZERO_FLOOR) for point in curve], colour(0)),
                            ("tolerance", [1.0] * len(curve), colour(3))]
    return line_chart(f"error / tolerance per layer ({explanation.get('kind', '')})", layers, series,
                      "error / tolerance (log)", log=True, dashed={"tolerance"})
