"""Line charts as SVG, written by hand (no plotting dependency): panels stacked one above the
other, each with its title, y axis, month labels and legend. A series may be dashed (the second
program variant of a what-if simulation is drawn dashed, in the same colour)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]  # one a label; None: no point
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    labels: list[str]
    series: list[Series]


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = float(10 ** math.floor(math.log10(raw)))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return 10.0 * power


def _compact(value: float) -> str:
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.4g}"


def _panel(panel: Panel, top: float, width: float, height: float) -> list[str]:
    rows = math.ceil(len(panel.series) / 4)
    left, right, head, foot = 70.0, 40.0, 30.0 + 14 * rows, 30.0
    plot_w, plot_h = width - left - right, height - head - foot
    values = [v for s in panel.series for v in s.values if v is not None]
    low = min([0.0, *values])
    high = max([0.0, *values])
    step = _nice_step(high - low)
    low = math.floor(low / step) * step
    high = max(math.ceil(high / step) * step, low + step)
    n = len(panel.labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + head + plot_h * (1 - (v - low) / (high - low))

    out = [
        f'<text x="{left}" y="{top + 18}" font-size="14" font-weight="bold">'
        f"{escape(panel.title)}</text>"
    ]
    tick = low
    while tick <= high + step / 1000:
        ty = y(tick)
        out.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" font-size="11" text-anchor="end">'
            f"{_compact(tick)}</text>"
        )
        tick += step
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(panel.labels):
        if i % every == 0 or i == n - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{top + head + plot_h + 16}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    out.append(
        f'<rect x="{left}" y="{top + head}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999" stroke-width="1"/>'
    )
    for series in panel.series:
        points = [(x(i), y(v)) for i, v in enumerate(series.values) if v is not None]
        if not points:
            continue
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{series.color}" '
            f'stroke-width="2"{dash}/>'
        )
    legend_x = left
    legend_y = top + 38
    for i, series in enumerate(panel.series):
        lx = legend_x + (i % 4) * (plot_w / 4)
        ly = legend_y + (i // 4) * 14
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        out.append(
            f'<line x1="{lx:.1f}" y1="{ly - 4:.1f}" x2="{lx + 22:.1f}" y2="{ly - 4:.1f}" '
            f'stroke="{series.color}" stroke-width="2"{dash}/>'
        )
        out.append(
            f'<text x="{lx + 26:.1f}" y="{ly:.1f}" font-size="11">{escape(series.name)}</text>'
        )
    return out


def svg_chart(
    title: str | list[str], panels: list[Panel], width: int = 900, panel_height: int = 300
) -> str:
    """One SVG document: the title (one line or several) above the panels."""
    lines = [title] if isinstance(title, str) else title
    head = 16 + 20 * len(lines)
    height = head + panel_height * len(panels)
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, line in enumerate(lines):
        size, weight = (16, "bold") if i == 0 else (13, "normal")
        body.append(
            f'<text x="{width / 2}" y="{24 + 20 * i}" font-size="{size}" font-weight="{weight}" '
            f'text-anchor="middle">{escape(line)}</text>'
        )
    for index, panel in enumerate(panels):
        body.extend(_panel(panel, head + index * panel_height, width, panel_height))
    body.append("</svg>")
    return "\n".join(body) + "\n"
