"""Tiny inline-SVG charts (no JavaScript, no external assets) for self-contained HTML reports."""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
WIDTH = 760
HEIGHT = 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 150, 28, 40


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Threshold:
    label: str
    value: float


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def line_chart(title: str, lines: Sequence[Line], x_label: str, y_label: str,
               thresholds: Sequence[Threshold] = ()) -> str:
    points = [p for line in lines for p in line.points]
    if not points:
        return _empty(title)
    x_min = min(p[0] for p in points)
    x_max = max(p[0] for p in points)
    x_max = x_max if x_max > x_min else x_min + 1.0
    y_max = _nice_max(max([p[1] for p in points] + [t.value for t in thresholds]))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(x: float) -> float:
        return MARGIN_LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def sy(y: float) -> float:
        return MARGIN_TOP + plot_h - (y / y_max) * plot_h

    parts = [_frame(title, x_label, y_label)]
    for i in range(5):
        y = y_max * i / 4
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{sy(y):.1f}" x2="{MARGIN_LEFT + plot_w}" y2="{sy(y):.1f}" '
                     f'stroke="#e5e5e5"/><text x="{MARGIN_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{_fmt(y)}</text>')
        x = x_min + (x_max - x_min) * i / 4
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle" '
                     f'font-size="11">{_fmt(x)}</text>')
    for threshold in thresholds:
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{sy(threshold.value):.1f}" x2="{MARGIN_LEFT + plot_w}" '
                     f'y2="{sy(threshold.value):.1f}" stroke="#000" stroke-dasharray="2,3"/>'
                     f'<text x="{MARGIN_LEFT + plot_w - 4}" y="{sy(threshold.value) - 4:.1f}" text-anchor="end" '
                     f'font-size="11">{escape(threshold.label)}</text>')
    for index, line in enumerate(lines):
        color = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line.points)
        dash = ' stroke-dasharray="6,4"' if line.dashed else ""
        if len(line.points) == 1:
            x, y = line.points[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{coords}"/>')
        legend_y = MARGIN_TOP + 14 + index * 16
        parts.append(f'<line x1="{WIDTH - MARGIN_RIGHT + 12}" y1="{legend_y - 4}" x2="{WIDTH - MARGIN_RIGHT + 30}" '
                     f'y2="{legend_y - 4}" stroke="{color}" stroke-width="2"{dash}/>'
                     f'<text x="{WIDTH - MARGIN_RIGHT + 34}" y="{legend_y}" font-size="11">{escape(line.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], value_label: str) -> str:
    if not bars:
        return _empty(title)
    row_h = 22
    height = MARGIN_TOP + 20 + row_h * len(bars)
    label_w = 200
    plot_w = WIDTH - label_w - 80
    top = max(value for _, value in bars) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'font-family="sans-serif"><title>{escape(title)}</title>'
             f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">'
             f'{escape(title)} ({escape(value_label)})</text>']
    for index, (label, value) in enumerate(bars):
        y = MARGIN_TOP + index * row_h
        w = plot_w * value / top
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{_fmt(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _frame(title: str, x_label: str, y_label: str) -> str:
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'font-family="sans-serif"><title>{escape(title)}</title>'
            f'<text x="{(WIDTH - MARGIN_RIGHT) / 2}" y="18" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{escape(title)}</text>'
            f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{WIDTH - MARGIN_LEFT - MARGIN_RIGHT}" '
            f'height="{plot_h}" fill="none" stroke="#999"/>'
            f'<text x="{(WIDTH - MARGIN_RIGHT + MARGIN_LEFT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
            f'font-size="12">{escape(x_label)}</text>'
            f'<text transform="translate(14,{MARGIN_TOP + plot_h / 2}) rotate(-90)" text-anchor="middle" '
            f'font-size="12">{escape(y_label)}</text>')


def _empty(title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" role="img" '
            f'font-family="sans-serif"><title>{escape(title)}</title><text x="10" y="35" font-size="13">'
            f'{escape(title)}: no data</text></svg>')
