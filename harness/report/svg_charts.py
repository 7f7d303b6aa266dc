"""Small self-contained SVG charts for the HTML report (no plotting library, no network).

Each function returns an SVG document as text; ``data_uri`` turns it into an ``<img>`` source.
"""

from __future__ import annotations

import base64
import math
from html import escape

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 48
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")

Series = tuple[str, list[float | None], str]  # label, values (None: no point), colour


def colour(index: int) -> str:
    """The palette's ``index``-th colour (cycling)."""
    return PALETTE[index % len(PALETTE)]


def data_uri(svg: str) -> str:
    """``svg`` as a base64 ``data:`` URI, for an ``<img src>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _frame(title: str, y_label: str, body: list[str], legend: list[tuple[str, str]]) -> str:
    items = [f'<text x="{WIDTH / 2:.0f}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
             f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f})">{escape(y_label)}</text>']
    for i, (label, hue) in enumerate(legend):
        y = TOP + 14 * i
        items.append(f'<rect x="{WIDTH - RIGHT + 12}" y="{y}" width="10" height="10" fill="{hue}"/>'
                     f'<text x="{WIDTH - RIGHT + 26}" y="{y + 9}" font-size="11">{escape(label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>' + "".join(items + body) + "</svg>")


class _Axis:
    """Maps values to the plot's vertical pixels, linear or log10."""

    def __init__(self, values: list[float], log: bool) -> None:
        present = [v for v in values if v is not None and (v > 0 or not log)]
        low, high = (min(present), max(present)) if present else (1.0, 10.0)
        if log:
            low, high = math.floor(math.log10(low)), math.ceil(math.log10(high))
            high = high if high > low else low + 1
        else:
            low, high = min(low, 0.0), high if high > low else low + 1
        self.low, self.high, self.log = low, high, log

    def y(self, value: float) -> float:
        v = math.log10(max(value, 10.0**self.low)) if self.log else value
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - self.low) / (self.high - self.low))

    def ticks(self) -> list[str]:
        if self.log:
            marks = [(10.0**e, f"1e{e}") for e in range(int(self.low), int(self.high) + 1)]
        else:
            marks = [(self.low + (self.high - self.low) * i / 4, f"{self.low + (self.high - self.low) * i / 4:.3g}")
                     for i in range(5)]
        return [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{self.y(v):.1f}" y2="{self.y(v):.1f}" stroke="#ddd"/>'
                f'<text x="{LEFT - 4}" y="{self.y(v) + 4:.1f}" font-size="10" text-anchor="end">{label}</text>'
                for v, label in marks]


def _x_labels(labels: list[str], x_of: list[float]) -> list[str]:
    step = max(1, math.ceil(len(labels) / 12))
    return [f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle">{escape(label)}</text>'
            for i, (label, x) in enumerate(zip(labels, x_of)) if i % step == 0]


def line_chart(title: str, x_labels: list[str], series: list[Series], y_label: str, log: bool = False,
               dashed: set[str] | None = None) -> str:
    """One polyline (with points) per series over the shared ``x_labels``; the series labelled in ``dashed`` are
    dashed lines without points, such as a tolerance."""
    dashed = dashed or set()
    axis = _Axis([v for _, values, _ in series for v in values if v is not None], log)
    span = WIDTH - LEFT - RIGHT
    x_of = [LEFT + span * (i + 0.5) / max(len(x_labels), 1) for i in range(len(x_labels))]
    body = axis.ticks() + _x_labels(x_labels, x_of)
    for label, values, hue in series:
        points = [(x_of[i], axis.y(v)) for i, v in enumerate(values) if v is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = ' stroke-dasharray="6 4"' if label in dashed else ""
        body.append(f'<polyline points="{path}" fill="none" stroke="{hue}" stroke-width="1.5"{dash}/>')
        if label not in dashed:
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{hue}"/>' for x, y in points]
    return _frame(title, y_label, body, [(label, hue) for label, _, hue in series])


def bar_chart(title: str, groups: list[str], series: list[Series], y_label: str, log: bool = False,
              markers: list[Series] | None = None) -> str:
    """Grouped bars: one group per ``groups`` entry, one bar per series; ``markers`` (same order as
    ``series``) draw a tick on each bar, e.g. a first-call time above a median."""
    markers = markers or []
    axis = _Axis([v for _, values, _ in series + markers for v in values if v is not None], log)
    span = (WIDTH - LEFT - RIGHT) / max(len(groups), 1)
    width = span * 0.8 / max(len(series), 1)
    base = axis.y(10.0**axis.low if log else 0.0)
    body = axis.ticks() + _x_labels(groups, [LEFT + span * (g + 0.5) for g in range(len(groups))])
    for s, (_, values, hue) in enumerate(series):
        for g, value in enumerate(values):
            if value is None:
                continue
            x = LEFT + span * g + span * 0.1 + width * s
            top = axis.y(value)
            body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(base - top, 0.5):.1f}" '
                        f'fill="{hue}"/>')
            marker = markers[s][1][g] if s < len(markers) else None
            if marker is not None:
                body.append(f'<line x1="{x:.1f}" x2="{x + width:.1f}" y1="{axis.y(marker):.1f}" '
                            f'y2="{axis.y(marker):.1f}" stroke="#000" stroke-width="2"/>')
    return _frame(title, y_label, body, [(label, hue) for label, _, hue in series])
